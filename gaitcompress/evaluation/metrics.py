"""Retrieval metrics from a distance matrix: CMC Rank-k, mAP and mINP (DESIGN.md §7).

For one probe, sort the gallery by ascending distance (stable: ties keep gallery order) and mark the
true matches (same identity) h_1..h_Ng:

- Rank-k hit: any h_j = 1 with j ≤ k.
- AP = 1/M · Σ_j h_j · (Σ_{i≤j} h_i) / j, with M = Σ_j h_j true matches.
- INP = M / R_last, R_last the 1-based rank of the last true match (Gait3D's mINP).

Probes with no true match in the gallery are skipped (and counted), as Gait3D's evaluator does.
`RetrievalScores` keeps sums, so scores of disjoint probe subsets add up exactly (`a + b`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

DEFAULT_RANKS = (1, 5, 10)


@dataclass
class RetrievalScores:
    """Summed per-probe scores; `percent()` turns them into the reported percentages."""

    ranks: tuple[int, ...] = DEFAULT_RANKS
    hits: dict[int, int] = field(default_factory=dict)  # rank k → probes with a true match in the top k
    ap_sum: float = 0.0
    inp_sum: float = 0.0
    valid: int = 0  # probes with at least one true match
    skipped: int = 0  # probes without a true match in the gallery

    def __add__(self, other: RetrievalScores) -> RetrievalScores:
        if self.ranks != other.ranks:
            raise ValueError(f"cannot add scores over ranks {self.ranks} and {other.ranks}")
        return RetrievalScores(
            ranks=self.ranks,
            hits={k: self.hits.get(k, 0) + other.hits.get(k, 0) for k in self.ranks},
            ap_sum=self.ap_sum + other.ap_sum,
            inp_sum=self.inp_sum + other.inp_sum,
            valid=self.valid + other.valid,
            skipped=self.skipped + other.skipped,
        )

    def percent(self) -> dict[str, float]:
        """`{'R1', 'R5', ..., 'mAP', 'mINP'}` in percent; empty when no probe had a true match."""
        if self.valid == 0:
            return {}
        out = {f"R{k}": 100.0 * self.hits.get(k, 0) / self.valid for k in self.ranks}
        out["mAP"] = 100.0 * self.ap_sum / self.valid
        out["mINP"] = 100.0 * self.inp_sum / self.valid
        return out


def label_codes(*groups: Sequence[str]) -> list[torch.Tensor]:
    """Map string labels of several lists to shared integer codes (one long tensor per list)."""
    vocab = {name: i for i, name in enumerate(sorted({n for g in groups for n in g}))}
    return [torch.tensor([vocab[n] for n in g], dtype=torch.long) for g in groups]


def retrieval_scores(
    dist: torch.Tensor,
    probe_labels: torch.Tensor,
    gallery_labels: torch.Tensor,
    ranks: Sequence[int] = DEFAULT_RANKS,
    max_elements: int = 1 << 22,
) -> RetrievalScores:
    """Scores of `dist [Np, Ng]` given integer labels `[Np]`, `[Ng]`.

    Probes are processed in chunks of `max_elements // Ng` rows, so the sort indices and cumulative
    sums stay within ≈ `max_elements` entries each (32 MB of int64 at the default) for any gallery.
    """
    ranks = tuple(int(k) for k in ranks)
    scores = RetrievalScores(ranks=ranks, hits=dict.fromkeys(ranks, 0))
    num_probe, num_gallery = dist.shape
    if num_probe == 0:
        return scores
    if num_gallery == 0:
        scores.skipped = num_probe
        return scores
    rows = max(1, max_elements // num_gallery)
    positions = torch.arange(1, num_gallery + 1, dtype=torch.float64)  # 1-based ranks
    for start in range(0, num_probe, rows):
        d = dist[start : start + rows]
        order = torch.argsort(d, dim=1, stable=True)  # [b, Ng]
        hits = gallery_labels[order] == probe_labels[start : start + rows, None]  # [b, Ng] bool, sorted
        num_true = hits.sum(1)  # [b]
        ok = num_true > 0
        scores.skipped += int((~ok).sum())
        hits, num_true = hits[ok], num_true[ok].double()
        if hits.shape[0] == 0:
            continue
        scores.valid += hits.shape[0]
        for k in ranks:
            scores.hits[k] += int(hits[:, :k].any(1).sum())
        h = hits.double()
        precision = h.cumsum(1) / positions  # [b, Ng] precision at each rank
        scores.ap_sum += float(((precision * h).sum(1) / num_true).sum())
        last = (h * positions).amax(1)  # [b] rank of the last true match
        scores.inp_sum += float((num_true / last).sum())
    return scores
