"""Bench output: the results document, accuracy joined explicitly by model name, and the plots."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gaitcompress.bench.latency import BenchSpec
from gaitcompress.bench.plots import plot_latency, plot_pareto
from gaitcompress.results import make_results, read_results, write_results


@dataclasses.dataclass
class AccuracyJoin:
    """Accuracy rows given this bench's latency, and what could not be matched either way.

    A row matches a bench model when the model's NAME equals the row's `method` or its pipeline `stage`
    (`teacher`, `student`, `quant-qgait8`, ...). Unmatched rows are kept out of the joined list, and every joined
    row's old latency is replaced, so new timings are never mixed with a report's old ones.
    """

    rows: list[dict[str, Any]]
    unmatched_rows: list[str]  # `method` (label) of accuracy rows no bench model matched
    unmatched_models: list[str]  # bench model names no accuracy row matched


def join_accuracy(rows: Sequence[Mapping[str, Any]], accuracy_files: Sequence[str | Path]) -> AccuracyJoin:
    """Accuracy rows from other results files, each given the latency of the bench row of the same model.

    The latency attached is the first measured for that model (first backend, batch and frame count).
    """
    latency: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        latency.setdefault(row["method"], row["latency"])
    joined, unmatched, used = [], [], set()
    for path in accuracy_files:
        for row in read_results(path)["rows"]:
            if "metrics" not in row:
                continue
            name = next((k for k in (row.get("method"), row.get("stage")) if k in latency), None)
            if name is None:
                unmatched.append(f"{row.get('method', '?')} ({row.get('label', '')})".replace(" ()", ""))
                continue
            used.add(name)
            joined.append({**row, "latency": {**latency[name], "bench_model": name}})
    return AccuracyJoin(joined, unmatched, [m for m in latency if m not in used])


def write_bench(
    rows: Sequence[Mapping[str, Any]],
    spec: BenchSpec,
    path: str | Path,
    accuracy_rows: Sequence[Mapping[str, Any]] = (),
    plots: str | Path | None = None,
) -> dict[str, Any]:
    """Write the bench results (JSON + MD) and, when asked, latency and Pareto PNGs."""
    inputs = sorted({tuple(r["latency"]["input"]) for r in rows if "input" in r["latency"]})
    frames = sorted({r["latency"]["frames"] for r in rows})
    size: list[Any] = list(inputs[0]) if len(inputs) == 1 else [list(i) for i in inputs]  # [H, W], or one per size
    dataset = {"name": "random-silhouettes", "input": size, "frames": frames}
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
