"""Gait3D-style retrieval: the `PROBE_SET` sequences against every other test sequence.

Rank-1/5/10, mAP and mINP over probes; probes whose identity is absent from the gallery are
skipped and counted (as Gait3D's evaluator does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gaitcompress.data.batch import SeqMeta
from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation.features import Features
from gaitcompress.evaluation.metrics import label_codes, retrieval_scores
from gaitcompress.evaluation.protocols.base import PROTOCOLS
from gaitcompress.evaluation.ranking import Ranker
from gaitcompress.evaluation.result import EvalResult


def sequence_key(id_: str, type_: str, view: str) -> str:
    """`id-type-view`, the form Gait3D's partition JSON lists its probes in."""
    return f"{id_}-{type_}-{view}"


class ProbeSetProtocol:
    """Probes named by key (`probe_set`) or by sequence type (`probe_types`); the gallery is the rest."""

    name = "gait3d"

    def __init__(
        self, probe_set: Iterable[str | SeqMeta] | None = None, probe_types: Sequence[str] | None = None
    ) -> None:
        if not probe_set and not probe_types:
            raise GaitCompressError(
                "gait3d protocol needs the probe sequences",
                "pass probe_set (the partition's PROBE_SET, 'id-type-view' keys) or probe_types",
            )
        self.probe_set = frozenset(
            sequence_key(p.id, p.type, p.view) if isinstance(p, SeqMeta) else p for p in probe_set or ()
        )
        self.probe_types = frozenset(t.lower() for t in probe_types or ())

    def evaluate(self, features: Features, ranker: Ranker) -> EvalResult:
        is_probe = [
            sequence_key(m.id, m.type, m.view) in self.probe_set or m.type.lower() in self.probe_types
            for m in features.meta
        ]
        probes = [i for i, p in enumerate(is_probe) if p]
        gallery = [i for i, p in enumerate(is_probe) if not p]
        if not probes or not gallery:
            raise GaitCompressError(
                f"gait3d: {len(probes)} probe and {len(gallery)} gallery sequences in the test set",
                "check that PROBE_SET names sequences of this test set ('id-type-view')",
            )
        (labels,) = label_codes(features.ids)
        dist = ranker(features.subset(probes), features.subset(gallery))  # [Np, Ng]
        scores = retrieval_scores(dist, labels[probes], labels[gallery], (1, 5, 10))
        return EvalResult(
            protocol=self.name,
            metrics=scores.percent(),
            counts={"probes": len(probes), "gallery": len(gallery), "skipped": scores.skipped},
        )


@PROTOCOLS.register("gait3d")
def gait3d(
    probe_set: Iterable[str | SeqMeta] | None = None, probe_types: Sequence[str] | None = None
) -> ProbeSetProtocol:
    """Gait3D: PROBE_SET ('id-type-view' keys or `SeqMeta`s) vs all other test sequences; R1/R5/R10, mAP, mINP."""
    return ProbeSetProtocol(probe_set, probe_types)
