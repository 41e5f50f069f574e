"""The accuracy-regression gate: "did my compressed, deployed model lose accuracy?" as checks a CI can trust.

A gate compares a results document (a pipeline report, any §15 table) with a committed baseline. Rows match by
`(method, model, bits)`. Three kinds of check, chosen so that none measures retraining noise:

- `abs`: a metric may fall at most `tol` points below the baseline. Only meaningful where the numbers are
  deterministic — committed checkpoints exported and scored (the CI gate does this single-threaded), never a
  model retrained on another CPU.
- `loss`: the compression loss of a quantized row (bits other than fp32): its metric minus the same metric of
  its `parent` row in the *same* document (w8a8 vs the FP32 student it was quantized from), may grow at most
  `tol` points beyond the baseline's. For an `onnx X` metric the parent's counterpart is its PyTorch `X`:
  the deployed graph is compared with the FP32 model.
- `parity`: within the current document, `onnx mean@R1` / `onnx R1` (onnxruntime) may differ from PyTorch's by
  at most `parity_tol` points, and so may every rank-1 gap an export measured against its reference.

A missing baseline row or metric is a regression (a stage that silently stopped producing a model must not
pass). A malformed, empty or non-finite document is not a regression but an input error (`GateInputError`):
the command exits 2 for it and 1 for a regression, so a CI can tell a broken report from a worse model.
Latency ratios are checked only when asked (`latency_tol`): they are noisy on shared machines.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from gaitcompress.checkpoints import atomic_write_text
from gaitcompress.errors import GaitCompressError
from gaitcompress.results import SCHEMA, read_results

DEFAULT_TOLERANCE = 0.5  # points: a 1-point drop fails, deterministic scoring noise (< 0.05) passes
DEFAULT_PARITY_TOLERANCE = 0.5  # points between onnxruntime and PyTorch in one run
CHECK_KINDS = ("abs", "loss", "parity")
ONNX_PREFIX = "onnx "
# onnxruntime vs PyTorch within a report: the headline only. The rows' PyTorch metrics are the model as trained
# (float bias), so a single cell of a w4a4 model may part by more; each export's own gaps against the deployed
# reference (`parity.*.rank1_gap`) are checked on every rank-1 metric.
PARITY_METRICS = ("onnx mean@R1", "onnx R1")


class GateInputError(GaitCompressError):
    """A report or baseline the gate cannot judge: missing, malformed, empty, or holding non-finite numbers."""


@dataclasses.dataclass(frozen=True)
class Check:
    """One compared quantity: `passed` is False when it regressed beyond its tolerance."""

    kind: str  # abs | loss | parity | latency
    row: str
    metric: str
    baseline: float | None  # abs/loss/latency: the baseline's value; parity: 0 (the ideal gap)
    current: float | None  # None: missing from the results
    tolerance: float
    passed: bool

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "delta": self.delta}


def row_key(row: Mapping[str, Any]) -> str:
    return "/".join(str(row.get(k, "")) for k in ("method", "model", "bits"))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate(doc: Any, where: str) -> dict[str, Any]:
    """The document itself if the gate can judge it; else `GateInputError` naming what is wrong and where."""
    hint = "regenerate it with `gaitcompress pipeline` (or the command in its `command` field)"
    if not isinstance(doc, dict):
        raise GateInputError(f"{where}: not a results document (a JSON object)", hint)
    if doc.get("schema") != SCHEMA:
        raise GateInputError(f"{where}: schema is {doc.get('schema')!r}, expected {SCHEMA!r}", hint)
    rows = doc.get("rows")
    if not isinstance(rows, list) or not rows:
        what = "has no `rows` list" if not isinstance(rows, list) else "has no rows: nothing to check"
        raise GateInputError(f"{where}: {what}", hint)
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not row.get("method"):
            raise GateInputError(f"{where}: rows[{i}] is not a row with a `method`", hint)
        key = row_key(row)
        if key in seen:
            raise GateInputError(f"{where}: two rows are {key} (method/model/bits)", "give each row its own method")
        seen.add(key)
        metrics = row.get("metrics")
        if not isinstance(metrics, dict):
            raise GateInputError(f"{where}: row {key} has no `metrics` object", hint)
        for name, metric in metrics.items():
            mean = metric.get("mean") if isinstance(metric, dict) else None
            if not _finite(mean):
                raise GateInputError(f"{where}: row {key} metric {name!r} is {mean!r}, not a finite number", hint)
    return doc


def read_document(path: str | Path) -> dict[str, Any]:
    """Read and validate a results JSON (NaN / Infinity literals are read, then refused by `validate`)."""
    try:
        doc = read_results(path)
    except GaitCompressError as exc:  # missing, not JSON, another schema: an input error, not a regression
        raise GateInputError(exc.message, exc.hint) from None
    return validate(doc, str(path))


def _mean(row: Mapping[str, Any] | None, metric: str) -> float | None:
    value = (row or {}).get("metrics", {}).get(metric)
    return None if value is None else float(value["mean"])


def _parent_metric(metric: str) -> str:
    return metric.removeprefix(ONNX_PREFIX)


def _parent(row: Mapping[str, Any] | None, rows: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The row this one was compressed from (`parent` names its method), if both are in `rows`."""
    if not row or not row.get("parent"):
        return None
    return next((r for r in rows.values() if r.get("method") == row["parent"]), None)


def _loss(row: Mapping[str, Any] | None, metric: str, rows: Mapping[str, Mapping[str, Any]]) -> float | None:
    parent = _parent(row, rows)
    value, ref = _mean(row, metric), _mean(parent, _parent_metric(metric))
    return None if value is None or ref is None else value - ref


def _export_parity(key: str, base: Mapping[str, Any], row: Mapping[str, Any] | None, tolerance: float) -> list[Check]:
    """The rank-1 gaps each export measured against its own reference (the int32-bias model for `ort` INT8)."""
    out = []
    for fmt, check in (base.get("parity") or {}).items():
        gaps = ((row or {}).get("parity") or {}).get(fmt, {}).get("rank1_gap") or {}
        for metric in check.get("rank1_gap") or {}:
            gap = gaps.get(metric)
            ok = _finite(gap) and abs(gap) <= tolerance
            out.append(
                Check("parity", key, f"{fmt} export {metric}", 0.0, gap if _finite(gap) else None, tolerance, ok)
            )
    return out


def compare(
    results: Mapping[str, Any],
    baseline: Mapping[str, Any],
    tolerances: Mapping[str, float] | None = None,
    default_tolerance: float = DEFAULT_TOLERANCE,
    checks: Sequence[str] = CHECK_KINDS,
    parity_tolerance: float = DEFAULT_PARITY_TOLERANCE,
    latency_tolerance: float | None = None,
) -> list[Check]:
    """Every check of `results` against `baseline` (both validated); per-metric `tolerances` override the default."""
    unknown = sorted(set(checks) - set(CHECK_KINDS))
    if unknown:
        raise GateInputError(f"unknown check kind(s) {', '.join(unknown)}", f"use {', '.join(CHECK_KINDS)}")
    tolerances = dict(tolerances or {})
    current = {row_key(r): r for r in results["rows"]}
    base_rows = {row_key(r): r for r in baseline["rows"]}
    out: list[Check] = []
    for key, base in base_rows.items():
        row = current.get(key)
        for metric in base["metrics"]:
            tol = tolerances.get(metric, default_tolerance)
            if "abs" in checks:
                value, ref = _mean(row, metric), _mean(base, metric)
                out.append(Check("abs", key, metric, ref, value, tol, value is not None and value >= ref - tol))
            if "loss" in checks and base.get("bits", "fp32") != "fp32" and _parent(base, base_rows) is not None:
                value, ref = _loss(row, metric, current), _loss(base, metric, base_rows)
                ok = value is not None and ref is not None and value >= ref - tol
                out.append(Check("loss", key, metric, ref, value, tol, ok))
            if "parity" in checks and metric in PARITY_METRICS and _parent_metric(metric) in base["metrics"]:
                onnx, torch_ = _mean(row, metric), _mean(row, _parent_metric(metric))
                gap = None if onnx is None or torch_ is None else onnx - torch_
                ok = gap is not None and abs(gap) <= parity_tolerance
                out.append(Check("parity", key, metric, 0.0, gap, parity_tolerance, ok))
        if "parity" in checks:
            out += _export_parity(key, base, row, parity_tolerance)
        if latency_tolerance is not None:
            for ref_name, ratio in base.get("latency", {}).get("ratio_to", {}).items():
                value = None if row is None else row.get("latency", {}).get("ratio_to", {}).get(ref_name)
                ok = value is not None and value <= ratio * (1.0 + latency_tolerance)
                out.append(Check("latency", key, f"ratio to {ref_name}", ratio, value, latency_tolerance, ok))
    if not out:
        raise GateInputError(
            "the baseline gives nothing to check with these check kinds",
            f"checks {', '.join(checks)}: `loss` needs rows with a `parent`, `parity` needs `onnx X` metrics",
        )
    return out


def parse_tolerances(items: Iterable[str]) -> dict[str, float]:
    """`['NM@R1=0.5', 'mAP=2']` → {'NM@R1': 0.5, 'mAP': 2.0}."""
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            raise GateInputError(f"tolerance {item!r} is not METRIC=NUMBER", "e.g. --tol NM@R1=0.5") from None
        if not math.isfinite(out[name]) or out[name] < 0:
            raise GateInputError(f"tolerance {item!r} must be a finite number ≥ 0", "e.g. --tol NM@R1=0.5")
    return out


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(text, path)


def summary(checks: Sequence[Check], results: str | Path, baseline: str | Path) -> dict[str, Any]:
    """The machine-readable outcome: every check, counts, and the exit code the command returns."""
    failed = [c for c in checks if not c.passed]
    return {
        "schema": "gaitcompress.gate/1",
        "results": str(results),
        "baseline": str(baseline),
        "passed": not failed,
        "exit_code": 1 if failed else 0,
        "counts": {"checks": len(checks), "failed": len(failed)},
        "checks": [c.to_dict() for c in checks],
    }


def junit_xml(checks: Sequence[Check], name: str = "gaitcompress-gate") -> str:
    """JUnit XML with one test case per check (what CI systems display as a test report)."""
    failed = sum(not c.passed for c in checks)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites><testsuite name={quoteattr(name)} tests="{len(checks)}" failures="{failed}">',
    ]
    for c in checks:
        case = f"<testcase classname={quoteattr(f'{c.kind}.{c.row}')} name={quoteattr(c.metric)}"
        if c.passed:
            lines.append(case + "/>")
            continue
        msg = f"baseline {c.baseline}, current {c.current}, tolerance {c.tolerance}"
        lines.append(f"{case}><failure message={quoteattr(msg)}/></testcase>")
    lines.append("</testsuite></testsuites>")
    return "\n".join(lines) + "\n"


def run_gate(
    results_path: str | Path,
    baseline_path: str | Path,
    tolerances: Mapping[str, float] | None = None,
    default_tolerance: float = DEFAULT_TOLERANCE,
    checks: Sequence[str] = CHECK_KINDS,
    parity_tolerance: float = DEFAULT_PARITY_TOLERANCE,
    latency_tolerance: float | None = None,
    update: bool = False,
) -> list[Check]:
    """Read and validate both documents and compare; with `update`, first replace the baseline by the results."""
    results = read_document(results_path)
    baseline_path = Path(baseline_path)
    if update:
        _write_atomic(baseline_path, json.dumps(results, indent=2))
    if not baseline_path.is_file():
        raise GateInputError(
            f"baseline not found: {baseline_path}", "create it deliberately with --update from a trusted run"
        )
    baseline = read_document(baseline_path)
    return compare(results, baseline, tolerances, default_tolerance, checks, parity_tolerance, latency_tolerance)


def write_summaries(
    checks: Sequence[Check], results: str | Path, baseline: str | Path, json_path: Path | None, junit: Path | None
) -> None:
    """The JSON summary and the JUnit XML, where asked."""
    if json_path is not None:
        _write_atomic(json_path, json.dumps(summary(checks, results, baseline), indent=2))
    if junit is not None:
        _write_atomic(junit, junit_xml(checks))


def write_error_summary(json_path: Path, exc: GateInputError, results: str | Path, baseline: str | Path) -> None:
    """The JSON summary of a gate that could not judge its inputs (exit code 2)."""
    doc = {"schema": "gaitcompress.gate/1", "results": str(results), "baseline": str(baseline), "passed": False,
           "exit_code": 2, "error": exc.message, "hint": exc.hint}  # fmt: skip
    _write_atomic(json_path, json.dumps(doc, indent=2))
