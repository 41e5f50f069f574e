"""`gaitcompress rerank train|eval|export`: the CarGait re-ranking head on a frozen gait model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gaitcompress.commands._common import OverridesArg, RecipeArg, RichTracker, console, out

app = typer.Typer(
    no_args_is_help=True,
    epilog="Example: gaitcompress rerank train recipes/synthgait/rerank_teacher.yaml train.iterations=100",
)


def _recipe(recipe: Path, overrides: list[str] | None) -> tuple[object, dict]:
    from gaitcompress.recipe import load_recipe
    from gaitcompress.rerank.config import parse_rerank_recipe

    raw = load_recipe(recipe, overrides or [])
    return parse_rerank_recipe(raw), raw


def _print(doc: dict) -> None:
    from gaitcompress.commands._tables import results_table

    out.print(results_table(doc))


@app.command("train")
def train(recipe: RecipeArg, overrides: OverridesArg = None) -> None:
    """Train a CarGait head on the recipe's frozen model, then compare no re-ranking, k-reciprocal and CarGait."""
    from gaitcompress.rerank.stage import train_rerank

    cfg, raw = _recipe(recipe, overrides)
    _print(train_rerank(cfg, raw, RichTracker()))


@app.command("eval")
def evaluate(recipe: RecipeArg, overrides: OverridesArg = None) -> None:
    """Evaluate the run folder's trained head against no re-ranking and k-reciprocal."""
    from gaitcompress.rerank.stage import eval_rerank

    cfg, _ = _recipe(recipe, overrides)
    _print(eval_rerank(cfg, RichTracker()))


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
