"""Cross-view protocols: CASIA-B (and SynthGait, which copies its layout) and OU-MVLP.

CASIA-B as OpenGait evaluates it: gallery NM#01-04; probe conditions NM#05-06, BG#01-02, CL#01-02.
For every (probe view, gallery view) cell the gallery is restricted to that view and rank-1 is
computed; identical-view cells are excluded; a condition's rank-1 is the mean over probe views of the
mean over the other gallery views. Cells without probes or gallery are skipped, so sets with missing
views or types still evaluate; a test set with no scorable pair at all is an error, never an empty table.

Beyond OpenGait, the pooled cross-view retrieval gives the table an mAP column: each probe is ranked
against the whole gallery minus its own view (the same "identical views excluded" rule); `{cond}@mAP`
per condition, and `R1/R5/R10/mAP/mINP` pooled over all probes.

OU-MVLP is the same protocol with gallery sequence `01` and one probe condition, sequence `00`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation.features import Features
from gaitcompress.evaluation.metrics import RetrievalScores, label_codes, retrieval_scores
from gaitcompress.evaluation.protocols.base import PROTOCOLS, mean, sort_views
from gaitcompress.evaluation.ranking import Ranker
from gaitcompress.evaluation.result import EvalResult, ViewTable

CASIAB_GALLERY = ("nm-01", "nm-02", "nm-03", "nm-04")
CASIAB_CONDITIONS = {"NM": ("nm-05", "nm-06"), "BG": ("bg-01", "bg-02"), "CL": ("cl-01", "cl-02")}


class CrossViewProtocol:
    """Per-view rank-1 tables per probe condition, identical views excluded, plus pooled retrieval."""

    def __init__(self, name: str, gallery_types: Sequence[str], conditions: Mapping[str, Sequence[str]]) -> None:
        self.name = name
        self.gallery_types = frozenset(t.lower() for t in gallery_types)
        self.conditions = {c: frozenset(t.lower() for t in types) for c, types in conditions.items()}
        for cond, types in self.conditions.items():
            if types & self.gallery_types:
                shared = sorted(types & self.gallery_types)
                raise GaitCompressError(
                    f"{name}: probe condition {cond} shares types {shared} with the gallery",
                    "probe and gallery sequence types must be disjoint",
                )

    def evaluate(self, features: Features, ranker: Ranker) -> EvalResult:
        types = [t.lower() for t in features.types]
        views = features.views
        (labels,) = label_codes(features.ids)
        gallery = [i for i, t in enumerate(types) if t in self.gallery_types]
        if not gallery:
            raise GaitCompressError(
                f"{self.name}: no gallery sequences of types {sorted(self.gallery_types)} in the test set",
                f"the test set has types {sorted(set(types))}; {self._needs()}",
            )
        all_views = sort_views(views)
        gallery_by_view = {v: [i for i in gallery if views[i] == v] for v in all_views}
        result = EvalResult(protocol=self.name)
        pooled = RetrievalScores(hits={1: 0, 5: 0, 10: 0})

        def score(probe: list[int], gal: list[int], ranks: tuple[int, ...]) -> RetrievalScores:
            dist = ranker(features.subset(probe), features.subset(gal))  # [len(probe), len(gal)]
            return retrieval_scores(dist, labels[probe], labels[gal], ranks)

        for cond, cond_types in self.conditions.items():
            probes = [i for i, t in enumerate(types) if t in cond_types]
            if not probes:
                continue
            table: list[list[float | None]] = [[None] * len(all_views) for _ in all_views]
            cond_pooled = RetrievalScores(hits={1: 0, 5: 0, 10: 0})
            for r, pv in enumerate(all_views):
                probe_v = [i for i in probes if views[i] == pv]
                if not probe_v:
                    continue
                for c, gv in enumerate(all_views):
                    if gallery_by_view[gv]:
                        cell = score(probe_v, gallery_by_view[gv], (1,)).percent()
                        table[r][c] = cell.get("R1")
                others = [i for i in gallery if views[i] != pv]
                if others:
                    cond_pooled += score(probe_v, others, (1, 5, 10))
            row_means = [mean(v for c, v in enumerate(row) if c != r) for r, row in enumerate(table)]
            cond_r1 = mean(row_means)
            result.tables[cond] = ViewTable(list(all_views), list(all_views), table)
            if cond_r1 is not None:
                result.metrics[f"{cond}@R1"] = cond_r1
            if "mAP" in cond_pooled.percent():
                result.metrics[f"{cond}@mAP"] = cond_pooled.percent()["mAP"]
            result.counts[f"{cond}_probes"] = len(probes)
            result.counts[f"{cond}_skipped"] = cond_pooled.skipped
            pooled += cond_pooled
        if not result.metrics:  # no probe of any condition met a gallery sequence of its id in another view
            raise GaitCompressError(
                f"{self.name}: no probe/gallery pairs to score in the test set (it has types {sorted(set(types))}, "
                f"views {all_views})",
                self._needs(),
            )
        overall = mean(result.metrics.get(f"{c}@R1") for c in self.conditions)
        if overall is not None:
            result.metrics["mean@R1"] = overall
        result.metrics.update(pooled.percent())
        result.counts["gallery"] = len(gallery)
        return result

    def _needs(self) -> str:
        """What this protocol scores, as the hint of an unscorable test set."""
        probes = "; ".join(f"{cond} {', '.join(sorted(t))}" for cond, t in self.conditions.items())
        return (
            f"{self.name} ranks probes ({probes}) against a gallery of {', '.join(sorted(self.gallery_types))} "
            "sequences of the same ids in other views: check data.protocol and the partition's TEST_SET"
        )


@PROTOCOLS.register("casiab")
def casiab(
    gallery_types: Sequence[str] = CASIAB_GALLERY, conditions: Mapping[str, Sequence[str]] | None = None
) -> CrossViewProtocol:
    """CASIA-B / SynthGait: NM#01-04 gallery; NM#05-06, BG#01-02, CL#01-02 probes."""
    return CrossViewProtocol("casiab", gallery_types, conditions or CASIAB_CONDITIONS)


@PROTOCOLS.register("oumvlp")
def oumvlp(gallery_types: Sequence[str] = ("01",), probe_types: Sequence[str] = ("00",)) -> CrossViewProtocol:
    """OU-MVLP: sequence 00 probes against sequence 01 gallery, per view pair, identical views excluded."""
    return CrossViewProtocol("oumvlp", gallery_types, {"NM": probe_types})
