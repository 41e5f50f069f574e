"""`gaitcompress quantize`: QGait two-stage QAT (STE → soft quantizer with growing k, + IDD) from an FP32 checkpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from gaitcompress.commands._common import OverridesArg, RecipeArg, RichTracker, out

SeedsOpt = Annotated[str | None, typer.Option(help="Comma-separated seeds, e.g. 0,1,2: one run each, mean ± std.")]


def quantize(recipe: RecipeArg, overrides: OverridesArg = None, seeds: SeedsOpt = None) -> None:
    """Quantize a checkpoint to w8a8 / w4a4 with QAT, evaluate with hard rounding, and print its table.

    Example: gaitcompress quantize recipes/synthgait/quant_qgait4.yaml quant.checkpoint=runs/synthgait/student_quick
    """
    from rich.table import Table

    from gaitcompress.quant.qat import run_quantize, run_quantize_seeds
    from gaitcompress.recipe import load_recipe

    cfg = load_recipe(recipe, overrides or [])
    if seeds:
        row = run_quantize_seeds(cfg, [int(s) for s in seeds.split(",")], RichTracker())["row"]
    else:
        row = run_quantize(cfg, RichTracker())["results"]["rows"][0]
    table = Table(title=f"{row['method']} ({row['bits']}, {row['label']}), seeds {row['seeds']}")
    for col in ("metric", "mean %", "± std"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in row["metrics"].items():
        table.add_row(name, f"{m['mean']:.2f}", f"{m['std']:.2f}")
    table.add_row("BitOPs (G)", f"{row['cost']['bitops'] / 1e9:.4f}", "")
    out.print(table)
