"""`EvalResult`: the metrics and tables one protocol produces."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ViewTable:
    """Rank-1 (%) per (probe view, gallery view); `None` where a cell had no probe or no gallery."""

    probe_views: list[str]
    gallery_views: list[str]
    values: list[list[float | None]]

    def to_dict(self) -> dict[str, Any]:
        return {"probe_views": self.probe_views, "gallery_views": self.gallery_views, "values": self.values}


@dataclass
class EvalResult:
    """What `evaluate` returns.

    metrics  percentages keyed as in docs/architecture.md (`NM@R1`, ..., `R1`, `mAP`, `mINP`); a metric
             that cannot be computed (e.g. no BG probes) is absent, never NaN
    tables   named per-view tables (CASIA-B: one 11×11 per condition)
    counts   bookkeeping such as probes skipped for lack of a true match
    files    paths written by the protocol (GREW submission CSV)
    """

    protocol: str
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, ViewTable] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "metrics": dict(self.metrics),
            "tables": {k: t.to_dict() for k, t in self.tables.items()},
            "counts": dict(self.counts),
            "files": dict(self.files),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)
