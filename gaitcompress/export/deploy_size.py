"""A trained model exported again at the size a user deploys (64×44 × 30 frames), beside its training-size export.

GaitBase-family weights do not depend on the input size (convolutions, a temporal max, horizontal pooling into a
fixed number of strips), so a model trained on the quick 32×22 recipes runs unchanged at OpenGait's 64×44: only the
traced input declaration differs. Latency at the training size says little about deployment (the quick models'
narrow layers are overhead-bound there), so `bench` times both and every row says its `input`.
Accuracy stays the training-size figure: the same weights and scales, scored where they were trained.
`export_reference` writes an untrained registered model (the full-width GaitBase) at that size, so a report can
say how a compressed model compares with the model users would otherwise deploy: latency does not depend on the
weights' values.
"""

from __future__ import annotations

from pathlib import Path

from gaitcompress.export.onnx_export import DEFAULT_OPSET, InputSpec, export_onnx
from gaitcompress.export.qdq import export_qdq

DEPLOY_SIZE = (64, 44)
DEPLOY_FRAMES = 30


def export_at_size(
    checkpoint: str | Path,
    out: str | Path,
    size: tuple[int, int] = DEPLOY_SIZE,
    frames: int = DEPLOY_FRAMES,
    fmt: str = "fp32",
    opset: int = DEFAULT_OPSET,
    int8_weights: str = "auto",
    stem: str = "auto",
) -> Path:
    """Export `checkpoint` (FP32: `fmt` fp32/fp16; QAT: INT8 in its own placement, conv weights encoded as
    `int8_weights`, stem kernel `stem`) declaring `size` × `frames`.

    The file is named after `out` (a path ending in .onnx); metadata says `deploy_size: true` and the training size.
    """
    from gaitcompress.checkpoints import load, load_model, resolve_checkpoint

    checkpoint = resolve_checkpoint(checkpoint)  # a file or a run folder
    ckpt = load(checkpoint)
    model = load_model(checkpoint)
    spec = InputSpec(*size, frames=frames)
    trained = ((ckpt.get("recipe") or {}).get("data") or {}).get("input_size")
    meta = {"deploy_size": True, "trained_input": trained, "name": getattr(model, "spec", None) and model.spec.name}
    if ckpt.get("kind") == "qat":
        placement = (ckpt.get("qconfig") or {}).get("placement", "trt")
        meta["bits"] = "int8"
        return export_qdq(model, out, placement, spec, opset=opset, metadata=meta, int8_weights=int8_weights, stem=stem)
    return export_onnx(model, out, fmt, spec, opset=opset, metadata={**meta, "bits": fmt})


def export_reference(
    name: str, out: str | Path, size: tuple[int, int] = DEPLOY_SIZE, frames: int = DEPLOY_FRAMES,
    opset: int = DEFAULT_OPSET,
) -> Path:  # fmt: skip
    """The registered model `name`, untrained (seed 0), exported FP32 at `size` × `frames`: a latency reference."""
    import torch

    from gaitcompress.models import create_model

    torch.manual_seed(0)
    model = create_model(name).eval()
    meta = {"deploy_size": True, "trained_input": None, "name": name, "bits": "fp32", "untrained": True}
    return export_onnx(model, out, "fp32", InputSpec(*size, frames=frames), opset=opset, metadata=meta)
