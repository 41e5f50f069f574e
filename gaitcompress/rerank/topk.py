"""Re-ordering the top K of every probe's ranking, written back as a distance matrix.

Protocols score a distance matrix, so a re-ranker returns one: the top-K entries of each row get their new
distances, and every other entry is shifted past the largest of them by a per-row constant, which keeps their
first-stage order (and tie order) exactly. The result is float64 so the shift loses no precision.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def topk_indices(dist: torch.Tensor, k: int) -> torch.Tensor:
    """The `min(k, Ng)` nearest gallery indices per probe, `[Np, k]`, ties in gallery order (as the metrics sort)."""
    return torch.argsort(dist, dim=1, stable=True)[:, : min(k, dist.shape[1])]


def rerank_topk(
    dist: torch.Tensor, k: int, score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], pairs_per_call: int = 4096
) -> torch.Tensor:
    """Replace the top-k distances of each row by `score(probe_idx [B], gallery_idx [B]) -> [B]`.

    `score` is called on flat batches of at most `pairs_per_call` (probe, candidate) pairs, so the head sees
    many probes at once. Entries outside the top k keep their order and stay behind the re-ranked ones.
    """
    num_probe, num_gallery = dist.shape
    out = dist.double().clone()
    if num_probe == 0 or num_gallery == 0 or k < 1:
        return out
    top = topk_indices(dist, k)  # [Np, k]
    rows = torch.arange(num_probe).unsqueeze(1).expand_as(top)  # [Np, k]
    flat_p, flat_g = rows.reshape(-1), top.reshape(-1)  # [Np·k]
    new = torch.cat(
        [
            score(flat_p[i : i + pairs_per_call], flat_g[i : i + pairs_per_call]).double()
            for i in range(0, flat_p.numel(), pairs_per_call)
        ]
    ).view_as(top)  # [Np, k]
    kth = out.gather(1, top[:, -1:])  # [Np, 1] first-stage distance of the k-th entry
    shift = new.amax(1, keepdim=True) - kth + 1.0  # others move past every re-ranked entry
    out += shift
    out.scatter_(1, top, new)
    return out
