"""GEI nearest-neighbour baseline: how hard a dataset is before any model is trained.

A gait energy image (Han & Bhanu 2006) is the mean silhouette of a sequence; ranking test sequences
by Euclidean distance between GEIs, under the dataset's evaluation protocol, gives a model-free floor.
`data check` reports it so a SynthGait difficulty setting can be judged at once (cross-view rank-1
should be well below 100% and ordered NM > BG > CL, like CASIA-B).
"""

from __future__ import annotations

import torch

from gaitcompress.data.config import DataConfig
from gaitcompress.data.loader import build_test_loader
from gaitcompress.evaluation.extract import evaluate
from gaitcompress.evaluation.features import Features
from gaitcompress.evaluation.result import EvalResult
from gaitcompress.progress import NULL, Tracker


def gei_features(cfg: DataConfig, split: str = "test", tracker: Tracker = NULL) -> Features:
    """One GEI per sequence of `split`: the mean over its valid frames, flattened as embeddings `[N, H·W, 1]`."""
    geis, meta = [], []
    loader = build_test_loader(cfg, split)
    with tracker.task("GEI features", total=len(loader)) as step:
        for batch in loader:
            valid = torch.arange(batch.sils.shape[1])[None, :] < batch.lengths[:, None]  # [N, T]
            total = (batch.sils * valid[:, :, None, None]).sum(1)  # [N, H, W]
            geis.append((total / batch.lengths[:, None, None]).flatten(1))  # [N, H·W]
            meta += batch.meta
            step(1)
    return Features(embeddings=torch.cat(geis)[:, :, None], meta=meta)  # [N, H·W, 1]: one "part"


def gei_baseline(cfg: DataConfig, tracker: Tracker = NULL) -> EvalResult:
    """The dataset's protocol (`cfg.protocol`) scored with GEI features and Euclidean distance.

    Scoring runs on one torch thread (restored afterwards): the per-cell distance matrices are small, and on
    the shared 2-core machine multi-threaded scoring took minutes instead of 1.5 s (threads fight for cores).
    """
    features = gei_features(cfg, "test", tracker)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return evaluate(features, cfg.protocol, metric="euc")
    finally:
        torch.set_num_threads(threads)


def same_view_rank1(result: EvalResult) -> dict[str, float]:
    """Mean rank-1 of the identical-view cells (the protocol excludes them; a difficulty diagnostic)."""
    out = {}
    for cond, table in result.tables.items():
        diag = [row[i] for i, row in enumerate(table.values) if i < len(row) and row[i] is not None]
        if diag:
            out[cond] = sum(diag) / len(diag)
    return out
