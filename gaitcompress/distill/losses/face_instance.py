"""Unified face KD (Mishra & Uikey 2025), part 1: instance-level embedding distillation with dynamic hard mining.

The paper names the idea (align each sample's embedding, weighted toward samples the student still gets
wrong, with a schedule) but gives no formula; this is the one chosen here. Per part, the student's
embedding (mapped to the teacher's width by a connector) is compared with the teacher's by cosine:

    δ_n   = mean_p ( 1 − cos(s_n[:, p], t_n[:, p]) )                        discrepancy of sample n
    γ     = γ_max · progress                                               0 at the start → γ_max at the end
    w_n   = δ̄_n^γ / mean_m δ̄_m^γ,   δ̄ = stop_gradient(δ)                   mean weight 1
    L     = mean_n w_n · δ_n

So training starts as plain cosine embedding distillation (γ = 0: all samples equal) and increasingly
focuses on the hard samples (large teacher–student discrepancy) as the student matures; the weights are
detached so the mining only re-weights, never pushes. `progress` ∈ [0, 1] is set by the training module.
Inputs: [N, C, P] (or [N, D]), same shape for student and teacher.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.distill.losses import DISTILL_LOSSES


@DISTILL_LOSSES.register("face_instance")
class InstanceEmbeddingDistill(nn.Module):
    def __init__(self, gamma_max: float = 2.0) -> None:
        super().__init__()
        self.gamma_max = gamma_max
        self.progress = 0.0

    def set_progress(self, progress: float) -> None:
        self.progress = min(max(float(progress), 0.0), 1.0)

    def forward(self, student: Tensor, teacher: Tensor, labels: Tensor | None = None) -> Tensor:
        if student.dim() == 2:
            student, teacher = student.unsqueeze(-1), teacher.unsqueeze(-1)  # [N, D, 1]
        delta = (1 - F.cosine_similarity(student, teacher, dim=1)).clamp_min(0).mean(1)  # [N]
        hard = delta.detach().clamp_min(1e-8).pow(self.gamma_max * self.progress)  # [N]
        weights = hard / hard.mean()
        return (weights * delta).mean()

    def extra_repr(self) -> str:
        return f"gamma_max={self.gamma_max}"
