"""GaitKD boundary level: activation-boundary distillation (Heo et al., AAAI 2019) on part embeddings.

GaitKD keeps the teacher's partition of the embedding space rather than regressing feature values: each
embedding channel's sign (a hyperplane through the origin) is a decision boundary, and the student is pushed
to the same side as the teacher with margin m, with no penalty once it is there. GaitKD feeds it the
part-wise retrieval embeddings (`embeddings [N, C, P]`, pre-BNNeck), each part treated as one more sample:

    σ_s, σ_t ∈ R^C per (sample, part)
    ℓ = (σ_s + m)² · [σ_s > −m ∧ σ_t ≤ 0] + (σ_s − m)² · [σ_s ≤ m ∧ σ_t > 0]       (element-wise)
    L = (1 / (N·P)) · Σ_{n,p} Σ_c ℓ                                                   m = 1

i.e. summed over channels (as Heo et al.'s loss, which is why its weight is small, ≈0.003) and averaged
over the N·P (sample, part) pairs. Inputs of any shape [N, C, ...] work: channels on dim 1, every other
position counts as a sample. The student is mapped to the teacher's width by a connector first.
"""

from __future__ import annotations

from torch import Tensor, nn

from gaitcompress.distill.losses import DISTILL_LOSSES


@DISTILL_LOSSES.register("ab")
class ActivationBoundary(nn.Module):
    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, student: Tensor, teacher: Tensor, labels: Tensor | None = None) -> Tensor:
        m = self.margin
        teacher_on = teacher > 0
        loss = (student + m).pow(2) * ((student > -m) & ~teacher_on) + (student - m).pow(2) * (
            (student <= m) & teacher_on
        )
        samples = student.numel() // student.shape[1]  # N · P (· any further spatial positions)
        return loss.sum() / samples

    def extra_repr(self) -> str:
        return f"margin={self.margin}"
