"""INT8 QDQ export of a fake-quantized (QAT) gait model.

How: a deploy copy of the QAT model in which every quantizer (anything exposing `qparams()`) is
replaced by an `ExportQuantizer` whose forward is `torch.fake_quantize_per_{tensor,channel}_affine`
with the learned step as scale — the TorchScript exporter writes those as `QuantizeLinear →
DequantizeLinear` exactly where the QAT model quantizes, so the graph's quantizer set *is* the QAT
placement, with no name matching. Weights are pre-rounded in torch (hard rounding, the trained grid),
then `onnx_passes` stores them as int8 initializers and folds each BatchNormalization into its conv
and per-channel weight scale. The per-part FC is rewritten as the grouped 1×1 conv it equals
(weight `[P·Cout, Cin, 1, 1]`, groups=P), whose per-output-channel scales are the quantizer's axis 0.

Integer containers (zero point 0 unless said):
- weights: int8, per output channel (axis 0), signed narrow [−127, 127] (w4: [−7, 7] inside int8).
- `trt` placement: activations int8. An unsigned grid that does not fit int8 (8-bit post-ReLU, [0, 255])
  is written as uint8 so the graph stays exact; TensorRT rejects uint8 Q/DQ, so the export records
  those quantizers in the metadata (`trt_incompatible`) and the TensorRT builder refuses them by name.
- `ort` placement: activations uint8 — unsigned grids with zero point 0; signed grids (the conv output
  feeding a residual Add) re-encoded exactly as uint8 with zero point 128 (q_u8 = q_s8 + 128, same step).
  onnxruntime fuses `DQ → Conv → Q` into QLinearConv (and `DQ, DQ → Add → Q` into QLinearAdd) only when
  the input and output integer types agree, so a signed int8 output after a uint8 input would stay float.
- `ort` only, conv weights for the CPU (`int8_weights`): int8 (`signed`) runs onnxruntime's u8×s8 kernel, exact and
  2.5× faster with VNNI (AVX-512 VNNI / AVX-VNNI) than the alternative; on x86 without VNNI that kernel saturates
  int16 pair sums (not exact), so there they are stored as uint8 with zero point 128 (`unsigned`, u8×u8 kernel,
  exact). `auto` picks for the CPU that exports and verifies; name the deployment CPU's choice when it differs.
- `ort` only: conv biases (BN shifts after folding) are stored as int32 on the grid s_x·s_w, as onnxruntime's
  integer kernels hold them (`onnx_passes.quantize_conv_bias`; the PyTorch side of that is `int_bias.py`).
- `ort` only: a narrow stem conv (one input channel, under 32 output channels) runs in float, its input rounded to
  the trained grid by float ops (see `float_input_quantizers`: onnxruntime's int8 kernel is slower there).
- grids narrower than the container (4-bit) get a `Clip(qmin·v, qmax·v)` before the Q: INT8 containers
  holding 4-bit grids, exact accuracy. onnxruntime CPU does not fuse such a Conv → Clip → Q (it drops only a
  Clip that covers the Q's whole range), so a w4a4 graph runs there as its float QDQ simulation, not in INT8.
  The signed narrow 8-bit activation grid [−127, 127] is the exception: its missing −128 level is not clipped
  (see `ExportQuantizer`), a one-step difference at saturation only, because the Clip would stop onnxruntime
  and TensorRT from fusing the conv before it.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.export.cpu_int8 import STEMS, int8_weights_for
from gaitcompress.export.onnx_export import DEFAULT_OPSET, InputSpec, export_onnx
from gaitcompress.export.onnx_passes import (
    DEPLOY_PASSES,
    constants_to_initializers,
    fold_batchnorm,
    fold_weight_quantizers,
    quantize_conv_bias,
)

PLACEMENTS = ("trt", "ort")


def is_quantizer(module: nn.Module) -> bool:
    return callable(getattr(module, "qparams", None))


def container(qp: Mapping[str, Any], placement: str) -> tuple[int, int, int]:
    """(container min, container max, zero point) for a quantizer's grid `[qmin, qmax]` (in grid units)."""
    qmin, qmax = int(qp["qmin"]), int(qp["qmax"])
    if qp["axis"] is not None or placement == "trt":
        if qmin >= -128 and qmax <= 127:
            return -128, 127, 0
        return 0, 255, 0  # unsigned 8-bit grid: exact, but not TensorRT-compatible (see module docstring)
    if qmin >= 0:
        return 0, 255, 0
    return 0, 255, 128


class ExportQuantizer(nn.Module):
    """A quantizer frozen at its learned step whose trace is `[Clip →] QuantizeLinear → DequantizeLinear`.

    Per tensor: y = DQ(Q(clip(x, qmin·v, qmax·v))) with the container of `container()`; the clip is
    emitted only when the grid is narrower than the container. Per channel (weights): the input is
    already on the grid (pre-rounded), so y = DQ(Q(x)) along `axis` with int8 and zero point 0.
    """

    def __init__(self, qparams: Mapping[str, Any], placement: str, float_ops: bool = False) -> None:
        super().__init__()
        self.float_ops = float_ops  # trace as Div → Round → Clip → Mul: same values, no Q/DQ to fuse
        self.qmin, self.qmax = int(qparams["qmin"]), int(qparams["qmax"])
        self.axis = qparams["axis"]
        self.low, self.high, self.zero = container(qparams, placement)
        scale = torch.as_tensor(qparams["scale"], dtype=torch.float32)
        if not bool((scale > 0).all()):
            raise ValueError("quantizer scales must be strictly positive")
        self.register_buffer("scale", scale)
        # narrow signed grids ([−127, 127]) are written without the Clip: it would sit between Conv and Q and
        # block QLinearConv / TensorRT fusion; the only change is −128·v instead of −127·v below −127.5·v.
        narrower = self.qmin + self.zero > self.low + 1 or self.qmax + self.zero < self.high
        self.clip = self.axis is None and narrower

    @property
    def dtype(self) -> str:
        return "float" if self.float_ops else "int8" if self.low < 0 else "uint8"

    def forward(self, x: Tensor) -> Tensor:
        if self.axis is not None:
            zero = torch.zeros(self.scale.numel(), dtype=torch.int32)
            return torch.fake_quantize_per_channel_affine(x, self.scale, zero, self.axis, self.low, self.high)
        v = float(self.scale)
        if self.float_ops:
            return torch.round(x / v).clamp(self.qmin, self.qmax) * v
        if self.clip:
            x = x.clamp(self.qmin * v, self.qmax * v)
        return torch.fake_quantize_per_tensor_affine(x, v, self.zero, self.low, self.high)

    def extra_repr(self) -> str:
        where = "per-tensor" if self.axis is None else f"axis={self.axis}"
        return f"{self.dtype} zero_point={self.zero} grid=[{self.qmin}, {self.qmax}] {where} clip={self.clip}"


class GroupedPartFC(nn.Module):
    """The quantized per-part FC as a grouped 1×1 conv: `[N, Cin, P]` → `[N, Cout, P]`.

    out[n, :, p] = W_p · x[n, :, p] is `Conv2d(P·Cin, P·Cout, 1, groups=P)` on the part-major channel
    layout, with weight rows p·Cout + o (the layout `QuantSeparateFCs.grouped_weight()` quantizes in).
    """

    def __init__(self, fc: nn.Module, placement: str) -> None:
        super().__init__()
        self.parts, self.cin, self.cout = fc.fc_bin.shape
        with torch.no_grad():
            w = fc.weight_quant(fc.grouped_weight())  # [P·Cout, Cin] on the trained grid (eval: hard round)
        self.weight = nn.Parameter(w.reshape(self.parts * self.cout, self.cin, 1, 1), requires_grad=False)
        self.weight_quant = ExportQuantizer(fc.weight_quant.qparams(), placement)
        iq = fc.input_quant
        self.input_quant = ExportQuantizer(iq.qparams(), placement) if iq is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        x = x.permute(0, 2, 1).reshape(n, self.parts * self.cin, 1, 1)  # [N, P·Cin, 1, 1]
        # per-tensor Q/DQ commutes with the reshape; after it, DQ feeds the Conv directly (QDQ pattern)
        y = F.conv2d(self.input_quant(x), self.weight_quant(self.weight), groups=self.parts)  # [N, P·Cout, 1, 1]
        return y.reshape(n, self.parts, self.cout).permute(0, 2, 1)  # [N, Cout, P]


def _set(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, module)


def deploy_copy(model: nn.Module, placement: str, float_inputs: Collection[str] = ()) -> nn.Module:
    """An eval copy of a QAT model whose quantizers trace as Q/DQ (the input model is not touched).

    The input quantizers named in `float_inputs` trace as float rounding instead (`float_input_quantizers`).
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; use one of {PLACEMENTS}")
    model = copy.deepcopy(model).eval()
    for path, module in list(model.named_modules()):
        if hasattr(module, "fc_bin") and is_quantizer(getattr(module, "weight_quant", None)):
            _set(model, path, GroupedPartFC(module, placement))
    with torch.no_grad():
        for module in model.modules():
            wq = getattr(module, "weight_quant", None)
            if is_quantizer(wq) and isinstance(getattr(module, "weight", None), nn.Parameter):
                module.weight.copy_(wq(module.weight))  # pre-round to the trained grid
    for path, module in list(model.named_modules()):
        if is_quantizer(module):
            _set(model, path, ExportQuantizer(module.qparams(), placement, float_ops=path in float_inputs))
    return model


INT8_STEM_MIN_CHANNELS = 32  # a one-channel stem this wide or wider runs as an integer conv (see below)


def float_input_quantizers(model: nn.Module, stem: str = "auto") -> set[str]:
    """Input quantizers of the single-channel convs (the stem) that the `ort` placement runs in float.

    `stem`: `auto` keeps narrow stems (under 32 output channels) in float, `float` / `int8` every / no stem.

    onnxruntime's int8 convolution (MLAS, im2col + GEMM) is slower than its FP32 NCHWc kernel when the input has
    one channel (K = kh·kw = 9) and the output is narrow. A float stem costs layout work instead: its output is
    reordered out of NCHWc, quantized and transposed to the integer convs' NHWC layout, and layer 1's identity
    shortcut then reads the NCHW tensor, so two more transposes surround its Add. Measured interleaved at 64×44 ×
    30 frames on an AVX-512 VNNI EPYC (bench/results/deploy-int8-passes.md, 48 rounds): full GaitBase (64
    channels) 3.82× FP32 with the integer stem vs 3.77× float on one thread, 3.76× vs 3.55× on two; the quarter
    width (16) 2.91× float vs 2.75× integer on one thread, 2.59× vs 2.55× on two; the student (8) 1.68× vs 1.49×.
    Half width (32, one thread, one 20-round run outside the table): 3.52× integer vs 3.47× float.
    A float stem's input is still rounded to its grid (as float ops) and its weights keep their int8 values, so
    the numbers are the QAT model's; only the kernel differs.
    """
    if stem not in STEMS:
        raise ValueError(f"stem={stem!r}: use one of {', '.join(STEMS)}")
    return {
        f"{path}.input_quant"
        for path, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
        and m.in_channels == 1
        and (stem == "float" or (stem == "auto" and m.out_channels < INT8_STEM_MIN_CHANNELS))
        and is_quantizer(getattr(m, "input_quant", None))
    }


def quantizer_report(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Per activation/weight quantizer of a deploy copy: container dtype, zero point, grid, clip."""
    return {
        path: {"dtype": m.dtype, "zero_point": m.zero, "grid": [m.qmin, m.qmax], "clip": m.clip, "axis": m.axis}
        for path, m in model.named_modules()
        if isinstance(m, ExportQuantizer)
    }


def _int8_rewrite(placement: str, passes: Sequence[str]):
    def rewrite(graph) -> None:
        constants_to_initializers(graph)
        fold_weight_quantizers(graph)
        fold_batchnorm(graph)
        if placement == "ort":
            quantize_conv_bias(graph)  # what onnxruntime does before fusing, made explicit (export/int_bias.py)
        for name in passes:
            DEPLOY_PASSES[name](graph)

    return rewrite


def export_qdq(
    qat_model: nn.Module,
    path: str | Path,
    placement: str,
    spec: InputSpec | None = None,
    outputs: Sequence[str] = ("embeddings",),
    opset: int = DEFAULT_OPSET,
    metadata: Mapping[str, Any] | None = None,
    passes: Sequence[str] | None = None,
    int8_weights: str = "auto",
    stem: str = "auto",
) -> Path:
    """Export a fake-quantized model as an INT8 QDQ graph (validated, atomic; see the module docstring).

    `passes`: which of `onnx_passes.DEPLOY_PASSES` (exact clean-ups of what is not compute) to run; default all of
    them for the `ort` placement, `unsigned_weights` only where `int8_weights_for(int8_weights)` says so, and none
    for `trt` (TensorRT reads the plain QDQ form). Recorded in the metadata, as are the stem input quantizers run
    in float (`float_stem`, chosen by `stem`: see `float_input_quantizers`), which parity reads back.
    """
    if passes is None and placement == "ort":
        unsigned = int8_weights_for(int8_weights) == "unsigned"
        passes = [p for p in DEPLOY_PASSES if p != "unsigned_weights" or unsigned]
    passes = list(passes or ())
    unknown = [p for p in passes if p not in DEPLOY_PASSES]
    if unknown:
        raise ValueError(f"unknown export passes {unknown}; choose from {list(DEPLOY_PASSES)}")
    float_inputs = float_input_quantizers(qat_model, stem) if placement == "ort" else set()
    deploy = deploy_copy(qat_model, placement, float_inputs)
    report = quantizer_report(deploy)
    incompatible = sorted(p for p, r in report.items() if r["dtype"] == "uint8") if placement == "trt" else []
    meta = {"placement": placement, "trt_incompatible": incompatible, "passes": passes, **(metadata or {})}
    if placement == "ort":
        meta["int8_weights"] = "unsigned" if "unsigned_weights" in passes else "signed"
        meta["float_stem"] = sorted(float_inputs)
    return export_onnx(deploy, path, "int8", spec, outputs, opset, meta, rewrite=_int8_rewrite(placement, passes))
