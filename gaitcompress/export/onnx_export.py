"""Float ONNX export (FP32 / FP16) of any gait model, written atomically and validated.

The exporter is torch's TorchScript-based one (`dynamo=False`, deprecated but present in torch 2.13):
in eval mode it folds every Conv → BatchNorm pair whose weight is an initializer, and it writes
`torch.fake_quantize_per_*_affine` as `QuantizeLinear → DequantizeLinear`, which is what the INT8 path
(`qdq.py`) builds on. Both properties are checked by `tests/test_export_onnx.py`.

Graph contract (every format):
  input   `sils`        float32 [N, T, H, W] in [0, 1], dynamic N (batch) and T (frames)
  output  `embeddings`  float32 [N, C, P]   (optionally `parts` float32 [N, C', P])
`lengths` is not an input: the temporal max runs over every frame of a row, so at test time each
row holds one whole sequence (or rows of equal length) — the OpenGait test-time convention. FP16
graphs keep float32 I/O and cast inside, so every runner feeds the same array.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import Tensor, nn

from gaitcompress.errors import GaitCompressError

INPUT = "sils"
OUTPUTS = ("embeddings", "parts")
DEFAULT_OPSET = 17
MIN_OPSET = {"fp32": 11, "fp16": 11, "int8": 13}  # per-channel QuantizeLinear (axis) needs opset 13
MAX_OPSET = 20  # the highest opset the TorchScript exporter in torch 2.13 writes


@dataclass(frozen=True)
class InputSpec:
    """What the graph expects: `[N, T, H, W]` float32 silhouettes in [0, 1]; N and T are dynamic."""

    height: int = 64
    width: int = 44
    frames: int = 30  # the frame count the graph is traced (and costed) at; any T runs

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": INPUT,
            "shape": ["N", "T", self.height, self.width],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "traced_frames": self.frames,
            "lengths": "one sequence per row (temporal max over all T frames)",
        }


class DeployWrapper(nn.Module):
    """`model(sils) -> dict` as a tuple of named outputs, casting to the model's dtype inside.

    The BNNeck logits are not returned, so the exporter drops the classifier from the graph.
    """

    def __init__(self, model: nn.Module, outputs: Sequence[str] = ("embeddings",)) -> None:
        super().__init__()
        self.model = model
        self.outputs = tuple(outputs)
        self.dtype = next(model.parameters()).dtype

    def forward(self, sils: Tensor) -> tuple[Tensor, ...]:
        out = self.model(sils.to(self.dtype))
        return tuple(out[name].float() for name in self.outputs)


def check_opset(opset: int, fmt: str) -> None:
    """Refuse opsets the requested format cannot be written in (before anything is traced), naming the bound."""
    low = MIN_OPSET[fmt]
    if opset > MAX_OPSET:
        raise GaitCompressError(
            f"opset {opset} is above {MAX_OPSET}, the highest torch's ONNX exporter writes; supported for {fmt}: "
            f"{low}..{MAX_OPSET}",
            f"pass --opset {MAX_OPSET} (or leave the default {DEFAULT_OPSET})",
        )
    if opset < low:
        why = " (per-channel QuantizeLinear/DequantizeLinear need opset 13)" if fmt == "int8" else ""
        raise GaitCompressError(
            f"opset {opset} cannot hold a {fmt} export{why}; supported: {low}..{MAX_OPSET}",
            f"pass --opset {max(low, DEFAULT_OPSET)}",
        )


def check_writable(folder: Path) -> Path:
    """Create `folder` if needed and prove it is writable, before any work is done."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        raise GaitCompressError(
            f"output folder {folder} is not writable ({exc.strerror or exc})", "pass --out to a folder you can write"
        ) from exc
    return folder


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path beside `target`; on success rename it over `target`, on failure delete it.

    Everything that writes or validates the file happens inside the block, so a failed export
    never leaves a half-written or unvalidated model where a user would pick it up.
    """
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; the result gets the permissions a plain open() would
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def trace_to_onnx(
    module: nn.Module, path: Path, spec: InputSpec, outputs: Sequence[str], opset: int, batch: int = 2
) -> onnx.ModelProto:
    """Trace `module` (eval mode, float32 input) to `path` with dynamic batch/frame axes; return the graph."""
    sils = (torch.rand(batch, spec.frames, spec.height, spec.width) > 0.5).float()
    dynamic = {INPUT: {0: "batch", 1: "frames"}, **{name: {0: "batch"} for name in outputs}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice and tracer warnings
        torch.onnx.export(
            module.eval(),
            (sils,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT],
            output_names=list(outputs),
            dynamic_axes=dynamic,
            do_constant_folding=True,
        )
    return onnx.load(str(path))


def set_metadata(graph: onnx.ModelProto, metadata: Mapping[str, Any]) -> None:
    """Write `metadata` into `metadata_props` (non-strings as JSON), replacing keys already there."""
    props = {p.key: p.value for p in graph.metadata_props}
    props.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    del graph.metadata_props[:]
    for key, value in sorted(props.items()):
        graph.metadata_props.add(key=key, value=value)


def update_metadata(path: Path, metadata: Mapping[str, Any]) -> None:
    """Add `metadata` to an exported file in place (atomically: temp file, then rename)."""
    graph = onnx.load(str(path))
    set_metadata(graph, metadata)
    with atomic_path(path) as tmp:
        onnx.save(graph, str(tmp))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """`metadata_props` of an exported file, JSON values decoded."""
    out: dict[str, Any] = {}
    for prop in onnx.load(str(path), load_external_data=False).metadata_props:
        try:
            out[prop.key] = json.loads(prop.value)
        except json.JSONDecodeError:
            out[prop.key] = prop.value
    return out


def unfolded_batchnorms(graph: onnx.ModelProto) -> list[str]:
    """Names of BatchNormalization nodes fed directly by a Conv (those should have been folded)."""
    producers = {out: node for node in graph.graph.node for out in node.output}
    return [
        node.name
        for node in graph.graph.node
        if node.op_type == "BatchNormalization" and getattr(producers.get(node.input[0]), "op_type", "") == "Conv"
    ]


def validate(path: Path, spec: InputSpec, outputs: Sequence[str]) -> None:
    """`onnx.checker` (full check with shape inference) and one onnxruntime run at two frame counts."""
    import numpy as np

    from gaitcompress.export.runtime import make_session

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise RuntimeError(f"exported graph fails onnx.checker: {exc}") from exc
    session = make_session(path)
    names = [o.name for o in session.get_outputs()]
    if names != list(outputs):
        raise RuntimeError(f"exported graph outputs {names}, expected {list(outputs)}")
    for batch, frames in ((1, spec.frames), (2, max(1, spec.frames // 2))):  # dynamic axes really are dynamic
        sils = np.zeros((batch, frames, spec.height, spec.width), np.float32)
        result = session.run(None, {INPUT: sils})
        if result[0].shape[0] != batch:
            raise RuntimeError(f"exported graph returned batch {result[0].shape[0]} for input batch {batch}")


def export_onnx(
    model: nn.Module,
    path: str | Path,
    fmt: str = "fp32",
    spec: InputSpec | None = None,
    outputs: Sequence[str] = ("embeddings",),
    opset: int = DEFAULT_OPSET,
    metadata: Mapping[str, Any] | None = None,
    rewrite: Callable[[onnx.ModelProto], None] | None = None,
) -> Path:
    """Export a float gait model to `path` as FP32 or FP16 ONNX, validated, written atomically.

    `rewrite(graph)` edits the traced graph in place before validation (the INT8 path folds its
    weights there). Returns the path of the validated file.
    """
    if fmt not in MIN_OPSET:
        raise GaitCompressError(f"unknown export format {fmt!r}", "use fp32, fp16 or int8")
    check_opset(opset, fmt)
    unknown = [o for o in outputs if o not in OUTPUTS]
    if unknown:
        raise GaitCompressError(f"unknown outputs {unknown}", f"choose from {list(OUTPUTS)}")
    spec = spec or InputSpec()
    path = Path(path)
    check_writable(path.parent)
    wrapped = DeployWrapper(_float_copy(model, fmt), outputs)
    with atomic_path(path) as tmp:
        graph = trace_to_onnx(wrapped, tmp, spec, outputs, opset)
        if rewrite is not None:
            rewrite(graph)
        leftover = unfolded_batchnorms(graph)
        if leftover:
            raise RuntimeError(f"BatchNormalization left unfolded after Conv: {leftover}")
        set_metadata(graph, {"format": fmt, "input": spec.as_dict(), "opset": opset, **(metadata or {})})
        onnx.save(graph, str(tmp))
        validate(tmp, spec, outputs)
    return path


def _float_copy(model: nn.Module, fmt: str) -> nn.Module:
    """An eval-mode copy in the export dtype (the caller's model is never touched)."""
    copy_ = copy.deepcopy(model).eval()
    return copy_.half() if fmt == "fp16" else copy_.float()
