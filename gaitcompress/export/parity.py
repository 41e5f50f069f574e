"""Exported graph vs PyTorch: gaps in quantization steps, the first tensor where they part, and rank-1.

Reference: the PyTorch model in eval mode — for QAT models that is the hard-rounding quantizer, what
deploys. Two views:

- Probes (`tensor_gaps`): the torch side records, by forward hooks, the output of every activation module
  (`nn.ReLU`) and every per-tensor quantizer, in call order; the ONNX side exposes the outputs of the nodes
  the exporter placed under the same module scope (`/model/<path>/Relu`, `.../DequantizeLinear`) as extra
  graph outputs. Each gap is measured in that quantizer's steps. The probe runs with onnxruntime's
  optimisations off — the float simulation of the QDQ graph — which must agree with PyTorch to within
  rounding ties at every quantizer, so a gap there (`first_gap`) is a wrong scale, a misplaced node or a
  bad fold, and names the layer where it starts.
- The deployed session (`verify_export`, optimisation level ALL, fused integer kernels) over the test set:
  the embeddings' largest gap (absolute and relative to their range) and every rank-1 metric of both sides.
  Integer kernels requantize with their own rounding, so their embeddings differ by more than the float
  simulation's; the test-set rank-1 is what judges them (DESIGN §10: identical rank-1).
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from gaitcompress.export.onnx_export import INPUT
from gaitcompress.export.runtime import make_session
from gaitcompress.progress import NULL, Tracker

PROBE_OPS = {"Relu": "act", "DequantizeLinear": "quant"}


@dataclass(frozen=True)
class TensorGap:
    """Gap at one probed tensor: `max_abs`, for quantizer outputs `steps` (max_abs / scale), and `frac_off`,
    the fraction of elements off by more than one step (float probes: by more than a tolerance of the range)."""

    path: str  # module path in the PyTorch model
    index: int  # which call of that module (a ReLU module may run twice in a block)
    max_abs: float
    steps: float | None
    ref_max: float
    frac_off: float

    def exceeds(self, max_frac: float) -> bool:
        return self.frac_off > max_frac


REL_TOL = 1e-3
REL_TOL_FLOAT = {"fp32": 1e-3, "fp16": 2e-2, "int8": 1e-3}  # float probes (ReLU outputs) per export format


def scope_path(node_name: str) -> str:
    """ONNX node name → module path: '/model/Backbone/layer1/layer1.0/conv1/Conv' → 'Backbone.layer1.0.conv1'.

    The TorchScript exporter names a child of a container `parent.child`, so a component that extends
    the previous one replaces it. The leading `model` is `DeployWrapper.model`.
    """
    parts: list[str] = []
    for comp in node_name.strip("/").split("/")[:-1]:
        if parts and comp.startswith(parts[-1] + "."):
            parts[-1] = comp
        else:
            parts.append(comp)
    path = ".".join(parts)
    return path.removeprefix("model.").removeprefix("model")


def _probe_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Activation modules and per-tensor quantizers by path (what both sides can name)."""
    out = {}
    for path, m in model.named_modules():
        per_tensor_quant = callable(getattr(m, "qparams", None)) and m.qparams()["axis"] is None
        if isinstance(m, nn.ReLU) or per_tensor_quant:
            out[path] = m
    return out


def torch_probes(model: nn.Module, sils: torch.Tensor) -> dict[tuple[str, int], np.ndarray]:
    """(path, call index) → output of each probed module, for one forward of `model` on `sils`."""
    seen: dict[tuple[str, int], np.ndarray] = {}
    calls: dict[str, int] = defaultdict(int)
    handles = []
    for path, m in _probe_modules(model).items():

        def hook(_m, _inp, out, path=path):
            seen[(path, calls[path])] = out.detach().float().numpy()
            calls[path] += 1

        handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model.eval()(sils)
    finally:
        for h in handles:
            h.remove()
    return seen


def onnx_probes(path: str | Path, sils: np.ndarray) -> dict[tuple[str, int], np.ndarray]:
    """(module path, call index) → value of each Relu / DequantizeLinear output (weights excluded)."""
    graph = onnx.load(str(path))
    inits = {t.name for t in graph.graph.initializer}
    names: dict[str, tuple[str, int]] = {}
    calls: dict[tuple[str, str], int] = defaultdict(int)
    for node in graph.graph.node:
        if node.op_type not in PROBE_OPS or node.input[0] in inits:
            continue  # DQ of an int8 weight initializer is not an activation
        p = scope_path(node.name)
        kind = node.op_type
        names[node.output[0]] = (p, calls[(p, kind)])
        calls[(p, kind)] += 1
    known = {o.name for o in graph.graph.output}
    for name in names:
        if name not in known:
            graph.graph.output.append(onnx.ValueInfoProto(name=name))
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.onnx"
        onnx.save(graph, str(probe))
        session = make_session(probe, level="none")
        wanted = [o.name for o in session.get_outputs() if o.name in names]
        values = session.run(wanted, {INPUT: sils})
    return {names[n]: v for n, v in zip(wanted, values, strict=True)}


def _scales(model: nn.Module) -> dict[str, float]:
    return {p: float(m.qparams()["scale"]) for p, m in _probe_modules(model).items() if hasattr(m, "qparams")}


def tensor_gaps(
    model: nn.Module, onnx_path: str | Path, sils: torch.Tensor, rel_tol: float = REL_TOL
) -> list[TensorGap]:
    """Gaps at every tensor both sides can name, in the torch model's execution order.

    An element is off when it differs by more than one quantizer step (float probes: `rel_tol` of the range).
    """
    ref = torch_probes(model, sils)
    got = onnx_probes(onnx_path, sils.numpy())
    scales = _scales(model)
    gaps = []
    for key, a in ref.items():
        b = got.get(key)
        if b is None or a.shape != b.shape or not a.size:
            continue
        diff = np.abs(a - b)
        ref_max = float(np.abs(a).max())
        scale = scales.get(key[0])
        unit = scale * (1 + 1e-3) if scale else rel_tol * max(ref_max, 1e-6)  # one step (ties) is not a gap
        steps = float(diff.max()) / scale if scale else None
        gaps.append(TensorGap(key[0], key[1], float(diff.max()), steps, ref_max, float((diff > unit).mean())))
    return gaps


def first_gap(gaps: Sequence[TensorGap], max_frac: float = 0.01) -> TensorGap | None:
    """The first probed tensor with more than `max_frac` of its elements off by more than one step.

    In a quantized graph only quantizer outputs are judged. Summation order differs between PyTorch and
    onnxruntime, so a value on a rounding boundary can land one step apart, and that step can move a few
    values downstream by more; such ties touch a tiny fraction of elements. A wrong scale, a misplaced
    node or a bad fold moves most of them.
    """
    quantized = [g for g in gaps if g.steps is not None]
    return next((g for g in quantized or gaps if g.exceeds(max_frac)), None)


@dataclass
class ParityReport:
    """PyTorch vs the exported graph on a test set: metrics side by side, output gap, first diverging tensor."""

    torch_metrics: dict[str, float]
    onnx_metrics: dict[str, float]
    max_abs: float  # embeddings, deployed session (onnxruntime, all optimisations)
    max_rel: float  # max_abs / max |embedding|
    probe_max_steps: float | None  # largest gap at a quantizer in the float simulation, in its steps
    first_gap: TensorGap | None
    rank1_tol: float
    sequences: int

    @property
    def rank1_gaps(self) -> dict[str, float]:
        keys = [k for k in self.torch_metrics if k.endswith("R1") and k in self.onnx_metrics]
        return {k: self.onnx_metrics[k] - self.torch_metrics[k] for k in keys}

    @property
    def passed(self) -> bool:
        return self.first_gap is None and all(abs(d) <= self.rank1_tol for d in self.rank1_gaps.values())

    def reason(self) -> str:
        if self.first_gap is not None:
            g = self.first_gap
            unit = f"{g.steps:.1f} steps" if g.steps is not None else f"{g.max_abs:.3g} abs"
            return f"the gap starts at {g.path} (call {g.index}): {g.frac_off:.1%} of values off, max {unit}"
        bad = {k: round(v, 2) for k, v in self.rank1_gaps.items() if abs(v) > self.rank1_tol}
        return f"rank-1 differs by more than {self.rank1_tol} points: {bad}" if bad else "parity holds"

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "reason": self.reason(),
            "torch": self.torch_metrics,
            "onnx": self.onnx_metrics,
            "rank1_gap": self.rank1_gaps,
            "embeddings_max_abs": self.max_abs,
            "embeddings_max_rel": self.max_rel,
            "probe_max_steps": self.probe_max_steps,
            "sequences": self.sequences,
        }


def verify_export(
    model: nn.Module,
    onnx_path: str | Path,
    data_cfg,
    fmt: str,
    tracker: Tracker = NULL,
    rank1_tol: float = 0.2,
    probe_rows: int = 4,
) -> ParityReport:
    """Score the PyTorch model and the exported graph on the same test set, and locate any gap.

    Both run over `build_test_loader(data_cfg)`; the graph one sequence per row (`OnnxGaitModel`). The
    probes run on the first `probe_rows` test sequences, cut to their shortest length.
    """
    from gaitcompress.data import build_test_loader
    from gaitcompress.evaluation import evaluate, extract_features
    from gaitcompress.export.runtime import OnnxGaitModel

    protocol = getattr(data_cfg, "protocol", "casiab")
    loader = build_test_loader(data_cfg, split="test")
    ref = extract_features(model, loader, tracker=tracker)
    got = extract_features(OnnxGaitModel(onnx_path), loader, tracker=tracker)
    diff = (ref.embeddings - got.embeddings).abs()
    batch = next(iter(loader))
    rows = batch.sils[:probe_rows, : int(batch.lengths[:probe_rows].min())]
    gaps = tensor_gaps(model, onnx_path, rows, rel_tol=REL_TOL_FLOAT[fmt])
    steps = [g.steps for g in gaps if g.steps is not None]
    return ParityReport(
        torch_metrics=evaluate(ref, protocol).metrics,
        onnx_metrics=evaluate(got, protocol).metrics,
        max_abs=float(diff.max()),
        max_rel=float(diff.max() / ref.embeddings.abs().max().clamp_min(1e-12)),
        probe_max_steps=max(steps) if steps else None,
        first_gap=first_gap(gaps),
        rank1_tol=rank1_tol,
        sequences=len(ref),
    )
