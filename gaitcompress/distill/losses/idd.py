"""QGait inter-class distance-guided distillation (IDD, Eq. 14–15 of QGait).

QGait observes that what compression breaks is the relative distance between samples of *different*
classes, so it distils the distribution of each anchor's distances to the batch's other-class samples
instead of per-sample values. For anchor r and each s with y_s ≠ y_r:

    d(r, s)   = mean_p ‖x_r[:, p] − x_s[:, p]‖₂          (OpenGait's part-mean Euclidean distance)
    q(r, s)   = exp(−d(r, s) / τ) / Σ_{u: y_u ≠ y_r} exp(−d(r, u) / τ)
    L         = (1 / N') · Σ_r Σ_s q_t(r, s) · log( q_t(r, s) / q_s(r, s) )

Choices the paper leaves open, stated: Eq. 14 has no temperature, so τ = 1 by default (exposed because
distance scales differ between models); Eq. 15 sums over (r, s); here the sum over r is divided by the
number N' of anchors that have at least one other-class sample, so the weight does not depend on the batch
size. "Euclidean" is taken as the part-mean distance the models are evaluated with. Distances live in each
model's own space, so student and teacher widths and part counts may differ (no connector needed).
Inputs: embeddings [N, C, P] (or [N, D]) and labels [N].
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.distill.losses import DISTILL_LOSSES
from gaitcompress.distill.losses._functional import part_euclidean

_MASKED = -1e9  # finite "−∞" so masked entries give 0·(x − x) = 0 instead of NaN


@DISTILL_LOSSES.register("idd")
class InterClassDistanceDistill(nn.Module):
    same_shape = False  # compares each model with itself: no alignment, no connector

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, student: Tensor, teacher: Tensor, labels: Tensor) -> Tensor:
        same = labels.unsqueeze(0) == labels.unsqueeze(1)  # [N, N], includes r == s
        valid = (~same).any(1)  # anchors with at least one other-class sample
        if not valid.any():
            return student.sum() * 0.0
        log_q_s = F.log_softmax((-part_euclidean(student) / self.temperature).masked_fill(same, _MASKED), 1)
        log_q_t = F.log_softmax((-part_euclidean(teacher) / self.temperature).masked_fill(same, _MASKED), 1)
        kl = (log_q_t.exp() * (log_q_t - log_q_s)).masked_fill(same, 0.0).sum(1)  # [N]
        return kl[valid].mean()

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
