"""GREW: the test probes carry no identity, so the protocol writes the official submission CSV.

One line per probe, `videoId,rank1,...,rank20`: the identities of the 20 nearest gallery sequences
(as OpenGait's GREW evaluator writes them, one entry per gallery sequence). Probe sequences are those
whose id is `probe_id` ('probe' in OpenGait's GREW layout); the video id is read from the `type`
field by default.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation.features import Features
from gaitcompress.evaluation.protocols.base import PROTOCOLS
from gaitcompress.evaluation.ranking import Ranker
from gaitcompress.evaluation.result import EvalResult


def write_grew_submission(path: str | Path, video_ids: Sequence[str], ranked_ids: Sequence[Sequence[str]]) -> Path:
    """Write `videoId,rank1..rankK` atomically (temp file + rename); K = len of each ranked list."""
    path = Path(path)
    if len(video_ids) != len(ranked_ids):
        raise ValueError(f"{len(video_ids)} video ids but {len(ranked_ids)} ranked lists")
    topk = len(ranked_ids[0]) if ranked_ids else 20
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["videoId", *(f"rank{k}" for k in range(1, topk + 1))])
    for vid, ranked in zip(video_ids, ranked_ids, strict=True):
        writer.writerow([vid, *ranked])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(buf.getvalue())
    os.replace(tmp, path)
    return path


class GrewProtocol:
    """Ranks unlabelled probes against the labelled gallery and writes the submission file."""

    name = "grew"

    def __init__(
        self, out: str | Path | None = None, probe_id: str = "probe", video_field: str = "type", topk: int = 20
    ):
        if out is None:
            raise GaitCompressError("grew protocol needs an output path", "pass out=PATH/submission.csv")
        if video_field not in ("id", "type", "view"):
            raise GaitCompressError(f"grew: video_field must be id, type or view, not {video_field!r}")
        self.out, self.probe_id, self.video_field, self.topk = Path(out), probe_id, video_field, topk

    def evaluate(self, features: Features, ranker: Ranker) -> EvalResult:
        probes = [i for i, m in enumerate(features.meta) if m.id == self.probe_id]
        gallery = [i for i, m in enumerate(features.meta) if m.id != self.probe_id]
        if not probes or not gallery:
            raise GaitCompressError(
                f"grew: {len(probes)} probe and {len(gallery)} gallery sequences",
                f"GREW probes are the sequences with id {self.probe_id!r}; set probe_id to match your layout",
            )
        dist = ranker(features.subset(probes), features.subset(gallery))  # [Np, Ng]
        k = min(self.topk, len(gallery))
        top = torch.argsort(dist, dim=1, stable=True)[:, :k]  # [Np, k], ties keep gallery order
        gallery_ids = [features.meta[i].id for i in gallery]
        ranked = [[gallery_ids[j] for j in row] for row in top.tolist()]
        videos = [getattr(features.meta[i], self.video_field) for i in probes]
        write_grew_submission(self.out, videos, ranked)
        return EvalResult(
            protocol=self.name,
            counts={"probes": len(probes), "gallery": len(gallery)},
            files={"submission": str(self.out)},
        )


@PROTOCOLS.register("grew")
def grew(out: str | None = None, probe_id: str = "probe", video_field: str = "type", topk: int = 20) -> GrewProtocol:
    """GREW: write the top-20 submission CSV for the official server."""
    return GrewProtocol(out, probe_id, video_field, topk)
