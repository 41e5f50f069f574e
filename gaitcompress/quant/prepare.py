"""Model preparation: `QConfig` (what to quantize, at which bits, where) and `quantize_model` (the swap).

`quantize_model(model, qcfg)` deep-copies the float model and walks it; it never edits model code. Swaps go through
one explicit table, `SWAPS` (float class → quant class), and finds every layer by its type (never by class name):

| float                         | quantized            | quantizers added                                         |
|-------------------------------|----------------------|----------------------------------------------------------|
| `nn.Conv2d`                   | `QuantConv2d`        | `weight_quant` (per out-channel), `input_quant`          |
| `nn.Linear`                   | `QuantLinear`        | `weight_quant` (per out-channel), `input_quant`          |
| `SeparateFCs` (per-part FC)   | `QuantSeparateFCs`   | `weight_quant` (per part·out-channel), `input_quant`     |
| residual `Add` (models.layers) | `QuantAdd`          | ort: `main_quant` (bn2 output, the Add's main input)     |
| ResNet `BasicBlock`           | the same block       | `input_quant` (block input), ort: `output_quant` (hooks) |
| its `downsample` branch       | + a last quantizer   | `downsample.2` (the Add's residual input)                |

Placements (DESIGN §10), decided here because they decide which quantizers exist:
- `trt`: symmetric int8 Q/DQ on the inputs of every Conv/MatMul and on the residual branch of each Add. TensorRT has
  no uint8, so a post-ReLU activation is unsigned only while its grid fits int8 (b ≤ 7: w4a4's [0, 15]); at 8 bits it
  is signed int8 [−128, 127] (the non-negative half used — the price of TensorRT's symmetric int8). Signed elsewhere.
- `ort`: post-ReLU activations unsigned (uint8 [0, 255] at 8 bits, zero point 0); additionally a quantizer after
  every conv+BN that feeds an Add (`main_quant`, signed) and on every block output (`output_quant`, unsigned,
  post-ReLU), so onnxruntime fuses QLinearConv / QLinearAdd; a block whose input is the previous block's
  `output_quant` gets no `input_quant` (one quantizer per tensor).

The stem conv's input is quantized by a `FixedQuantizer` with step 1/qmax, so silhouette values 0 and 1 are exactly
q = 0 and q = qmax: unsigned [0, 2^b − 1] (`ort`, and `trt` below 8 bits; at 8 bits the grid is exactly the uint8/255
levels the data are stored in), or int8 with step 1/127 (`trt` at 8 bits).
The BNNeck classifier (training-only head; deployment reads the pre-BNNeck embeddings) stays FP32.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
from dataclasses import dataclass, field
from functools import partial

from torch import nn

from gaitcompress.errors import GaitCompressError, did_you_mean
from gaitcompress.models.gaitbase import BasicBlock
from gaitcompress.models.layers import Add, BNNeck, SeparateFCs
from gaitcompress.quant.layers import QuantAdd, QuantConv2d, QuantLinear, QuantSeparateFCs, quantize_io
from gaitcompress.quant.quantizers import (
    DorefaQuantizer,
    FixedQuantizer,
    LsqQuantizer,
    PactQuantizer,
    Quantizer,
)

METHODS = ("lsq", "dorefa", "pact")
PLACEMENTS = ("trt", "ort")
SWAPS: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv2d: QuantConv2d,
    nn.Linear: QuantLinear,
    SeparateFCs: QuantSeparateFCs,
}
UNSUPPORTED = (nn.modules.conv._ConvNd, nn.Linear)  # compute layers that must not stay float silently
SKIP: tuple[type[nn.Module], ...] = (BNNeck,)  # training-only heads, kept FP32


@dataclass(frozen=True)
class QConfig:
    """What `quantize_model` does; from the recipe's `quant:` section (`preset:` picks the bit widths)."""

    method: str = "lsq"  # quantizer family: lsq (LSQ / QGait) | dorefa | pact
    weight_bits: int = 8
    act_bits: int = 8
    first_last_bits: int | None = None  # e.g. 8: the stem conv and the per-part FC at 8/8 bits (w4a4 option)
    placement: str = "trt"  # trt | ort (DESIGN §10)
    layer_bits: dict[str, list[int]] = field(default_factory=dict)  # module-path glob → [w_bits, a_bits], last wins
    init: str = "lsq"  # LSQ step init: lsq (2·mean|x|/√Qp) | mse (least-MSE step, see LsqQuantizer)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise GaitCompressError(f"unknown quant method {self.method!r}", did_you_mean(self.method, METHODS))
        if self.init not in ("lsq", "mse"):
            raise GaitCompressError(f"unknown LSQ init {self.init!r}", "use lsq or mse")
        if self.placement not in PLACEMENTS:
            raise GaitCompressError(f"unknown placement {self.placement!r}", did_you_mean(self.placement, PLACEMENTS))
        for bits in (self.weight_bits, self.act_bits, self.first_last_bits or 8):
            if not 2 <= bits <= 8:
                raise GaitCompressError(f"bit width {bits} is outside 2..8", "use 4 or 8 (the presets w4a4, w8a8)")

    @classmethod
    def preset(cls, name: str, **overrides: object) -> QConfig:
        """`w8a8` or `w4a4`, with field overrides (e.g. `placement='ort'`, `first_last_bits=8`)."""
        if name not in PRESETS:
            raise GaitCompressError(f"unknown quant preset {name!r}", did_you_mean(name, PRESETS))
        return dataclasses.replace(PRESETS[name], **overrides)

    @property
    def tag(self) -> str:
        return f"w{self.weight_bits}a{self.act_bits}"

    def bits_for(self, path: str, first_or_last: bool) -> tuple[int, int]:
        """(weight bits, activation bits) of the layer at module path `path`."""
        bits = (self.weight_bits, self.act_bits)
        if first_or_last and self.first_last_bits:
            bits = (self.first_last_bits, self.first_last_bits)
        for pattern, wa in self.layer_bits.items():
            if fnmatch.fnmatch(path, pattern):
                bits = (int(wa[0]), int(wa[1]))
        return bits


PRESETS = {"w8a8": QConfig(weight_bits=8, act_bits=8), "w4a4": QConfig(weight_bits=4, act_bits=4)}


def weight_quantizer(method: str, bits: int, channels: int, init: str = "lsq") -> Quantizer:
    """Signed narrow weight quantizer; per output channel (axis 0) for LSQ, per tensor for the DoReFa/PACT baselines."""
    if method == "lsq":
        return LsqQuantizer(bits, signed=True, channel_axis=0, narrow=True, channels=channels, init=init)
    return DorefaQuantizer(bits, signed=True, weight=True)


def unsigned_fits(bits: int, placement: str) -> bool:
    """Whether a post-ReLU activation gets an unsigned grid: always for `ort`, for `trt` only if it fits int8."""
    return placement == "ort" or 2**bits - 1 <= 127


def act_quantizer(method: str, bits: int, signed: bool, init: str = "lsq") -> Quantizer:
    """Per-tensor activation quantizer (unsigned after ReLU, signed elsewhere)."""
    if method == "lsq":
        return LsqQuantizer(bits, signed=signed, narrow=signed, init=init)
    if method == "pact":
        return PactQuantizer(bits, signed=signed)
    return DorefaQuantizer(bits, signed=signed)


def _set(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, module)


def _skipped(path: str, skip_roots: list[str]) -> bool:
    return any(path == r or path.startswith(r + ".") for r in skip_roots)


def quantize_model(model: nn.Module, qcfg: QConfig) -> nn.Module:
    """A fake-quantized deep copy of `model` (the input is not modified); float state-dict keys are kept.

    The first Conv2d in module order is the stem (its input quantizer is fixed, see the module docstring); the first
    conv and the last swapped layer (the per-part FC in GaitBase) take `qcfg.first_last_bits` when it is set.
    """
    model = copy.deepcopy(model)
    skip_roots = [p for p, m in model.named_modules() if isinstance(m, SKIP)]
    blocks = {p for p, m in model.named_modules() if isinstance(m, BasicBlock) and not _skipped(p, skip_roots)}
    targets = [(p, m) for p, m in model.named_modules() if type(m) in SWAPS and p and not _skipped(p, skip_roots)]
    if not targets:
        raise GaitCompressError(
            f"{type(model).__name__} has no Conv2d, Linear or SeparateFCs to quantize",
            "quantize_model works on gait models built by gaitcompress.models.create_model",
        )
    unsupported = [
        f"{p} ({type(m).__name__})"
        for p, m in model.named_modules()
        if isinstance(m, UNSUPPORTED) and type(m) not in SWAPS and not _skipped(p, skip_roots)
    ]
    if unsupported:
        raise GaitCompressError(
            f"quantize_model has no quantized version of {', '.join(unsupported[:3])}",
            f"supported layers: {', '.join(t.__name__ for t in SWAPS)} (e.g. quantize a GaitBase student)",
        )
    first, last = targets[0][0], targets[-1][0]

    for path, module in targets:
        wb, ab = qcfg.bits_for(path, path in (first, last))
        parent, _, name = path.rpartition(".")
        in_block = parent in blocks or parent.rpartition(".")[0] in blocks and parent.endswith("downsample")
        post_relu_signed = not unsigned_fits(ab, qcfg.placement)
        if path == first:
            input_quant: Quantizer | None = FixedQuantizer(ab, signed=post_relu_signed)
        elif in_block and name in ("conv1", "0"):
            input_quant = None  # the block's input_quant quantizes x once for conv1, downsample and identity
        else:
            input_quant = act_quantizer(
                qcfg.method, ab, init=qcfg.init, signed=post_relu_signed
            )  # post-ReLU / pooled post-ReLU
        channels = module.out_channels if isinstance(module, nn.Conv2d) else None
        if isinstance(module, nn.Linear):
            channels = module.out_features
        if isinstance(module, SeparateFCs):
            channels = module.parts * module.out_channels
        swapped = SWAPS[type(module)].from_float(
            module, weight_quantizer(qcfg.method, wb, channels, qcfg.init), input_quant
        )
        _set(model, path, swapped)

    previous_has_output = False
    for path in sorted(blocks, key=list(dict(model.named_modules())).index):
        block = model.get_submodule(path)
        _, ab = qcfg.bits_for(path, False)
        ort = qcfg.placement == "ort"
        post_relu_signed = not unsigned_fits(ab, qcfg.placement)
        act = partial(act_quantizer, qcfg.method, ab, init=qcfg.init)
        input_quant = None if previous_has_output else act(signed=post_relu_signed)
        residual_quant = act(signed=True) if block.downsample is not None else None
        main_quant = act(signed=True) if ort else None
        output_quant = act(signed=False) if ort else None
        if not isinstance(block.add, Add):
            raise GaitCompressError(f"{path}.add is {type(block.add).__name__}, not the residual Add module")
        block.add = QuantAdd.from_float(block.add, main_quant)
        quantize_io(block, input_quant, output_quant)
        if block.downsample is not None:  # the residual branch's quantizer runs last in the branch
            block.downsample = nn.Sequential(*block.downsample, residual_quant)
        previous_has_output = ort
    return model


def quantizers(model: nn.Module) -> dict[str, Quantizer]:
    """Every quantizer in `model` by module path (what QAT schedules and export reads)."""
    return {p: m for p, m in model.named_modules() if isinstance(m, Quantizer)}


def set_mode(model: nn.Module, mode: str, k: float | None = None) -> None:
    """Set the training-time rounding of every quantizer (`ste` | `soft` | `hard`) and, if given, the soft k."""
    for q in quantizers(model).values():
        q.set_mode(mode)
        if k is not None:
            q.set_k(k)
