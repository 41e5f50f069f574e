"""Unified face KD (Mishra & Uikey 2025), part 2: relation-based pairwise similarity distillation.

The paper names the ingredients (pairwise similarities, a memory bank, sample mining) but gives no formula;
this is the one chosen here. Sequences are compared by OpenGait-style part cosine, i.e. the mean over parts
of per-part cosine similarity, which is a dot product of the vectors v = flatten(normalize_C(x)) / √P:

    keys  K    = [v_t of the batch ; FIFO bank of the last M teacher vectors]         (teacher space)
    S_t[n, j]  = ⟨v_t[n], K_j⟩,   S_s[n, j] = ⟨v_s[n], K_j⟩                            j ≠ n itself
    mining     J_n = the k keys most similar to sample n by the teacher (S_t), the neighbours that decide
                 retrieval and that a small batch rarely contains
    L          = mean_n mean_{j ∈ J_n} (S_s[n, j] − S_t[n, j])²

The student's vectors are compared against teacher keys, so widths must match (a connector maps the
student); the bank holds detached teacher vectors only, so it never goes stale with respect to the
student. The queue is filled after each training step (FIFO, oldest overwritten). It is a non-persistent
buffer: a resumed run refills it in M / N steps rather than carrying a state tied to one batch size.
Inputs: [N, C, P] (or [N, D]), same shape for student and teacher.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.distill.losses import DISTILL_LOSSES


def part_cosine_vectors(x: Tensor) -> Tensor:
    """[N, C, P] → [N, C·P] unit vectors whose dot product is the mean per-part cosine."""
    if x.dim() == 2:
        x = x.unsqueeze(-1)  # [N, D, 1]
    return F.normalize(x, dim=1).flatten(1) / x.shape[-1] ** 0.5  # [N, C·P]


@DISTILL_LOSSES.register("face_relation")
class RelationSimilarityDistill(nn.Module):
    def __init__(self, bank_size: int = 1024, topk: int = 32) -> None:
        super().__init__()
        self.bank_size = bank_size
        self.topk = topk
        self.register_buffer("bank", torch.empty(0), persistent=False)  # [M', D], grows to [M, D]
        self.ptr = 0

    def forward(self, student: Tensor, teacher: Tensor, labels: Tensor | None = None) -> Tensor:
        v_s, v_t = part_cosine_vectors(student), part_cosine_vectors(teacher.detach())  # [N, D]
        n = v_t.shape[0]
        keys = torch.cat([v_t, self.bank.to(v_t)]) if self.bank.numel() else v_t  # [N + M', D]
        sim_t, sim_s = v_t @ keys.T, v_s @ keys.T  # [N, N + M']
        self_mask = F.pad(torch.eye(n, dtype=torch.bool, device=v_t.device), (0, keys.shape[0] - n))
        k = min(self.topk, keys.shape[0] - 1)
        if k < 1:
            return student.sum() * 0.0
        idx = sim_t.masked_fill(self_mask, -2.0).topk(k, dim=1).indices  # [N, k] mined neighbours
        loss = (sim_s.gather(1, idx) - sim_t.gather(1, idx)).pow(2).mean()
        if self.training:
            self._enqueue(v_t)
        return loss

    @torch.no_grad()
    def _enqueue(self, v: Tensor) -> None:
        """FIFO: append until full, then overwrite the oldest entries."""
        if self.bank.numel() == 0 or self.bank.shape[1] != v.shape[1]:
            self.bank, self.ptr = v.new_empty(0, v.shape[1]), 0
        v = v[-self.bank_size :]
        if self.bank.shape[0] < self.bank_size:
            room = self.bank_size - self.bank.shape[0]
            self.bank, v = torch.cat([self.bank, v[:room]]), v[room:]
        for row in v:  # only reached once the bank is full; N rows per step
            self.bank[self.ptr] = row
            self.ptr = (self.ptr + 1) % self.bank_size

    def extra_repr(self) -> str:
        return f"bank_size={self.bank_size}, topk={self.topk}"
