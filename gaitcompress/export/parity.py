"""Exported graph vs PyTorch: gaps in quantization steps, the first tensor where they part, and rank-1.

Reference: the PyTorch model in eval mode — for QAT models the hard-rounding quantizers, and for `ort`
INT8 graphs additionally the int32 conv bias of onnxruntime's integer kernels (`int_bias.int32_bias_model`):
that is what deploys. The QAT model as trained (float bias) is scored too and reported beside it.

- Probes (`tensor_gaps`): the torch side records, by forward hooks, the output of every activation module
  (`nn.ReLU`) and every per-tensor quantizer, in call order; the ONNX side exposes the outputs of the nodes
  the exporter placed under the same module scope (`/model/<path>/Relu`, `.../QuantizeLinear`) as extra
  graph outputs. Each gap is measured in that quantizer's steps. Two sessions are probed:
  - optimisations off (`level='none'`), the float simulation of the QDQ graph: it must agree with PyTorch to
    within rounding ties at every quantizer, so a gap there (`first_gap`) is a wrong scale, a misplaced node
    or a bad fold, and names the layer where it starts;
  - the deployed session (`level='all'`, fused integer kernels), quantizer outputs only: where the integer
    kernels first part from PyTorch, and by how many steps (`first_departure`).
- The deployed session over the test set (`verify_export`): the embeddings' largest gap (absolute and
  relative to their range) and every rank-1 metric of both sides (DESIGN §10: identical rank-1).
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from gaitcompress.export.onnx_export import INPUT
from gaitcompress.export.runtime import FLOAT_BIAS, make_session
from gaitcompress.models.hooks import forward_with_hooks
from gaitcompress.progress import NULL, Tracker

PROBE_OPS = ("Relu", "QuantizeLinear")


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
    frac_step: float = 0.0  # fraction of elements a step or more apart (float probes: the same as frac_off)

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

    def hook_for(path: str):
        def hook(_m, _inp, out):
            seen[(path, calls[path])] = out.detach().float().numpy()
            calls[path] += 1

        return hook

    forward_with_hooks(model, [(m, hook_for(path)) for path, m in _probe_modules(model).items()], sils)
    return seen


def onnx_probes(
    path: str | Path, sils: np.ndarray, level: str = "none", disabled_optimizers: Sequence[str] = ()
) -> dict[tuple[str, int], np.ndarray]:
    """(module path, call index) → value of each activation QuantizeLinear (dequantized) and, at level 'none', Relu.

    At level 'all' (the deployed session, QDQ fused into integer kernels) only the QuantizeLinear outputs are
    exposed: they are the integer tensors the fused kernels produce, so asking for them keeps every fusion, while
    a float Relu or DQ output would have to be materialised and would stop the fusion it belongs to.
    """
    graph = onnx.load(str(path))
    inits = {t.name: t for t in graph.graph.initializer}
    names: dict[str, tuple[str, int]] = {}
    grids: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # Q output → (scale, zero point)
    calls: dict[tuple[str, str], int] = defaultdict(int)
    for node in graph.graph.node:
        if node.op_type not in PROBE_OPS or node.input[0] in inits or (level != "none" and node.op_type == "Relu"):
            continue  # a QuantizeLinear of an initializer is a weight, not an activation
        p = scope_path(node.name)
        names[node.output[0]] = (p, calls[(p, node.op_type)])
        calls[(p, node.op_type)] += 1
        if node.op_type == "QuantizeLinear":
            scale, zero = (numpy_helper.to_array(inits[n]) for n in node.input[1:3])
            grids[node.output[0]] = (scale.astype(np.float32), zero.astype(np.float32))
    known = {o.name for o in graph.graph.output}
    for name in names:
        if name not in known:
            graph.graph.output.append(onnx.ValueInfoProto(name=name))
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.onnx"
        onnx.save(graph, str(probe))
        session = make_session(probe, level=level, disabled_optimizers=disabled_optimizers)
        wanted = [o.name for o in session.get_outputs() if o.name in names]
        values = session.run(wanted, {INPUT: sils})
    out = {}
    for name, value in zip(wanted, values, strict=True):
        if name in grids:
            scale, zero = grids[name]
            value = (value.astype(np.float32) - zero) * scale  # DequantizeLinear, per tensor
        out[names[name]] = value
    return out


def _scales(model: nn.Module) -> dict[str, float]:
    return {p: float(m.qparams()["scale"]) for p, m in _probe_modules(model).items() if hasattr(m, "qparams")}


def _grouped_fc_layout(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The per-part FC input `[N, C, P]` in the grouped-1×1-conv layout the graph holds, `[N, P·C, 1, 1]`."""
    if a.ndim == 3 and b.ndim == 4 and a.size == b.size:
        return a.transpose(0, 2, 1).reshape(b.shape)
    return a


def tensor_gaps(
    model: nn.Module,
    onnx_path: str | Path,
    sils: torch.Tensor,
    rel_tol: float = REL_TOL,
    level: str = "none",
    disabled_optimizers: Sequence[str] = (),
) -> list[TensorGap]:
    """Gaps at every tensor both sides can name, in the torch model's execution order.

    An element is off when it differs by more than one quantizer step (float probes: `rel_tol` of the range);
    `level` is the onnxruntime session's optimisation level ('none': float simulation, 'all': fused kernels).
    """
    ref = torch_probes(model, sils)
    got = onnx_probes(onnx_path, sils.numpy(), level, disabled_optimizers)
    scales = _scales(model)
    gaps = []
    for key, a in ref.items():
        b = got.get(key)
        if b is None or not a.size:
            continue
        a = _grouped_fc_layout(a, b)
        if a.shape != b.shape:
            continue
        diff = np.abs(a - b)
        ref_max = float(np.abs(a).max())
        scale = scales.get(key[0])
        unit = scale * (1 + 1e-3) if scale else rel_tol * max(ref_max, 1e-6)  # one step (ties) is not a gap
        steps = float(diff.max()) / scale if scale else None
        frac_off = float((diff > unit).mean())
        frac_step = float((diff > 0.5 * scale).mean()) if scale else frac_off
        gaps.append(TensorGap(key[0], key[1], float(diff.max()), steps, ref_max, frac_off, frac_step))
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


def first_departure(gaps: Sequence[TensorGap]) -> TensorGap | None:
    """The first quantizer output where any value is a step or more away (where two integer paths part)."""
    return next((g for g in gaps if g.steps is not None and g.frac_step > 0), None)


@dataclass
class ParityReport:
    """PyTorch vs the exported graph on a test set: metrics side by side, output gap, first diverging tensor."""

    torch_metrics: dict[str, float]  # the reference: what the deployed graph must compute (see `reference`)
    onnx_metrics: dict[str, float]
    max_abs: float  # embeddings, deployed session (onnxruntime, all optimisations)
    max_rel: float  # max_abs / max |embedding|
    probe_max_steps: float | None  # largest gap at a quantizer in the float simulation, in its steps
    first_gap: TensorGap | None  # float simulation: where a wrong scale / node / fold starts
    rank1_tol: float
    sequences: int
    reference: str = "pytorch"  # pytorch | pytorch hard-quant | pytorch hard-quant + int32 bias
    trained_metrics: dict[str, float] | None = None  # the QAT model as trained (float bias), when not the reference
    fused_max_steps: float | None = None  # deployed session, probe batch: largest gap at a quantizer, in steps
    fused_first: TensorGap | None = None  # deployed session: the first quantizer output that differs at all
    disabled_optimizers: tuple[str, ...] = ()  # onnxruntime passes turned off for the deployed session
    nonfinite: tuple[str, ...] = ()  # sides whose embeddings hold a NaN or an infinity

    @property
    def rank1_gaps(self) -> dict[str, float]:
        keys = [k for k in self.torch_metrics if k.endswith("R1") and k in self.onnx_metrics]
        return {k: self.onnx_metrics[k] - self.torch_metrics[k] for k in keys}

    @property
    def passed(self) -> bool:
        """No NaN anywhere, no gap in the float simulation, every rank-1 within tolerance (NaN never passes)."""
        finite = not self.nonfinite and all(
            math.isfinite(v) for v in (*self.torch_metrics.values(), *self.onnx_metrics.values(), self.max_abs)
        )
        return finite and self.first_gap is None and all(abs(d) <= self.rank1_tol for d in self.rank1_gaps.values())

    def reason(self) -> str:
        if self.nonfinite:
            return f"non-finite embeddings from {' and '.join(self.nonfinite)}"
        bad = [k for k, v in (*self.torch_metrics.items(), *self.onnx_metrics.items()) if not math.isfinite(v)]
        if bad or not math.isfinite(self.max_abs):
            return f"non-finite metrics: {', '.join(sorted(set(bad))) or 'embedding gap'}"
        if self.first_gap is not None:
            g = self.first_gap
            unit = f"{g.steps:.1f} steps" if g.steps is not None else f"{g.max_abs:.3g} abs"
            return f"the gap starts at {g.path} (call {g.index}): {g.frac_off:.1%} of values off, max {unit}"
        bad = {k: round(v, 2) for k, v in self.rank1_gaps.items() if abs(v) > self.rank1_tol}
        if not bad:
            return "parity holds"
        where = ""
        if self.fused_first is not None:
            g = self.fused_first
            where = (
                f"; the integer kernels first part from PyTorch at {g.path} (call {g.index}): "
                f"{g.frac_step:.2%} of values, max {g.steps:.0f} steps"
            )
        return f"rank-1 differs by more than {self.rank1_tol} points: {bad}{where}"

    def to_dict(self) -> dict:
        def gap(g: TensorGap | None) -> dict | None:
            keys = {"path": g.path, "call": g.index, "steps": g.steps} if g else {}
            return keys and keys | {"frac_off": g.frac_off, "frac_step": g.frac_step}

        return {
            "passed": self.passed,
            "reason": self.reason(),
            "reference": self.reference,
            "torch": self.torch_metrics,
            "onnx": self.onnx_metrics,
            "trained": self.trained_metrics,
            "rank1_gap": self.rank1_gaps,
            "embeddings_max_abs": self.max_abs,
            "embeddings_max_rel": self.max_rel,
            "probe_max_steps": self.probe_max_steps,
            "first_gap": gap(self.first_gap),
            "fused_max_steps": self.fused_max_steps,
            "fused_first": gap(self.fused_first),
            "onnxruntime_disabled_optimizers": list(self.disabled_optimizers),
            "nonfinite": list(self.nonfinite),
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
    placement: str | None = None,
    known_metrics: Mapping[str, float] | None = None,
    gap_batches: int = 2,
) -> ParityReport:
    """Score the PyTorch model and the exported graph on the same test set, and locate any gap.

    Both run over `build_test_loader(data_cfg)`; the graph one sequence per row (`OnnxGaitModel`). The
    probes run on the first `probe_rows` test sequences, cut to their shortest length. For an `ort` INT8
    graph the reference is the int32-bias model, and the QAT model as trained is scored as well; a `trt`
    INT8 graph runs with onnxruntime's bias rounding off (`runtime.FLOAT_BIAS`), as TensorRT computes it.

    `known_metrics` are the model's own metrics on this very test set (the stage's final evaluation, same data
    and clip length): the model is then not scored again. Where it is the reference (FP32, `trt`), its
    embeddings are compared with the graph's on the first `gap_batches` test batches only; for `ort` INT8 it
    stands in for the as-trained score. Every export is thus scored once, on the graph that ships.
    """
    from gaitcompress.data import build_test_loader
    from gaitcompress.evaluation import evaluate, extract_features
    from gaitcompress.export.runtime import OnnxGaitModel

    protocol = getattr(data_cfg, "protocol", "casiab")
    loader = build_test_loader(data_cfg, split="test")
    batch = next(iter(loader))
    rows = batch.sils[:probe_rows, : int(batch.lengths[:probe_rows].min())]
    quantized = fmt == "int8"
    reference, trained, label, disabled = model, None, "pytorch hard-quant" if quantized else "pytorch", ()
    known = {k: float(v) for k, v in known_metrics.items()} if known_metrics else None
    if quantized and placement == "ort":
        from gaitcompress.export.int_bias import int32_bias_model
        from gaitcompress.export.onnx_export import read_metadata
        from gaitcompress.export.qdq import float_input_quantizers

        # the stem kernel the file was exported with (files from before `float_stem` was recorded: the width rule)
        float_stem = read_metadata(onnx_path).get("float_stem")
        reference = int32_bias_model(model, rows, float_input_quantizers(model) if float_stem is None else float_stem)
        trained = known or evaluate(extract_features(model, loader, tracker=tracker), protocol).metrics
        label = "pytorch hard-quant + int32 bias"
        known = None  # the int32-bias reference is another model: it is scored in full
    elif quantized:
        disabled = FLOAT_BIAS  # a trt graph: float biases, as TensorRT runs it (see `runtime`)
    got = extract_features(OnnxGaitModel(onnx_path, disabled_optimizers=disabled), loader, tracker=tracker)
    if known is None:
        ref = extract_features(reference, loader, tracker=tracker)
        torch_metrics, sub = evaluate(ref, protocol).metrics, got.embeddings
    else:
        ref = extract_features(reference, itertools.islice(loader, gap_batches), tracker=tracker)
        torch_metrics, sub = known, got.embeddings[: len(ref)]
    nonfinite = [name for name, t in (("PyTorch", ref.embeddings), ("ONNX", got.embeddings)) if not t.isfinite().all()]
    diff = (ref.embeddings - sub).abs()
    gaps = tensor_gaps(reference, onnx_path, rows, rel_tol=REL_TOL_FLOAT[fmt])
    fused = tensor_gaps(reference, onnx_path, rows, REL_TOL_FLOAT[fmt], "all", disabled) if quantized else []
    steps = [g.steps for g in gaps if g.steps is not None]
    fused_steps = [g.steps for g in fused if g.steps is not None]
    return ParityReport(
        torch_metrics=torch_metrics,
        onnx_metrics=evaluate(got, protocol).metrics,
        max_abs=float(diff.max()),
        max_rel=float(diff.max() / ref.embeddings.abs().max().clamp_min(1e-12)),
        probe_max_steps=max(steps) if steps else None,
        first_gap=first_gap(gaps),
        rank1_tol=rank1_tol,
        sequences=len(got),
        reference=label,
        trained_metrics=trained,
        fused_max_steps=max(fused_steps) if fused_steps else None,
        fused_first=first_departure(fused),
        disabled_optimizers=tuple(disabled),
        nonfinite=tuple(nonfinite),
    )
