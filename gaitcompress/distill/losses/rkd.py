"""Relational KD (Park et al., CVPR 2019), kept for reference.

Each sequence is one vector x ∈ R^D (the tap flattened, [N, C, P] → [N, C·P]); widths may differ.

    distance:  ψ_D(i, j) = ‖x_i − x_j‖ / μ,   μ = mean of the off-diagonal distances of the batch
    angle:     ψ_A(i, j, k) = ⟨ (x_i − x_j)/‖·‖ , (x_k − x_j)/‖·‖ ⟩
    L = w_D · Huber(ψ_D^s, ψ_D^t) + w_A · Huber(ψ_A^s, ψ_A^t)

with w_D = 1, w_A = 2 (the paper's 25 : 50 ratio; the term weight scales both). Huber = smooth-L1, β = 1.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.distill.losses import DISTILL_LOSSES
from gaitcompress.distill.losses._functional import eye_like, flatten_samples


def _distance_potential(x: Tensor) -> Tensor:
    d = (x.unsqueeze(0) - x.unsqueeze(1)).pow(2).sum(-1).clamp_min(1e-12).sqrt()  # [N, N]
    off = ~eye_like(x.shape[0], x.device)
    return (d / d[off].mean().clamp_min(1e-12))[off]  # [N·(N−1)]


def _angle_potential(x: Tensor) -> Tensor:
    e = F.normalize(x.unsqueeze(0) - x.unsqueeze(1), dim=2)  # [N, N, D]: e[j, i] = (x_i − x_j)/‖·‖
    return (e @ e.transpose(1, 2)).flatten()  # [N·N·N]


@DISTILL_LOSSES.register("rkd")
class RelationalKD(nn.Module):
    same_shape = False  # compares each model with itself: no alignment, no connector

    def __init__(self, distance_weight: float = 1.0, angle_weight: float = 2.0) -> None:
        super().__init__()
        self.distance_weight = distance_weight
        self.angle_weight = angle_weight

    def forward(self, student: Tensor, teacher: Tensor, labels: Tensor | None = None) -> Tensor:
        x_s, x_t = flatten_samples(student), flatten_samples(teacher.detach())  # [N, D_s], [N, D_t]
        loss = self.distance_weight * F.smooth_l1_loss(_distance_potential(x_s), _distance_potential(x_t))
        return loss + self.angle_weight * F.smooth_l1_loss(_angle_potential(x_s), _angle_potential(x_t))

    def extra_repr(self) -> str:
        return f"distance_weight={self.distance_weight}, angle_weight={self.angle_weight}"
