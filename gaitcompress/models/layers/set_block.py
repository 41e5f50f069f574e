"""Apply a per-frame 2-D module to a whole sequence (OpenGait's `SetBlockWrapper`).

Gait backbones see each silhouette on its own; folding time into the batch lets an ordinary
`Conv2d` stack run on `[N, T, C, H, W]` without a loop. The wrapped module is stored as
`forward_block`, the attribute name OpenGait checkpoints use (`Backbone.forward_block.*`).
"""

from __future__ import annotations

from torch import Tensor, nn


class SetBlock(nn.Module):
    """`[N, T, C, H, W]` → fold to `[N·T, C, H, W]` → `forward_block` → unfold to `[N, T, C', H', W']`.

    Forward hooks on modules inside `forward_block` therefore see per-frame tensors `[N·T, C, H, W]`.
    """

    def __init__(self, forward_block: nn.Module) -> None:
        super().__init__()
        self.forward_block = forward_block

    def forward(self, x: Tensor) -> Tensor:
        n, t = x.shape[:2]
        y = self.forward_block(x.flatten(0, 1))  # [N·T, C, H, W] → [N·T, C', H', W']
        # reshape, not unflatten: the ONNX tracer records unflatten's sizes as constants (batch baked in)
        return y.reshape(n, t, *y.shape[1:])  # [N, T, C', H', W']
