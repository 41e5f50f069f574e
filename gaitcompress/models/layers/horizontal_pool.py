"""Horizontal pooling into P strips (OpenGait's `HorizontalPoolingPyramid` with one level).

Each strip is a band of rows; its feature is mean + max over the band's rows and the full width,
the part descriptor every GaitBase-style head consumes.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class HorizontalPool(nn.Module):
    """`[N, C, H, W]` → `[N, C, P]`: P horizontal strips, each mean + max over its rows × width.

    When `H` is a multiple of `P` the strips are contiguous row bands, exactly OpenGait's
    `x.view(n, c, P, -1)` (a reshape, which exports to ONNX as Reshape + Reduce). When `P` is a
    multiple of `H` (e.g. 16 strips over the 8 rows a 32×22 input leaves) each row is repeated
    `P/H` times, so strip p reads row ⌊p·H/P⌋; OpenGait's reshape would instead split rows into
    left/right pieces there, which is not a horizontal strip. Any other ratio uses adaptive
    pooling, whose bins are the same ⌊p·H/P⌋ … ⌈(p+1)·H/P⌉ row bands.
    """

    def __init__(self, parts: int = 16) -> None:
        super().__init__()
        self.parts = parts

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, _ = x.shape
        p = self.parts
        if h % p and p % h:
            # mean over the band's rows of the width-mean equals the band mean (all rows have equal width)
            return F.adaptive_avg_pool2d(x, (p, 1)).flatten(2) + F.adaptive_max_pool2d(x, (p, 1)).flatten(2)
        if h < p:
            x = x.repeat_interleave(p // h, dim=2)  # [N, C, P, W]
        x = x.reshape(n, c, p, -1)  # [N, C, P, (H/P)·W]
        return x.mean(-1) + x.amax(-1)  # [N, C, P]

    def extra_repr(self) -> str:
        return f"parts={self.parts}"
