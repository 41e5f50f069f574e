"""`gaitcompress train` and `gaitcompress eval`: thin wrappers over `gaitcompress.train.stage`.

Under `torchrun --nproc_per_node=N -m gaitcompress.cli train RECIPE` the same command trains with DDP; only rank 0
prints and writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from gaitcompress.train.config import TrainRecipe

CheckpointOpt = Annotated[Path, typer.Option(help="Checkpoint file, or a run folder (its final.pt / latest).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the metrics as a results JSON (+ .md) here.")]
RerankOpt = Annotated[
    str | None, typer.Option(help="Re-rank: 'kreciprocal', or a CarGait head (.pt or gaitcompress rerank run folder).")
]


def train(
    recipe: RecipeArg, overrides: OverridesArg = None, resume: ResumeOpt = False, seeds: SeedsOpt = None,
    results: ResultsOpt = None, restart: RestartOpt = False,
) -> None:  # fmt: skip
    """Train a gait model from a recipe, evaluate it, and print its table.

    Examples: [b]gaitcompress train recipes/synthgait/teacher_quick.yaml[/] ·
    [b]gaitcompress train recipes/synthgait/teacher_quick.yaml seed=1 train.iterations=200[/] ·
    [b]gaitcompress train recipes/synthgait/teacher_quick.yaml --seeds 0,1,2 --results bench/results/t.json[/] ·
    [b]torchrun --nproc_per_node=2 -m gaitcompress.cli train RECIPE[/]
    """
    from gaitcompress.commands._tables import rich_table, seeds_table
    from gaitcompress.recipe import load_recipe
    from gaitcompress.train.stage import run_seeds, run_train

    cfg = load_recipe(recipe, overrides or [])
    with stage_run():
        if seeds:
            runs = run_seeds(cfg, [int(s) for s in seeds.split(",")], RichTracker(), results, resume=resume,
                             command=command_line())  # fmt: skip
            out.print(seeds_table(runs.results))
            return
        done = run_train(cfg, RichTracker(), resume=resume, command=command_line(), restart=restart)
    if int(os.environ.get("RANK", "0")) == 0 and done.result is not None:
        out.print(rich_table(done.result, title=f"{cfg.get('name', 'train')} ({done.run_dir})"))


def evaluate(
    recipe: RecipeArg, checkpoint: CheckpointOpt, overrides: OverridesArg = None, out_: OutOpt = None,
    rerank: RerankOpt = None,
) -> None:  # fmt: skip
    """Evaluate a checkpoint with a recipe's data and protocol, and print its table.

    Example: [b]gaitcompress eval recipes/synthgait/teacher_quick.yaml --checkpoint runs/synthgait/teacher_quick[/] ·
    [b]... --rerank runs/synthgait/rerank_teacher/seed0[/] (CarGait head) · [b]... --rerank kreciprocal[/]
    """
    from gaitcompress.commands._tables import rich_table, view_tables
    from gaitcompress.recipe import load_recipe
    from gaitcompress.rerank import reranker_from
    from gaitcompress.train.stage import run_eval

    reranker = reranker_from(rerank) if rerank else None
    cfg = load_recipe(recipe, overrides or [])
    with stage_run():  # its notices (workers lowered, ...) and Ctrl-C as one line
        result = run_eval(cfg, checkpoint, RichTracker(), out_, reranker, command_line(), _recipe_cls(cfg))
    out.print(rich_table(result, title=f"evaluation of {checkpoint}"))
    for table in view_tables(result):
        out.print(table)


def _recipe_cls(cfg: dict[str, Any]) -> type[TrainRecipe]:
    """The recipe class whose sections `cfg` has: a quantize or distill recipe evaluates the model it made.

    Importing `gaitcompress.quant` also registers the `qat` checkpoint kind, so eval loads QAT checkpoints.
    """
    from gaitcompress.quant.calibrate import PtqRecipe, is_ptq
    from gaitcompress.quant.qat import QuantRecipe
    from gaitcompress.train.config import TrainRecipe

    if "quant" in cfg:
        return PtqRecipe if is_ptq(cfg) else QuantRecipe
    if "distill" in cfg:
        from gaitcompress.distill.config import DistillRecipe

        return DistillRecipe
    return TrainRecipe
