"""The pipeline report: every stage's accuracy, cost and latency side by side, as JSON, markdown and plots.

Rows come from each stage's own `metrics.json` (so the report never recomputes accuracy), cost from
`export.bitops.bitops_report` on the saved model (BitOPs = MACs for FP32 layers), file sizes from the exports,
and latency from the bench stage. The JSON is the shared results form, so `gaitcompress gate` can check it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gaitcompress.bench.plots import plot_latency, plot_pareto
from gaitcompress.results import make_results, read_results, write_results

ACCURACY_KEYS = ("NM@R1", "BG@R1", "CL@R1", "mean@R1", "R1", "R5", "mAP", "mINP")


def stage_rows(
    outputs: Mapping[str, Mapping[str, Any]],
    models: Sequence[str],
    frames: int,
    input_size: tuple[int, int],
) -> list[dict[str, Any]]:
    """One row per model stage: its metrics.json row plus cost at `frames` frames of `input_size`."""
    from gaitcompress.checkpoints import load_model
    from gaitcompress.export.bitops import bitops_report

    rows = []
    for stage in models:
        out = outputs[stage]
        row: dict[str, Any] = {"method": stage, "stage": stage}
        if "metrics" in out:
            row.update(read_results(out["metrics"])["rows"][0])
            row["stage"] = stage
        row["cost"] = bitops_report(load_model(out["checkpoint"]), frames, input_size).as_cost()
        exports = out.get("exports") or {}
        if exports:
            row["exports"] = exports
            row["cost"]["onnx_bytes"] = {fmt: Path(p).stat().st_size for fmt, p in exports.items()}
        rows.append(row)
    # the row each model was compressed from, by its method: the gate's compression-loss checks pair them
    method = {r["stage"]: r["method"] for r in rows}
    for row in rows:
        parent = outputs[row["stage"]].get("parent")
        if parent in method:
            row["parent"] = method[parent]
    return rows


def attach_latency(rows: list[dict[str, Any]], latency_rows: Sequence[Mapping[str, Any]]) -> None:
    """Give each model row the bench latency measured for the same stage name."""
    by_name = {r["method"]: r["latency"] for r in latency_rows}
    for row in rows:
        if row["stage"] in by_name:
            row["latency"] = by_name[row["stage"]]


def write_report(
    rows: Sequence[Mapping[str, Any]],
    dataset: Mapping[str, Any],
    folder: str | Path,
    name: str,
    command: str | None = None,
) -> dict[str, Any]:
    """`report.json` + `report.md` (table, plots linked) and PNG plots in `folder`."""
    folder = Path(folder)
    doc = make_results(name, rows, dataset, command)
    write_results(doc, folder / "report.json")
    plots = []
    if any("latency" in r for r in rows):
        plots.append(plot_latency(rows, folder / "latency.png", title=f"{name}: latency"))
        plots.append(plot_pareto(rows, folder / "pareto_latency.png", x="latency"))
    plots.append(plot_pareto(rows, folder / "pareto_bitops.png", x="bitops"))
    md = (folder / "report.md").read_text()
    md += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in plots) + "\n"
    (folder / "report.md").write_text(md)
    return doc
