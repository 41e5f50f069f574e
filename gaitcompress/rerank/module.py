"""The CarGait training module for the shared engine: ranking loss + classification regulariser.

For a probe p with candidates c_1..c_v (its first-stage top v) and head distances d_j = d(p, c_j), every
(positive i, negative j) pair of candidates is a triplet with the BPR-style loss

    ℓ_ij = −log σ(d_j − d_i) = softplus(d_i − d_j),

weighted by β (0.1) when stage 1 already ranked the positive first (initial_i < initial_j) and by 1 otherwise,
averaged over all triplets of the batch. An MLP classifier on the flattened E_p and E_c (cross-entropy against
the training identity) is added with weight α (0.01). The classifier is trained but not deployed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.rerank.head import CarGaitHead, strip_distance
from gaitcompress.rerank.pairs import PairBatch


def ranking_loss(dist: Tensor, positive: Tensor, initial: Tensor, beta: float) -> Tensor:
    """Weighted BPR loss over all (positive, negative) candidate pairs: `[B, v]` ×3 → scalar."""
    gap = dist.unsqueeze(1) - dist.unsqueeze(2)  # [B, v_i, v_j] = d_j − d_i
    triplet = positive.unsqueeze(2) & ~positive.unsqueeze(1)  # i positive, j negative
    already = initial.unsqueeze(2) < initial.unsqueeze(1)  # stage 1 put the positive first
    weight = torch.where(already, beta, 1.0) * triplet
    return (weight * F.softplus(-gap)).sum() / triplet.sum().clamp_min(1)


class CarGaitModule(nn.Module):
    """`TrainModule`: `training_losses(PairBatch)` → {'rank', 'ce'}; `deploy_model()` → the head alone."""

    def __init__(self, head: CarGaitHead, num_classes: int, hidden: int = 256, beta: float = 0.1, alpha: float = 0.01):
        super().__init__()
        self.head, self.beta, self.alpha = head, beta, alpha
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(head.parts * head.dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def training_losses(self, batch: PairBatch) -> dict[str, Tensor]:
        b, v, s, d = batch.candidates.shape
        probe = batch.probe.unsqueeze(1).expand(b, v, s, d).reshape(b * v, s, d)  # [B·v, s, d]
        e_p, e_c = self.head.embed(probe, batch.candidates.reshape(b * v, s, d))  # [B·v, s, d] ×2
        dist = strip_distance(e_p, e_c).view(b, v)  # [B, v]
        terms = {"rank": ranking_loss(dist, batch.positive, batch.initial, self.beta)}
        if self.alpha > 0:
            logits = self.classifier(torch.cat([e_p, e_c]))  # [2·B·v, K]
            target = torch.cat([batch.probe_labels.repeat_interleave(v), batch.candidate_labels.reshape(-1)])
            terms["ce"] = self.alpha * F.cross_entropy(logits, target)
        return terms

    def deploy_model(self) -> CarGaitHead:
        return self.head
