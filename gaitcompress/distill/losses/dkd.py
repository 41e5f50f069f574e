"""Decoupled KD (Zhao et al., CVPR 2022), a logit-KD baseline.

DKD splits Hinton's KL into a target-class part (TCKD, a binary distribution: target vs the rest) and a
non-target part (NCKD, the distribution among non-target classes), and weights them separately:

    p = softmax(z / T),  b = [p_y, 1 − p_y],  p̂ = softmax over k ≠ y of z_k / T
    L = T² · mean_n ( α · KL(b_t ‖ b_s) + β · KL(p̂_t ‖ p̂_s) )

with α = 1, β = 8, T = 4 (the paper's CIFAR defaults). Logits [N, K, P] are reduced exactly as in
`kd_vanilla` (scale 16, mean over parts) so the two baselines differ only in the KD formula.
Needs the batch labels [N] (class indices).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.distill.losses import DISTILL_LOSSES
from gaitcompress.distill.losses.kd_vanilla import class_logits


@DISTILL_LOSSES.register("dkd")
class DecoupledKD(nn.Module):
    def __init__(self, alpha: float = 1.0, beta: float = 8.0, temperature: float = 4.0, scale: float = 16.0) -> None:
        super().__init__()
        self.alpha, self.beta = alpha, beta
        self.temperature = temperature
        self.scale = scale

    def forward(self, student: Tensor, teacher: Tensor, labels: Tensor) -> Tensor:
        z_s = class_logits(student, self.scale) / self.temperature  # [N, K]
        z_t = class_logits(teacher, self.scale) / self.temperature
        target = F.one_hot(labels, z_s.shape[1]).bool()  # [N, K]
        p_s, p_t = z_s.softmax(1), z_t.softmax(1)
        b_s = torch.stack([(p_s * target).sum(1), (p_s * ~target).sum(1)], 1)  # [N, 2]
        b_t = torch.stack([(p_t * target).sum(1), (p_t * ~target).sum(1)], 1)
        tckd = (b_t * (b_t.clamp_min(1e-12).log() - b_s.clamp_min(1e-12).log())).sum(1)  # [N]
        # Non-target distributions: mask the target logit out before the softmax.
        log_q_s = F.log_softmax(z_s.masked_fill(target, -1e9), 1)
        log_q_t = F.log_softmax(z_t.masked_fill(target, -1e9), 1)
        nckd = (log_q_t.exp() * (log_q_t - log_q_s)).masked_fill(target, 0).sum(1)  # [N]
        return (self.alpha * tckd + self.beta * nckd).mean() * self.temperature**2

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, T={self.temperature}, scale={self.scale}"
