"""First-stage ranking, optionally followed by a re-ranker: the one distance source of every protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from gaitcompress.evaluation.distance import pairwise_distance
from gaitcompress.evaluation.features import Features


class Reranker(Protocol):
    """Anything that refines a probe × gallery distance matrix (k-reciprocal, CarGait)."""

    def __call__(self, dist: torch.Tensor, probe: Features, gallery: Features) -> torch.Tensor:
        """`dist [Np, Ng]` → re-ranked distances of the same shape (smaller = more similar)."""
        ...


@dataclass
class Ranker:
    """Distances between two feature sets: part-averaged `metric`, then `rerank` if given."""

    metric: str = "euc"
    rerank: Reranker | None = None
    block: int = 512

    def __call__(self, probe: Features, gallery: Features) -> torch.Tensor:
        dist = pairwise_distance(probe.embeddings, gallery.embeddings, self.metric, self.block)  # [Np, Ng]
        if self.rerank is not None and len(probe) and len(gallery):
            dist = self.rerank(dist, probe, gallery)
        return dist
