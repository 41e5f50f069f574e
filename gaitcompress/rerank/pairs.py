"""CarGait's training set: each training sequence as a probe against its top-v first-stage candidates.

The frozen gait model's features of the training split are ranked against each other (the probe itself
excluded); a probe is kept when its top v hold at least one true match and one impostor, since the ranking
loss needs both. Batches draw probes without replacement (reshuffled every pass), seeded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation import Features, pairwise_distance
from gaitcompress.rerank.head import strips
from gaitcompress.rerank.topk import topk_indices


@dataclass
class PairBatch:
    """One training step: B probes × their v candidates.

    probe [B, s, d], candidates [B, v, s, d]; positive [B, v] bool (same identity);
    initial [B, v] first-stage distances; probe_labels [B], candidate_labels [B, v] class indices.
    """

    probe: torch.Tensor
    candidates: torch.Tensor
    positive: torch.Tensor
    initial: torch.Tensor
    probe_labels: torch.Tensor
    candidate_labels: torch.Tensor

    def to(self, device: torch.device | str) -> PairBatch:
        return PairBatch(*(t.to(device) for t in vars(self).values()))


@dataclass
class PairSet:
    """Strips `[N, s, d]`, class labels `[N]`, top-v candidates and their first-stage distances `[N, v]`."""

    strips: torch.Tensor
    labels: torch.Tensor
    candidates: torch.Tensor
    initial: torch.Tensor
    probes: torch.Tensor  # indices of the usable probes

    def batch(self, index: torch.Tensor) -> PairBatch:
        cand = self.candidates[index]  # [B, v]
        return PairBatch(
            probe=self.strips[index],
            candidates=self.strips[cand],
            positive=self.labels[cand] == self.labels[index, None],
            initial=self.initial[index],
            probe_labels=self.labels[index],
            candidate_labels=self.labels[cand],
        )


def build_pair_set(features: Features, source: str = "parts", top_v: int = 30, metric: str = "euc") -> PairSet:
    """Rank the training features against each other and keep every probe's top `top_v` candidates."""
    ids = sorted(set(features.ids))
    labels = torch.tensor([ids.index(i) for i in features.ids], dtype=torch.long)
    dist = pairwise_distance(features.embeddings, features.embeddings, metric)  # [N, N]
    dist.fill_diagonal_(float("inf"))  # a probe is never its own candidate
    candidates = topk_indices(dist, top_v)[:, : len(features) - 1]  # [N, v]
    initial = dist.gather(1, candidates)
    positive = labels[candidates] == labels[:, None]
    usable = positive.any(1) & ~positive.all(1)
    if not usable.any():
        raise GaitCompressError(
            f"no training probe has both a true match and an impostor among its top {top_v}",
            "use more training identities/sequences or a larger pairs.top_v",
        )
    source_tensor = features.parts if source == "parts" else features.embeddings
    if source_tensor is None:
        raise GaitCompressError("training features carry no `parts`", "extract them with keep_parts=True")
    return PairSet(strips(source_tensor, source), labels, candidates, initial, usable.nonzero().squeeze(1))


def pair_batches(pairs: PairSet, probes_per_batch: int, seed: int) -> Iterator[PairBatch]:
    """Infinite `PairBatch`es of `probes_per_batch` usable probes, every probe once per pass."""
    gen = torch.Generator().manual_seed(seed)
    while True:
        order = pairs.probes[torch.randperm(len(pairs.probes), generator=gen)]
        for start in range(0, len(order) - probes_per_batch + 1, probes_per_batch):
            yield pairs.batch(order[start : start + probes_per_batch])
        if len(order) < probes_per_batch:
            yield pairs.batch(order)
