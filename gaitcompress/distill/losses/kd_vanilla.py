"""Vanilla logit KD (Hinton et al. 2015), the baseline that ignores the part structure.

A part-based model has no single class score, so this baseline first *averages* the cosine logits over
parts (the choice a part-unaware KD makes: one [N, K] score per sequence), then applies Hinton's loss:

    z = s · mean_p z[:, :, p]                   (s = CE scale 16)
    L = T² · mean_n KL( softmax(z_t / T) ‖ softmax(z_s / T) )

Inputs: logits [N, K, P] or [N, K]. Compare with `part_logit_kd`, which keeps one distribution per part.
"""

from __future__ import annotations

from torch import Tensor, nn

from gaitcompress.distill.losses import DISTILL_LOSSES
from gaitcompress.distill.losses._functional import soft_kl


def class_logits(logits: Tensor, scale: float) -> Tensor:
    """[N, K, P] cosine logits → [N, K] scaled part-mean logits (a [N, K] input is only scaled)."""
    return scale * (logits.mean(-1) if logits.dim() == 3 else logits)


@DISTILL_LOSSES.register("kd_vanilla")
class VanillaKD(nn.Module):
    def __init__(self, temperature: float = 4.0, scale: float = 16.0) -> None:
        super().__init__()
        self.temperature = temperature
        self.scale = scale

    def forward(self, student: Tensor, teacher: Tensor, labels: Tensor | None = None) -> Tensor:
        z_s, z_t = class_logits(student, self.scale), class_logits(teacher, self.scale)  # [N, K]
        return soft_kl(z_t, z_s, self.temperature, dim=1).mean() * self.temperature**2

    def extra_repr(self) -> str:
        return f"T={self.temperature}, scale={self.scale}"
