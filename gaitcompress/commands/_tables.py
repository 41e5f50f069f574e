"""Rich renderings of evaluation results, shared by every command that prints one."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from gaitcompress.evaluation import EvalResult, result_rows


def rich_table(result: EvalResult, title: str | None = None) -> Table:
    """One row per metric (NM/BG/CL/mean rank-1, then R1/R5/R10, mAP, mINP, per-condition mAP), in percent."""
    table = Table(title=title or f"evaluation ({result.protocol})")
    table.add_column("metric")
    table.add_column("%", justify="right")
    for name, value in result_rows(result):
        table.add_row(name, f"{value:.2f}")
    for name, count in result.counts.items():
        if name.endswith("skipped") and count:
            table.add_row(f"[dim]{name} (probes without a true match)[/]", f"[dim]{count}[/]")
    for name, path in result.files.items():
        table.add_row(name, path)
    return table


def view_tables(result: EvalResult) -> list[Table]:
    """The per-view rank-1 tables (CASIA-B: 11×11 per condition; rows = probe view, columns = gallery view)."""
    tables = []
    for cond, vt in result.tables.items():
        # 12 columns of 5 characters, one space apart: 11 views fit 80 columns (a boxed table needs ~100)
        table = Table(title=f"{cond} rank-1 (%): probe view (rows) × gallery view", box=box.SIMPLE_HEAD,
                      padding=(0, 0, 0, 1), pad_edge=False)  # fmt: skip
        table.add_column("probe")
        for gv in vt.gallery_views:
            table.add_column(gv, justify="right")
        for pv, row in zip(vt.probe_views, vt.values, strict=True):
            cells = ["–" if v is None else f"{v:.0f}" if v >= 99.95 else f"{v:.1f}" for v in row]
            cells = [f"[dim]{c}[/]" if gv == pv else c for c, gv in zip(cells, vt.gallery_views, strict=True)]
            table.add_row(pv, *cells)
        tables.append(table)
    return tables


def results_table(doc: dict, metrics: tuple[str, ...] = ("mean@R1", "R1", "R5", "mAP")) -> Table:
    """A results document (DESIGN §15) as one row per method with the given metrics (mean ± std over seeds)."""
    table = Table(title=doc.get("name"))
    for col in ("label", "bits", "seeds"):
        table.add_column(col)
    present = [m for m in metrics if any(m in row.get("metrics", {}) for row in doc["rows"])]
    for m in present:
        table.add_column(m, justify="right")
    for row in doc["rows"]:
        cells = []
        for m in present:
            value = row.get("metrics", {}).get(m)
            if value is None:
                cells.append("–")
            elif len(value.get("values", [])) > 1:
                cells.append(f"{value['mean']:.2f} ± {value['std']:.2f}")
            else:
                cells.append(f"{value['mean']:.2f}")
        seeds = ",".join(str(s) for s in row.get("seeds", []))
        table.add_row(row.get("label") or row["method"], row.get("bits", ""), seeds, *cells)
    return table


def seeds_table(doc: dict[str, Any]) -> Table:
    """A `--seeds` results table: mean, std and per-seed values of each metric, with the per-run cost."""
    row = doc["rows"][0]
    table = Table(title=f"{doc['name']}: {row['model']}, seeds {row['seeds']}")
    for col in ("metric", "mean", "std", "per seed"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in row["metrics"].items():
        table.add_row(name, f"{m['mean']:.2f}", f"{m['std']:.2f}", "  ".join(f"{v:.2f}" for v in m["values"]))
    wall, cpu = row["train"]["wall_s"], row["train"]["cpu_s"]
    table.caption = f"per run: wall {wall} s, process CPU {cpu} s"
    return table
