"""`gaitcompress gate`: fail CI when accuracy (or latency) regresses against a committed baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gaitcompress.commands._common import out


def gate(
    results: Annotated[Path, typer.Argument(help="metrics.json / results JSON to check.", show_default=False)],
    baseline: Annotated[Path, typer.Option(help="Committed baseline, e.g. bench/baselines/ci-synthgait.json.")],
    tol: Annotated[list[str] | None, typer.Option(help="Per-metric tolerance in points, METRIC=NUMBER.")] = None,
    default_tol: Annotated[float, typer.Option(help="Tolerance (points) for metrics without --tol.")] = 1.0,
    latency_tol: Annotated[
        float | None, typer.Option(help="Also gate latency ratios; allowed relative growth, e.g. 0.25.")
    ] = None,
    update: Annotated[bool, typer.Option(help="Deliberately rewrite the baseline from RESULTS first.")] = False,
) -> None:
    """Compare RESULTS against BASELINE; exit 1 with a table of what regressed."""
    from gaitcompress.bench.gate import parse_tolerances, run_gate

    checks = run_gate(results, baseline, parse_tolerances(tol or []), default_tol, latency_tol, update)
    table = Table(title=f"gate: {results} vs {baseline}")
    for col in ("row", "metric", "baseline", "current", "Δ", "tolerance", "status"):
        table.add_column(col, justify="right" if col not in ("row", "metric", "status") else "left")
    for c in checks:
        fmt = lambda v: "missing" if v is None else f"{v:.2f}"  # noqa: E731
        status = "[green]ok[/]" if c.passed else "[bold red]REGRESSED[/]"
        table.add_row(c.row, c.metric, fmt(c.baseline), fmt(c.current), fmt(c.delta), f"{c.tolerance:g}", status)
    out.print(table)
    failed = [c for c in checks if not c.passed]
    if failed:
        out.print(f"[bold red]{len(failed)} of {len(checks)} checks regressed[/]")
        raise typer.Exit(1)
    out.print(f"[green]all {len(checks)} checks passed[/]")
