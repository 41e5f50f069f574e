"""`gaitcompress gate`: exit 1 when accuracy regresses against a committed baseline, 2 when an input is broken."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gaitcompress.commands._common import console, out

EPILOG = (
    "Exit codes: 0 every check passed · 1 a regression · 2 a missing, malformed, empty or non-finite report or "
    "baseline. Example: gaitcompress gate runs/ci/report/report.json --baseline bench/baselines/ci-synthgait.json "
    "--junit gate.xml"
)


def _fmt(value: float | None) -> str:
    return "missing" if value is None else f"{value:.2f}"


def gate(
    results: Annotated[Path, typer.Argument(help="Report / results JSON to check.", show_default=False)],
    baseline: Annotated[Path, typer.Option(help="Committed baseline, e.g. bench/baselines/ci-synthgait.json.")],
    checks: Annotated[
        str, typer.Option(help="Comma-separated check kinds: abs (absolute), loss (vs parent row), parity.")
    ] = "abs,loss,parity",
    tol: Annotated[list[str] | None, typer.Option(help="Per-metric tolerance in points, METRIC=NUMBER.")] = None,
    default_tol: Annotated[float, typer.Option(help="Tolerance (points) for metrics without --tol.")] = 0.5,
    parity_tol: Annotated[float, typer.Option(help="Largest |onnx X − X| (points) within the report.")] = 0.5,
    latency_tol: Annotated[
        float | None, typer.Option(help="Also gate latency ratios; allowed relative growth, e.g. 0.25.")
    ] = None,
    summary: Annotated[Path | None, typer.Option(help="Write every check and the outcome as JSON here.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write a JUnit XML report here (one test per check).")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="List every check, not only the failed ones.")] = False,
    update: Annotated[bool, typer.Option(help="Deliberately rewrite the baseline from RESULTS first.")] = False,
) -> None:
    """Compare RESULTS against BASELINE: absolute accuracy, compression loss and ONNX parity."""
    from gaitcompress.bench.gate import GateInputError, parse_tolerances, run_gate, write_error_summary, write_summaries

    try:
        kinds = [k.strip() for k in checks.split(",") if k.strip()]
        found = run_gate(results, baseline, parse_tolerances(tol or []), default_tol, kinds, parity_tol,
                         latency_tol, update)  # fmt: skip
    except GateInputError as exc:
        console.print(f"[bold red]gate input error:[/] {exc.message}", highlight=False)
        if exc.hint:
            console.print(f"[yellow]hint:[/] {exc.hint}", highlight=False)
        if summary is not None:
            write_error_summary(summary, exc, results, baseline)
        raise typer.Exit(2) from None
    write_summaries(found, results, baseline, summary, junit)
    failed = [c for c in found if not c.passed]
    shown = found if show_all else failed
    if shown:
        table = Table(title="gate checks" if show_all else "failed checks", title_justify="left")
        for col in ("kind", "row", "metric", "base", "now", "Δ", "tol"):
            table.add_column(col, justify="right" if col in ("base", "now", "Δ", "tol") else "left")
        for c in shown:
            style = "" if c.passed else "red"
            method, _, bits = c.row.split("/")  # the model name is in the summary; 80 columns need the rest
            table.add_row(c.kind, f"{method} {bits}", c.metric, _fmt(c.baseline), _fmt(c.current), _fmt(c.delta),
                          f"{c.tolerance:g}", style=style)  # fmt: skip
        out.print(table)
    kinds_seen = ", ".join(sorted({c.kind for c in found}))
    if failed:
        out.print(f"[bold red]{len(failed)} of {len(found)} checks regressed[/] ({kinds_seen}; vs {baseline})")
        raise typer.Exit(1)
    out.print(f"[green]all {len(found)} checks passed[/] ({kinds_seen}; vs {baseline})")
