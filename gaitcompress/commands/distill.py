"""`gaitcompress distill`: a thin wrapper over `gaitcompress.distill.stage`."""

from __future__ import annotations

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


def distill(
    recipe: RecipeArg, overrides: OverridesArg = None, resume: ResumeOpt = False, seeds: SeedsOpt = None,
    results: ResultsOpt = None, restart: RestartOpt = False,
) -> None:  # fmt: skip
    """Distil a student from one or more frozen teachers (recipe section `distill:`), evaluate it, print its table.

    Example: gaitcompress distill recipes/synthgait/distill_gaitkd.yaml seed=1
    """
    from gaitcompress.commands._tables import rich_table, seeds_table
    from gaitcompress.distill.stage import run_distill, run_distill_seeds
    from gaitcompress.recipe import load_recipe

    cfg = load_recipe(recipe, overrides or [])
    with stage_run():
        if seeds:
            seed_list = [int(s) for s in seeds.split(",")]
            runs = run_distill_seeds(cfg, seed_list, RichTracker(), results, resume=resume, command=command_line())
            out.print(seeds_table(runs.results))
            return
        done = run_distill(cfg, RichTracker(), resume=resume, command=command_line(), restart=restart)
    if done.result is not None:
        out.print(rich_table(done.result, title=f"{cfg.get('name', 'distill')} ({done.run_dir})"))
