"""`gaitcompress quantize`: QGait two-stage QAT (STE → soft quantizer with growing k, + IDD) from an FP32 checkpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from gaitcompress.commands._common import (
    OverridesArg,
    RecipeArg,
    RestartOpt,
    ResultsOpt,
    ResumeOpt,
    RichTracker,
    SeedsOpt,
    command_line,
    out,
    stage_run,
)

ReuseOpt = Annotated[
    bool, typer.Option("--reuse", help="With --seeds: read finished seeds, continue unfinished ones (= --resume).")
]


def quantize(
    recipe: RecipeArg, overrides: OverridesArg = None, seeds: SeedsOpt = None, results: ResultsOpt = None,
    reuse: ReuseOpt = False, resume: ResumeOpt = False, restart: RestartOpt = False,
) -> None:  # fmt: skip
    """Quantize a checkpoint to w8a8 / w4a4 with QAT, evaluate with hard rounding, and print its table.

    Examples: [b]gaitcompress quantize recipes/synthgait/quant_qgait4.yaml quant.checkpoint=runs/x[/] ·
    [b]gaitcompress quantize recipes/synthgait/quant_qgait4.yaml --seeds 0,1,2 --reuse --results q4.json[/]
    """
    from rich.table import Table

    from gaitcompress.quant import calibrate
    from gaitcompress.quant.qat import run_quantize, run_quantize_seeds
    from gaitcompress.recipe import load_recipe

    cfg = load_recipe(recipe, overrides or [])
    if calibrate.is_ptq(cfg):  # quant.method=ptq: post-training INT8, no training, into <run_dir>-ptq
        run_quantize, run_quantize_seeds = calibrate.run_ptq_stage, calibrate.run_ptq_seeds
    with stage_run():
        if seeds:
            seed_list = [int(s) for s in seeds.split(",")]
            row = run_quantize_seeds(
                cfg, seed_list, RichTracker(), reuse=reuse or resume, out=results, command=command_line()
            ).row
        else:
            done = run_quantize(cfg, RichTracker(), command=command_line(), resume=resume, restart=restart)
            row = done.results["rows"][0]
    table = Table(title=f"{row['method']} ({row['bits']}, {row['label']}), seeds {row['seeds']}")
    for col in ("metric", "mean %", "± std"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in row["metrics"].items():
        table.add_row(name, f"{m['mean']:.2f}", f"{m['std']:.2f}")
    table.add_row("BitOPs (G)", f"{row['cost']['bitops'] / 1e9:.4f}", "")
    out.print(table)
