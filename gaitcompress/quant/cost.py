"""Bit widths per layer of a quantized model: what `gaitcompress.export.bitops` weights MACs by (DESIGN §9)."""

from __future__ import annotations

from torch import nn

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
