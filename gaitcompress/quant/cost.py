"""BitOPs accounting (QGait, DESIGN §9): bit widths per layer, and per-layer/total MACs, BitOPs, params, bytes.

The one place BitOPs are computed: quantize, export, the pipeline report and `gaitcompress info` all call
`bitops_report`.

Convention (QGait): a layer with b_w-bit weights and b_a-bit input activations costs MACs·b_w·b_a/(32·32)
BitOPs; a full-precision layer costs its MACs. Counted: every convolution and the per-part FC (the
deployed compute). Not counted: the BNNeck classifier (a training-only head that the exported graph
drops), batch norm (folded), pooling and activations. All per sequence of `frames` frames.

MACs come from `gaitcompress.models.cost.model_cost` (its `layer_macs` rows, torch.utils.flop_counter); bit widths from
`layer_bits` below. As a cross-check the MACs of every counted layer are recomputed
from the shapes a forward hook sees (conv: N·Cout·H'·W'·Cin/groups·kh·kw; per-part FC: N·P·Cin·Cout), and
`flop_counter_macs` is the whole model's FlopCounterMode total, which includes the uncounted BNNeck.

Bytes: weights of quantized layers at b_w bits; every other deployed parameter (biases, BN folded into
them, float layers) at 32 bits. Quantizer steps and the BNNeck are not deployed parameters.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from gaitcompress.models.cost import model_cost
from gaitcompress.models.gaitbase import BasicBlock
from gaitcompress.models.hooks import forward_with_hooks
from gaitcompress.models.layers import BNNeck, SeparateFCs
from gaitcompress.quant.layers import QuantConv2d, QuantLinear, QuantSeparateFCs
from gaitcompress.quant.quantizers import Quantizer

SKIPPED = (BNNeck,)  # layers layer_macs reports that the deployed graph does not run (the training-only classifier)
QUANT_LAYERS = (QuantConv2d, QuantLinear, QuantSeparateFCs)
COUNTED = "convolutions + per-part FC (BNNeck classifier, BN, pooling, activations not counted)"


def layer_bits(model: nn.Module) -> dict[str, tuple[int, int]]:
    """Module path → (weight bits, input activation bits) of every quantized conv / linear / per-part FC.

    A conv without its own `input_quant` inside a quantized `BasicBlock` (conv1, the downsample conv) reads the block's
    `input_quant`; in the `ort` placement later blocks have none either and read the previous block's `output_quant`.
    """
    bits: dict[str, tuple[int, int]] = {}
    carried: int | None = None  # activation bits of the tensor flowing out of the previous block
    blocks = {p: m for p, m in model.named_modules() if isinstance(m, BasicBlock) and hasattr(m, "input_quant")}
    block_input: dict[str, int] = {}
    for path, block in blocks.items():
        q = block.input_quant
        block_input[path] = q.bits if q is not None else (carried if carried is not None else 32)
        carried = block.output_quant.bits if block.output_quant is not None else None
    for path, module in model.named_modules():
        if not isinstance(module, QUANT_LAYERS):
            continue
        if module.input_quant is not None:
            a = module.input_quant.bits
        else:
            owner = next((b for b in blocks if path.startswith(b + ".")), None)
            a = block_input[owner] if owner is not None else 32
        bits[path] = (module.weight_quant.bits, a)
    return bits


@dataclass(frozen=True)
class LayerBitops:
    path: str
    type: str
    macs: int  # flop_counter MACs per sequence
    shape_macs: int  # the same from the layer's shapes (cross-check)
    weight_bits: int
    act_bits: int
    bitops: float  # macs·b_w·b_a/1024, or macs at 32/32
    params: int
    bytes: float  # params·b_w/8


@dataclass(frozen=True)
class BitopsReport:
    frames: int
    input_size: tuple[int, int]
    bits: str  # 'fp32', 'w8a8', 'w4a4' or 'mixed'
    layers: tuple[LayerBitops, ...]
    macs: int  # counted layers
    bitops: float
    params: int  # deployed parameters
    bytes: float
    flop_counter_macs: int  # whole model, FlopCounterMode (includes the BNNeck classifier)

    def as_cost(self) -> dict[str, Any]:
        """The `cost` block of a results row (DESIGN §15)."""
        return {
            "macs": self.macs,
            "bitops": round(self.bitops),
            "params": self.params,
            "bytes": round(self.bytes),
            "frames": self.frames,
            "input": list(self.input_size),
            "counted": COUNTED,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "counted": COUNTED, "layers": [asdict(layer) for layer in self.layers]}


def _shape_macs(model: nn.Module, paths: set[str], frames: int, input_size: tuple[int, int]) -> dict[str, int]:
    """MACs of each layer in `paths` from the tensor shapes of one forward (independent of flop_counter).

    Runs on a copy: a forward would initialise lazy state (LSQ steps) of the caller's model.
    """
    model = copy.deepcopy(model)
    found: dict[str, int] = {}
    hooks = []

    def conv_hook(path: str):
        def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            kernel = m.weight.shape[1] * int(torch.tensor(m.weight.shape[2:]).prod())  # Cin/groups · kh · kw
            found[path] = found.get(path, 0) + out.numel() * kernel

        return hook

    def part_fc_hook(path: str):
        def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            p, cin, cout = m.fc_bin.shape
            found[path] = found.get(path, 0) + inputs[0].shape[0] * p * cin * cout

        return hook

    for path, m in model.named_modules():
        if path not in paths:
            continue
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            hooks.append((m, conv_hook(path)))
        elif isinstance(m, SeparateFCs):
            hooks.append((m, part_fc_hook(path)))
    forward_with_hooks(model, hooks, torch.zeros(1, frames, *input_size, device=next(model.parameters()).device))
    return found


def _deployed_params(model: nn.Module) -> int:
    skip = {id(p) for m in model.modules() if isinstance(m, (*SKIPPED, Quantizer)) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)


def bitops_report(model: nn.Module, frames: int = 30, input_size: tuple[int, int] = (64, 44)) -> BitopsReport:
    """BitOPs, MACs, params and bytes of `model` (float or fake-quantized) on one sequence."""
    bits = layer_bits(model)
    cost = model_cost(model, frames, input_size)  # one FlopCounterMode pass: per-layer rows and the total
    modules = dict(model.named_modules())
    rows = [r for r in cost.layers if not isinstance(modules[r.path], SKIPPED)]
    shapes = _shape_macs(model, {r.path for r in rows}, frames, input_size)
    layers = []
    for r in rows:
        bw, ba = bits.get(r.path, (32, 32))
        layers.append(
            LayerBitops(
                r.path,
                r.type,
                r.macs,
                shapes.get(r.path, 0),
                bw,
                ba,
                r.macs * bw * ba / 1024,
                r.params,
                r.params * bw / 8,
            )  # fmt: skip
        )
    counted_params = sum(layer.params for layer in layers)
    params = _deployed_params(model)
    widths = sorted({(layer.weight_bits, layer.act_bits) for layer in layers})
    tag = "mixed" if len(widths) > 1 else "fp32" if widths == [(32, 32)] else "w{}a{}".format(*widths[0])
    return BitopsReport(
        frames=frames,
        input_size=tuple(input_size),
        bits=tag,
        layers=tuple(layers),
        macs=sum(layer.macs for layer in layers),
        bitops=sum(layer.bitops for layer in layers),
        params=params,
        bytes=sum(layer.bytes for layer in layers) + (params - counted_params) * 4,
        flop_counter_macs=cost.macs,
    )


def bitops_columns(report: BitopsReport) -> Mapping[str, Any]:
    """Extra per-layer columns for `gaitcompress.models.cost.layer_table` (what `gaitcompress info` shows)."""
    by_path = {layer.path: layer for layer in report.layers}

    def column(fn):
        return lambda row: fn(by_path[row.path]) if row.path in by_path else "-"

    return {
        "bits (w/a)": column(lambda layer: f"{layer.weight_bits}/{layer.act_bits}"),
        "BitOPs": column(lambda layer: f"{layer.bitops:,.0f}"),
        "bytes": column(lambda layer: f"{layer.bytes:,.0f}"),
    }
