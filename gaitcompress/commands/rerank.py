"""`gaitcompress rerank train|eval|cost|table|export`: the CarGait re-ranking head on a frozen gait model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gaitcompress.commands._common import (
    OverridesArg,
    RecipeArg,
    RestartOpt,
    ResumeOpt,
    RichTracker,
    command_line,
    console,
    out,
    stage_run,
)

app = typer.Typer(
    no_args_is_help=True,
    epilog="Example: gaitcompress rerank train recipes/synthgait/rerank_teacher.yaml --seeds 0,1,2",
)
SeedsOpt = Annotated[str | None, typer.Option(help="Comma-separated seeds: one head per seed, mean ± std.")]


def _recipe(recipe: Path, overrides: list[str] | None):
    from gaitcompress.recipe import load_recipe
    from gaitcompress.rerank.config import parse_rerank_recipe

    raw = load_recipe(recipe, overrides or [])
    return parse_rerank_recipe(raw), raw


def _print(doc: dict) -> None:
    from gaitcompress.commands._tables import results_table

    out.print(results_table(doc, ("mean@R1", "NM@R1", "BG@R1", "CL@R1", "R1", "R5", "mAP")))


@app.command("train")
def train(
    recipe: RecipeArg, overrides: OverridesArg = None, seeds: SeedsOpt = None, resume: ResumeOpt = False,
    restart: RestartOpt = False,
) -> None:  # fmt: skip
    """Train a CarGait head on the recipe's frozen model, then compare no re-ranking, k-reciprocal and CarGait."""
    from gaitcompress.rerank.stage import train_rerank

    cfg, raw = _recipe(recipe, overrides)
    seed_list = [int(s) for s in seeds.split(",")] if seeds else None
    with stage_run():
        doc = train_rerank(cfg, raw, seed_list, RichTracker(), resume, restart, command_line())
    _print(doc)


@app.command("eval")
def evaluate(recipe: RecipeArg, overrides: OverridesArg = None) -> None:
    """Evaluate the run folder's trained head(s) against no re-ranking and k-reciprocal."""
    from gaitcompress.rerank.stage import eval_rerank

    cfg, _ = _recipe(recipe, overrides)
    with stage_run():
        doc = eval_rerank(cfg, RichTracker(), command_line())
    _print(doc)


@app.command("cost")
def cost(recipe: RecipeArg, overrides: OverridesArg = None) -> None:
    """CPU ms per probe: first-stage ranking vs CarGait (K pairs) vs k-reciprocal; writes <run_dir>/cost.json."""
    import json

    from gaitcompress.checkpoints import atomic_write_text, check_writable
    from gaitcompress.rerank.stage import measure_cost

    cfg, _ = _recipe(recipe, overrides)
    folder = check_writable(cfg.run_dir)  # before the timing: a folder that cannot take cost.json loses nothing
    report = measure_cost(cfg)
    atomic_write_text(json.dumps(report, indent=2), folder / "cost.json")
    for name, ms in report["ms_per_probe"].items():
        out.print(f"{name:12s} {ms:8.3f} ms/probe  ({report['ratio_to_first_stage'][name]:.2f}× first stage)")


@app.command("table")
def table(
    runs: Annotated[list[Path], typer.Argument(help="Rerank run folders (each with metrics.json).")],
    output: Annotated[Path, typer.Option("--out", help="Results file to write (.json + .md).")],
    notes: Annotated[Path | None, typer.Option(help="Markdown file shown below the table.")] = None,
) -> None:
    """Merge several rerank runs (e.g. teacher, student, w8a8) into one results table."""
    from gaitcompress.rerank.stage import combine_runs
    from gaitcompress.results import write_results

    doc = combine_runs(runs, output.stem, notes.read_text() if notes else "")
    write_results(doc, output.with_suffix(".json"))
    _print(doc)


@app.command("export")
def export(
    head: Annotated[Path, typer.Argument(help="Head checkpoint or rerank run folder.")],
    output: Annotated[Path, typer.Option("--out", "-o", help="ONNX file to write.")] = Path("cargait_head.onnx"),
) -> None:
    """Export the head as its own ONNX (probe strips, candidate strips → distance) and check parity."""
    from gaitcompress.rerank.export import export_head
    from gaitcompress.rerank.stage import load_head

    report = export_head(load_head(head), output)
    console.print(f"wrote {output}: max |Δ| {report['max_abs_diff']:.2e}, same top-K order: {report['same_order']}")
