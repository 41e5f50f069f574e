"""`gaitcompress quantize`: QGait two-stage QAT (STE → soft quantizer with growing k, + IDD) from an FP32 checkpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from gaitcompress.commands._common import OverridesArg, RecipeArg, ResultsOpt, RichTracker, SeedsOpt, out

ReuseOpt = Annotated[bool, typer.Option("--reuse", help="With --seeds: read seeds whose run folder is finished.")]


def quantize(
    recipe: RecipeArg, overrides: OverridesArg = None, seeds: SeedsOpt = None, results: ResultsOpt = None,
    reuse: ReuseOpt = False,
) -> None:  # fmt: skip
    """Quantize a checkpoint to w8a8 / w4a4 with QAT, evaluate with hard rounding, and print its table.

    Examples: [b]gaitcompress quantize recipes/synthgait/quant_qgait4.yaml quant.checkpoint=runs/x[/] ·
    [b]gaitcompress quantize recipes/synthgait/quant_qgait4.yaml --seeds 0,1,2 --reuse --results q4.json[/]
    """
    from rich.table import Table

    from gaitcompress.quant.qat import run_quantize, run_quantize_seeds
    from gaitcompress.recipe import load_recipe
    from gaitcompress.results import make_results, write_results

    cfg = load_recipe(recipe, overrides or [])
    if seeds:
        done = run_quantize_seeds(cfg, [int(s) for s in seeds.split(",")], RichTracker(), reuse=reuse)
        row = done["row"]
        if results:
            first = done["runs"][0]["results"]
            write_results(make_results(first["name"], [row], first["dataset"]), results)
    else:
        row = run_quantize(cfg, RichTracker())["results"]["rows"][0]
    table = Table(title=f"{row['method']} ({row['bits']}, {row['label']}), seeds {row['seeds']}")
    for col in ("metric", "mean %", "± std"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in row["metrics"].items():
        table.add_row(name, f"{m['mean']:.2f}", f"{m['std']:.2f}")
    table.add_row("BitOPs (G)", f"{row['cost']['bitops'] / 1e9:.4f}", "")
    out.print(table)
