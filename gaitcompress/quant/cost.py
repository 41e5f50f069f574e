"""Bit widths per layer of a quantized model, and its BitOPs in QGait's convention (DESIGN §9).

BitOPs of a layer = MACs · b_w · b_a / (32·32); a full-precision layer counts its MACs. Counted: every convolution
and the per-part FC (the deployed compute); not counted: the BNNeck classifier (a training-only head), BN, pooling
and activations. MACs come from `gaitcompress.models.cost.layer_macs` on one sequence of `frames` frames.
`gaitcompress.export.bitops` (when present) is the reporting module; this file supplies the bit map it needs.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from gaitcompress.models.cost import layer_macs
from gaitcompress.quant.layers import QuantBasicBlock, QuantConv2d, QuantLinear, QuantSeparateFCs

QUANT_LAYERS = (QuantConv2d, QuantLinear, QuantSeparateFCs)


def layer_bits(model: nn.Module) -> dict[str, tuple[int, int]]:
    """Module path → (weight bits, input activation bits) of every quantized conv / linear / per-part FC.

    A conv without its own `input_quant` inside a `QuantBasicBlock` (conv1, the downsample conv) reads the block's
    `input_quant`; in the `ort` placement later blocks have none either and read the previous block's `output_quant`.
    """
    bits: dict[str, tuple[int, int]] = {}
    carried: int | None = None  # activation bits of the tensor flowing out of the previous block
    blocks = {p: m for p, m in model.named_modules() if isinstance(m, QuantBasicBlock)}
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


def quant_cost(model: nn.Module, frames: int, input_size: tuple[int, int]) -> dict[str, Any]:
    """`cost` block of a results row: MACs and BitOPs (per sequence of `frames` frames), params, weight bytes."""
    bits = layer_bits(model)
    macs = bitops = 0
    weight_bits = 0
    for layer in layer_macs(model, frames, input_size):
        if layer.type == "BNNeck":
            continue
        macs += layer.macs
        bw, ba = bits.get(layer.path, (32, 32))
        bitops += layer.macs * bw * ba / 1024
        weight_bits += layer.params * bw
    return {
        "macs": int(macs),
        "bitops": int(round(bitops)),
        "params": sum(p.numel() for p in model.parameters()),
        "bytes": int(weight_bits // 8),
        "frames": frames,
        "counted": "conv + per-part FC (BNNeck classifier excluded); BitOPs = MACs·b_w·b_a/1024, FP layers = MACs",
    }
