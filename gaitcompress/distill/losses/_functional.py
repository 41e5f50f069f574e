"""Small tensor helpers the distillation losses share (one copy each)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gaitcompress.train.losses import pairwise_euclidean


def soft_kl(teacher_logits: Tensor, student_logits: Tensor, temperature: float, dim: int = 1) -> Tensor:
    """KL(softmax(t/T) ‖ softmax(s/T)) along `dim`, summed over it; one value per remaining position.

    teacher_logits, student_logits: same shape, e.g. [N, K] or [N, K, P] with classes on `dim`.
    Returns the per-position KL with `dim` removed (e.g. [N] or [N, P]); callers choose the reduction.
    """
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=dim)
    log_p_s = F.log_softmax(student_logits / temperature, dim=dim)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim)


def part_euclidean(x: Tensor) -> Tensor:
    """Pairwise distance of OpenGait's `euc` metric: mean over parts of per-part Euclidean distance.

    x: [N, C, P] part embeddings → [N, N] distances (a [N, D] input is one part). Built on the training
    losses' `pairwise_euclidean`, whose gradient is 0 (not NaN) at coincident points.
    """
    if x.dim() == 2:
        x = x.unsqueeze(-1)  # [N, D, 1]
    parts = x.permute(2, 0, 1)  # [P, N, C]
    return pairwise_euclidean(parts, parts).mean(0)  # [N, N]


def flatten_samples(x: Tensor) -> Tensor:
    """[N, ...] → [N, D]: one vector per sequence (relation losses compare whole embeddings)."""
    return x.reshape(x.shape[0], -1)  # [N, D]


def eye_like(n: int, device: torch.device) -> Tensor:
    return torch.eye(n, dtype=torch.bool, device=device)
