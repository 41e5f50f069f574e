"""`gaitcompress pipeline`: one recipe from a full-precision model to an edge engine, with a report."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from gaitcompress.commands._common import OverridesArg, RecipeArg, RichTracker, console, out


def pipeline(
    recipe: RecipeArg,
    overrides: OverridesArg = None,
    stage_override: Annotated[
        list[str] | None,
        typer.Option("--all", help="key=value for every stage recipe that has the section (e.g. data.root=…)."),
    ] = None,
    redo: Annotated[
        str | None, typer.Option(help="Re-run this stage (e.g. student, export-teacher) and every stage after it.")
    ] = None,
    threads: Annotated[
        int, typer.Option(help="PyTorch CPU threads (0: the default). 1 makes CPU runs bit-reproducible.")
    ] = 0,
    allow_parity_failure: Annotated[
        bool, typer.Option(help="Exit 0 even when an export's onnxruntime accuracy differs from PyTorch's.")
    ] = False,
) -> None:
    """Teacher → GaitKD student → QGait w8a8/w4a4 → ONNX → benchmark → report; finished stages are skipped.

    Exits 1 when an export fails parity (after writing the report), unless --allow-parity-failure.
    Example: gaitcompress pipeline recipes/synthgait/pipeline_quick.yaml
    """
    import torch

    from gaitcompress.pipeline.run import run_pipeline
    from gaitcompress.recipe import load_recipe
    from gaitcompress.results import command_line

    if threads < 0:
        raise typer.BadParameter("must be 0 (default) or more", param_hint="--threads")
    if threads:
        torch.set_num_threads(threads)
    cfg = load_recipe(recipe, overrides or [])
    if stage_override:
        cfg["overrides"] = [*cfg.get("overrides", []), *stage_override]
    log = lambda msg: console.print(msg, markup=False, highlight=False)  # noqa: E731 - stage names in [brackets]
    run = run_pipeline(cfg, RichTracker(), log=log, redo=redo)
    doc = run.report(command_line())
    out.print(summary_table(doc))
    console.print(f"report: {run.run_dir / 'report' / 'report.md'}", markup=False, highlight=False)
    for failure in run.parity_failures:
        console.print(f"[bold red]parity failed:[/] {failure}", highlight=False)
    if run.parity_failures and not allow_parity_failure:
        raise typer.Exit(1)


def summary_table(doc: dict) -> Table:
    """One row per stage: accuracy, cost, size and latency."""
    table = Table(title=f"{doc['name']} ({doc['dataset'].get('name')}, input {doc['dataset'].get('input')})")
    cols = ["stage", "bits", "NM@R1", "BG@R1", "CL@R1", "mean@R1", "mAP", "ONNX mean@R1", "parity", "GMACs",
            "GBitOPs", "params", "ONNX MB", "p50 ms", "× teacher"]  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col in ("stage", "method", "bits") else "right")
    for r in doc["rows"]:
        m, c, lat = r.get("metrics", {}), r.get("cost", {}), r.get("latency", {})
        keys = ("NM@R1", "BG@R1", "CL@R1", "mean@R1", "mAP", "onnx mean@R1")
        acc = [f"{m[k]['mean']:.1f}" if k in m else "" for k in keys]
        checks = r.get("parity", {}).values()
        parity = "" if not checks else ("ok" if all(c["passed"] for c in checks) else "[red]FAILED[/]")
        size = sum(c.get("onnx_bytes", {}).values()) / 2**20 if c.get("onnx_bytes") else None
        ratio = next(iter(lat.get("ratio_to", {}).values()), None)
        table.add_row(
            r["stage"], r.get("bits", ""), *acc, parity,
            f"{c.get('macs', 0) / 1e9:.3f}", f"{c.get('bitops', 0) / 1e9:.3f}", f"{c.get('params', 0) / 1e6:.3f}M",
            f"{size:.2f}" if size is not None else "", f"{lat['p50_ms']:.2f}" if lat else "",
            f"{ratio:.2f}" if ratio is not None else "",
        )  # fmt: skip
    return table
