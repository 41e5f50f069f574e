"""The CI accuracy-regression gate: compare a results document against a committed baseline.

Rows are matched by `(method, model, bits)`. For every metric in the baseline row, the current mean may
fall at most `tolerance` percentage points below the baseline mean (accuracy metrics: higher is better).
Latency is optional: each `latency.ratio_to` entry (a speed ratio, lower is faster) may grow by at most
`latency_tolerance` (relative). A baseline row missing from the results is a regression too: a stage that
silently stopped producing a model must not pass. Only `--update` rewrites a baseline, deliberately.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gaitcompress.errors import GaitCompressError
from gaitcompress.results import read_results

DEFAULT_TOLERANCE = 1.0  # percentage points of accuracy


@dataclasses.dataclass(frozen=True)
class Check:
    """One compared quantity: `passed` is False when it regressed beyond its tolerance."""

    row: str
    metric: str
    baseline: float | None
    current: float | None
    tolerance: float
    passed: bool

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline


def _key(row: Mapping[str, Any]) -> str:
    return "/".join(str(row.get(k, "")) for k in ("method", "model", "bits"))


def compare(
    results: Mapping[str, Any],
    baseline: Mapping[str, Any],
    tolerances: Mapping[str, float] | None = None,
    default_tolerance: float = DEFAULT_TOLERANCE,
    latency_tolerance: float | None = None,
) -> list[Check]:
    """All checks of `results` against `baseline`; per-metric `tolerances` override the default."""
    tolerances = dict(tolerances or {})
    current = {_key(r): r for r in results["rows"]}
    checks: list[Check] = []
    for base_row in baseline["rows"]:
        key = _key(base_row)
        row = current.get(key)
        for name, metric in base_row.get("metrics", {}).items():
            tol = tolerances.get(name, default_tolerance)
            if row is None or name not in row.get("metrics", {}):
                checks.append(Check(key, name, metric["mean"], None, tol, False))
                continue
            value = row["metrics"][name]["mean"]
            checks.append(Check(key, name, metric["mean"], value, tol, value >= metric["mean"] - tol))
        if latency_tolerance is None:
            continue
        for ref, ratio in base_row.get("latency", {}).get("ratio_to", {}).items():
            name = f"latency/{ref}"
            value = None if row is None else row.get("latency", {}).get("ratio_to", {}).get(ref)
            passed = value is not None and value <= ratio * (1.0 + latency_tolerance)
            checks.append(Check(key, name, ratio, value, latency_tolerance, passed))
    return checks


def parse_tolerances(items: list[str]) -> dict[str, float]:
    """`['NM@R1=0.5', 'mAP=2']` → {'NM@R1': 0.5, 'mAP': 2.0}."""
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError as exc:
            raise GaitCompressError(f"tolerance {item!r} is not METRIC=NUMBER", "e.g. --tol NM@R1=0.5") from exc
    return out


def run_gate(
    results_path: str | Path,
    baseline_path: str | Path,
    tolerances: Mapping[str, float] | None = None,
    default_tolerance: float = DEFAULT_TOLERANCE,
    latency_tolerance: float | None = None,
    update: bool = False,
) -> list[Check]:
    """Read both documents and compare; with `update`, first replace the baseline by the results."""
    results = read_results(results_path)
    baseline_path = Path(baseline_path)
    if update:
        baseline_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = baseline_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=2))
        os.replace(tmp, baseline_path)
    if not baseline_path.is_file():
        raise GaitCompressError(
            f"baseline not found: {baseline_path}", "create it deliberately with --update from a trusted run"
        )
    return compare(results, read_results(baseline_path), tolerances, default_tolerance, latency_tolerance)
