"""Bench output: the results document, accuracy joined by method name, and the plots."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gaitcompress.bench.latency import BenchSpec
from gaitcompress.bench.plots import plot_latency, plot_pareto
from gaitcompress.results import make_results, read_results, write_results


def join_accuracy(rows: Sequence[Mapping[str, Any]], accuracy_files: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Accuracy rows from other results files, each given the latency of the bench row of the same method."""
    latency = {}
    for row in rows:
        latency.setdefault(row["method"], row["latency"])  # first backend/batch measured
    joined = []
    for path in accuracy_files:
        for row in read_results(path)["rows"]:
            if "metrics" in row:
                extra = {"latency": latency[row["method"]]} if row["method"] in latency else {}
                joined.append({**row, **extra})
    return joined


def write_bench(
    rows: Sequence[Mapping[str, Any]],
    spec: BenchSpec,
    path: str | Path,
    accuracy_rows: Sequence[Mapping[str, Any]] = (),
    plots: str | Path | None = None,
) -> dict[str, Any]:
    """Write the bench results (JSON + MD) and, when asked, latency and Pareto PNGs."""
    dataset = {"name": "random-silhouettes", "input": list(spec.size), "frames": list(spec.frames)}
    doc = make_results("bench-latency", rows, dataset)
    doc["spec"] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in dataclasses.asdict(spec).items()}
    write_results(doc, path)
    if plots is not None:
        plots = Path(plots)
        plot_latency(rows, plots / "latency.png")
        if accuracy_rows:
            plot_pareto(accuracy_rows, plots / "pareto_bitops.png", x="bitops")
            plot_pareto(accuracy_rows, plots / "pareto_latency.png", x="latency")
    return doc
