"""Feature regression (FitNets, Romero et al. 2015): the baseline GaitKD argues against.

    L = mean over all elements of (connector(f_s) − f_t)²

Any tap works (`embeddings [N, C, P]`, `parts`, or a hooked map [N·T, C, H, W]); the routing aligns parts
and widths before this is called.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.distill.losses import DISTILL_LOSSES


@DISTILL_LOSSES.register("feat_mse")
class FeatureMSE(nn.Module):
    def forward(self, student: Tensor, teacher: Tensor, labels: Tensor | None = None) -> Tensor:
        return F.mse_loss(student, teacher)
