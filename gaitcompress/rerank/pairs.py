"""CarGait's training set: candidate lists of the frozen model on the training split, as the protocol ranks them.

A list is one training probe against one gallery: its top v first-stage candidates (the probe itself never among
them). Which galleries a probe is ranked against decides what the head learns, so they follow the evaluation
protocol (`blocks`):

- `all_blocks`: every training sequence against all the others — the paper's construction (Gait3D, GREW);
- `cross_view_blocks`: CASIA-B-like sets — each probe-type sequence against the gallery-type sequences of each
  *other* view, one list per (probe, gallery view), exactly the cells the protocol scores. Ranked against
  everything instead, a probe's top v are mostly easy same-view / same-type matches (measured on the quick
  SynthGait student: 20 of 30 candidates true matches, 91 % first-stage rank-1, against 53 % in the test cells),
  and a head trained on them lowers the cross-view rank-1 it is meant to raise (docs/rerank.md).

A list is kept when it holds at least one true match and one impostor, since the ranking loss needs both. Batches
draw lists without replacement (reshuffled every pass), seeded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

import torch

from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation import Features, pairwise_distance
from gaitcompress.rerank.head import strips

Block = tuple[torch.Tensor, torch.Tensor]  # (probe indices, gallery indices) into the training features


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
    """Strips `[N, s, d]` and class labels `[N]` of the training sequences, and the usable candidate lists:
    probe index `[L]`, candidates `[L, v]` and their first-stage distances `[L, v]`."""

    strips: torch.Tensor
    labels: torch.Tensor
    probe: torch.Tensor
    candidates: torch.Tensor
    initial: torch.Tensor

    def __len__(self) -> int:
        return len(self.probe)

    def batch(self, index: torch.Tensor) -> PairBatch:
        """The lists at `index` (`[B]` list indices)."""
        probe, cand = self.probe[index], self.candidates[index]  # [B], [B, v]
        return PairBatch(
            probe=self.strips[probe],
            candidates=self.strips[cand],
            positive=self.labels[cand] == self.labels[probe, None],
            initial=self.initial[index],
            probe_labels=self.labels[probe],
            candidate_labels=self.labels[cand],
        )


def all_blocks(features: Features) -> list[Block]:
    """One block: every sequence against every sequence (self-matches are dropped when lists are built)."""
    everything = torch.arange(len(features))
    return [(everything, everything)]


def cross_view_blocks(features: Features, gallery_types: Collection[str]) -> list[Block]:
    """One block per (probe view, other gallery view): probe-type sequences of the first against gallery-type
    sequences of the second, as a cross-view protocol (CASIA-B, OU-MVLP) ranks them."""
    gallery_types = {t.lower() for t in gallery_types}
    is_gallery = torch.tensor([t.lower() in gallery_types for t in features.types])
    views = features.views
    blocks = []
    for pv in sorted(set(views)):
        in_pv = torch.tensor([v == pv for v in views])
        probes = (in_pv & ~is_gallery).nonzero().squeeze(1)
        if not len(probes):
            continue
        for gv in sorted(set(views) - {pv}):
            gallery = (torch.tensor([v == gv for v in views]) & is_gallery).nonzero().squeeze(1)
            if len(gallery):
                blocks.append((probes, gallery))
    return blocks


def build_pair_set(
    features: Features,
    source: str = "parts",
    top_v: int = 30,
    metric: str = "euc",
    blocks: list[Block] | None = None,
) -> PairSet:
    """Rank each block's probes against its gallery by the first-stage distance and keep every list's top v
    (v = `top_v`, or the smallest gallery when that is smaller). `blocks` default: `all_blocks`."""
    blocks = all_blocks(features) if blocks is None else blocks
    if not blocks:
        raise GaitCompressError("no (probe, gallery) block to build training lists from", "check the train split")
    ids = sorted(set(features.ids))
    labels = torch.tensor([ids.index(i) for i in features.ids], dtype=torch.long)
    v = min(top_v, *(len(g) - int(torch.isin(p, g).any()) for p, g in blocks))  # self-matches are not candidates
    probe, candidates, initial = [], [], []
    for p, g in blocks:
        dist = pairwise_distance(features.embeddings[p], features.embeddings[g], metric)  # [|p|, |g|]
        dist[p[:, None] == g[None, :]] = float("inf")  # a probe is never its own candidate
        order = torch.argsort(dist, dim=1, stable=True)[:, :v]  # [|p|, v], ties in gallery order
        probe.append(p)
        candidates.append(g[order])
        initial.append(dist.gather(1, order))
    probe, candidates, initial = torch.cat(probe), torch.cat(candidates), torch.cat(initial)  # [L], [L, v] ×2
    positive = labels[candidates] == labels[probe, None]
    usable = positive.any(1) & ~positive.all(1)
    if not usable.any():
        raise GaitCompressError(
            f"no training probe has both a true match and an impostor among its top {top_v}",
            "use more training identities/sequences or a larger pairs.top_v",
        )
    source_tensor = features.parts if source == "parts" else features.embeddings
    if source_tensor is None:
        raise GaitCompressError("training features carry no `parts`", "extract them with keep_parts=True")
    return PairSet(strips(source_tensor, source), labels, probe[usable], candidates[usable], initial[usable])


def pair_batches(pairs: PairSet, probes_per_batch: int, seed: int) -> Iterator[PairBatch]:
    """Infinite `PairBatch`es of `probes_per_batch` usable lists, every list once per pass."""
    gen = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(pairs), generator=gen)
        for start in range(0, len(order) - probes_per_batch + 1, probes_per_batch):
            yield pairs.batch(order[start : start + probes_per_batch])
        if len(order) < probes_per_batch:
            yield pairs.batch(order)
