"""GaitKD decision level: part-calibrated logit distillation.

GaitKD (Li et al. 2026) transfers the teacher's inter-class decision relations part by part, since a
part-based gait model classifies each horizontal strip on its own (OpenGait's BNNeck gives logits per part).
Each part's cosine logits are calibrated with the CE scale `s` (the logits in the output dict are unscaled
cosines; training multiplies them by s = 16) before the usual temperature:

    L = T² · mean_p  mean_n  KL( softmax(s·z_t[n,:,p] / T) ‖ softmax(s·z_s[n,:,p] / T) )

with s = 16, T = 4 (DESIGN §8). Inputs: student and teacher logits [N, K, P] (same K and P after routing).
"""

from __future__ import annotations

from torch import Tensor, nn

from gaitcompress.distill.losses import DISTILL_LOSSES
from gaitcompress.distill.losses._functional import soft_kl


@DISTILL_LOSSES.register("part_logit_kd")
class PartLogitKD(nn.Module):
    def __init__(self, temperature: float = 4.0, scale: float = 16.0) -> None:
        super().__init__()
        self.temperature = temperature
        self.scale = scale

    def forward(self, student: Tensor, teacher: Tensor, labels: Tensor | None = None) -> Tensor:
        if student.dim() == 2:  # [N, K]: a single-part model
            student, teacher = student.unsqueeze(-1), teacher.unsqueeze(-1)
        kl = soft_kl(self.scale * teacher, self.scale * student, self.temperature, dim=1)  # [N, P]
        return kl.mean() * self.temperature**2

    def extra_repr(self) -> str:
        return f"T={self.temperature}, scale={self.scale}"
