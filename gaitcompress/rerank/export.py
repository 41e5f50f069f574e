"""The CarGait head as its own ONNX model: `probe [B, s, d]`, `candidate [B, s, d]` → `distance [B]`.

A deployment runs the gait model once per sequence and keeps its strips; the head then scores only the top-K
pairs of each probe, so it ships as a separate, tiny graph. `export_head` checks parity with onnxruntime on random
strips shaped like the real ones: distances within `atol`, and the same order of each probe's K candidates.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaitcompress.errors import GaitCompressError
from gaitcompress.rerank.head import CarGaitHead


def export_head(
    head: CarGaitHead, path: str | Path, opset: int = 17, k: int = 10, atol: float = 1e-4, seed: int = 0
) -> dict[str, Any]:
    """Write the ONNX file and return the parity report {'max_abs_diff', 'same_order', 'path'}."""
    import onnxruntime as ort

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = head.eval()
    gen = torch.Generator().manual_seed(seed)
    probe = torch.rand(k, head.parts, head.dim, generator=gen)  # one probe against k candidates
    probe = probe[:1].expand(k, -1, -1).contiguous()
    candidate = torch.rand(k, head.parts, head.dim, generator=gen)
    tmp = path.with_name(f".{path.name}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer/deprecation chatter of the TorchScript exporter
        torch.onnx.export(
            head,
            (probe, candidate),
            str(tmp),
            input_names=["probe", "candidate"],
            output_names=["distance"],
            dynamic_axes={"probe": {0: "pairs"}, "candidate": {0: "pairs"}, "distance": {0: "pairs"}},
            opset_version=opset,
            dynamo=False,
        )
        expected = head(probe, candidate).numpy()
    tmp.replace(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["distance"], {"probe": probe.numpy(), "candidate": candidate.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    same_order = bool((np.argsort(got, kind="stable") == np.argsort(expected, kind="stable")).all())
    # the pair axis is dynamic: another batch size must run and agree too
    more_p, more_c = torch.rand(2, 2 * k + 1, head.parts, head.dim, generator=gen)
    with torch.no_grad():
        more_expected = head(more_p, more_c).numpy()
    more = session.run(["distance"], {"probe": more_p.numpy(), "candidate": more_c.numpy()})[0]
    diff = max(diff, float(np.abs(more - more_expected).max()))
    if diff > atol:
        raise GaitCompressError(f"{path}: ONNX head differs from PyTorch by {diff:.3g} (> {atol})")
    return {"path": str(path), "max_abs_diff": diff, "same_order": same_order}
