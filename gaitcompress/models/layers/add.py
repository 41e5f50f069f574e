"""The residual add as a module, so a quantizer can swap it (and a hook can see both of its inputs)."""

from __future__ import annotations

from torch import Tensor, nn


class Add(nn.Module):
    """`main + residual` (same shapes). A block that writes its Add as this module keeps a single forward: the
    quantized twin is the same block with `Add` swapped for `gaitcompress.quant.layers.QuantAdd`."""

    def forward(self, main: Tensor, residual: Tensor) -> Tensor:
        return main + residual
