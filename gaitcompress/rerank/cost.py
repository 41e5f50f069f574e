"""What re-ranking costs per probe on the CPU, against the first-stage ranking it refines (DESIGN §14).

Timed on real test features, in interleaved rounds (every method once per round, medians over rounds), with
one intra-op thread so concurrent jobs on a shared machine disturb the ratio as little as possible:

- `first-stage`: distances of the probe to the whole gallery + the sort (what every query pays);
- `cargait`: the head on the probe's top-K pairs (the extra cost of CarGait; the top K come from stage 1);
- `kreciprocal`: k-reciprocal re-ranking of the probe batch against the gallery (needs probe–probe and
  gallery–gallery distances, so it is timed per batch and divided by the batch size).
Gait-model feature extraction is excluded from all three (it is the same for every method).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from gaitcompress.evaluation import Features, pairwise_distance
from gaitcompress.rerank.cargait import CarGaitReranker
from gaitcompress.rerank.head import CarGaitHead
from gaitcompress.rerank.kreciprocal import KReciprocalReranker
from gaitcompress.rerank.topk import topk_indices


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cost_per_probe(
    probes: Features,
    gallery: Features,
    head: CarGaitHead,
    k: int = 10,
    kreciprocal: KReciprocalReranker | None = None,
    rounds: int = 9,
    metric: str = "euc",
) -> dict[str, Any]:
    """Median milliseconds per probe of each method, one probe at a time (k-reciprocal: per batch ÷ batch)."""
    reranker = CarGaitReranker(head, k)
    fp, fg = reranker._strips(probes), reranker._strips(gallery)  # [Np, s, d], [Ng, s, d]
    top = topk_indices(pairwise_distance(probes.embeddings, gallery.embeddings, metric), k)  # [Np, k]
    n = len(probes)

    def first_stage(i: int) -> None:
        dist = pairwise_distance(probes.embeddings[i : i + 1], gallery.embeddings, metric)  # [1, Ng]
        torch.argsort(dist, dim=1, stable=True)

    def cargait(i: int) -> None:
        head(fp[i : i + 1].expand(top.shape[1], -1, -1), fg[top[i]])  # [k] distances

    def krecip() -> None:
        dist = pairwise_distance(probes.embeddings, gallery.embeddings, metric)
        kreciprocal(dist, probes, gallery)

    samples: dict[str, list[float]] = {"first-stage": [], "cargait": []}
    if kreciprocal is not None:
        samples["kreciprocal"] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for i in range(min(n, 3)):  # burn-in
                first_stage(i)
                cargait(i)
            for r in range(rounds):
                i = r % n
                samples["first-stage"].append(_time(lambda i=i: first_stage(i)))
                samples["cargait"].append(_time(lambda i=i: cargait(i)))
                if kreciprocal is not None:
                    samples["kreciprocal"].append(_time(krecip) / n)
    finally:
        torch.set_num_threads(threads)
    ms = {name: 1000.0 * statistics.median(v) for name, v in samples.items()}
    return {
        "ms_per_probe": ms,
        "ratio_to_first_stage": {name: v / ms["first-stage"] for name, v in ms.items()},
        "probes": n,
        "gallery": len(gallery),
        "k": k,
        "rounds": rounds,
        "threads": 1,
    }
