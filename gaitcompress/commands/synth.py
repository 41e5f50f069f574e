"""`gaitcompress synth train|sample|judge`: GaitCrafter diffusion, thin wrappers over `gaitcompress.synth.stage`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from gaitcompress.commands._common import (
    OverridesArg,
    RecipeArg,
    RestartOpt,
    ResumeOpt,
    RichTracker,
    command_line,
    out,
    stage_run,
)

app = typer.Typer(
    no_args_is_help=True,
    epilog="Example: gaitcompress synth train recipes/synthgait/synth_quick.yaml train.iterations=600",
)

SourceArg = Annotated[str, typer.Argument(help="Generator: a synth recipe, a run folder or a checkpoint.")]
ListOpt = Annotated[str, typer.Option(help="Comma-separated values (empty: all the generator knows).")]


def _csv(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


@app.command("train")
def train(
    recipe: RecipeArg,
    overrides: OverridesArg = None,
    resume: ResumeOpt = False,
    restart: RestartOpt = False,
) -> None:
    """Train a GaitCrafter generator on the recipe's training split."""
    from gaitcompress.recipe import load_recipe
    from gaitcompress.synth.stage import run_synth_train

    cfg = load_recipe(recipe, overrides or [])
    with stage_run():
        done = run_synth_train(cfg, RichTracker(), resume=resume, command=command_line(), restart=restart)
    out.print(f"generator: {done.run_dir}/final.pt  ({done.wall_s:.0f} s)  {done.metrics}")


@app.command("sample")
def sample(
    source: SourceArg,
    ids: ListOpt = "",
    views: ListOpt = "",
    types: Annotated[str, typer.Option(help="Covariates or types, e.g. nm,bg,cl (empty: all).")] = "",
    novel: Annotated[int, typer.Option(help="Novel identities (multi-hot blends of real ids).")] = 0,
    parents: Annotated[int, typer.Option(help="Real ids blended into each novel id.")] = 2,
    per: Annotated[int, typer.Option(help="Sequences per (id, view, covariate).")] = 1,
    real: Annotated[bool, typer.Option(help="With no --ids: generate every real id too.")] = True,
    steps: Annotated[int, typer.Option(help="DDIM steps (0: generator default).")] = 0,
    method: Annotated[str, typer.Option(help="Sampler: ddim or ddpm.")] = "ddim",
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance weight (1 = off).")] = 1.0,
    seed: int = 0,
    untrained: Annotated[bool, typer.Option(help="Sample its untrained twin instead (the judging baseline).")] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="Output dataset folder.")] = Path("data/synth"),
) -> None:
    """Generate sequences and write them as an OpenGait-layout dataset (+ partition JSON, PNG/GIF preview)."""
    from gaitcompress.synth.sample import SampleConfig
    from gaitcompress.synth.stage import resolve_generator, run_synth_sample, untrained_twin

    cfg = SampleConfig(
        ids=_csv(ids), views=_csv(views), types=_csv(types), per=per, novel=novel, parents=parents, real=real,
        method=method, steps=steps, guidance=guidance, seed=seed, out=str(out_dir),
    )  # fmt: skip
    g = resolve_generator(source)
    done = run_synth_sample(untrained_twin(g, seed) if untrained else g, cfg, RichTracker())
    out.print(f"{done['sequences']} sequences of {len(done['ids'])} ids → {done['out']} (preview.png, preview.gif)")


@app.command("judge")
def judge(
    recipe: RecipeArg,
    overrides: OverridesArg = None,
    generator: Annotated[
        list[str] | None,
        typer.Option(help="Generator run folder or checkpoint; repeat for one row set each (default: the recipe's)."),
    ] = None,
    baseline: Annotated[bool, typer.Option(help="Also judge an untrained twin of the generator.")] = True,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the results JSON (+ .md) here.")] = None,
) -> None:
    """Judge generated clips with a frozen recognizer: identity rank-1, Fréchet distance, view accuracy."""
    from gaitcompress.recipe import load_recipe
    from gaitcompress.synth.stage import parse, resolve_generator, run_synth_judge

    cfg = load_recipe(recipe, overrides or [])
    sources = generator or [parse(cfg).run_dir]
    named = [(_run_name(s), resolve_generator(s)) for s in sources]
    with stage_run():
        doc = run_synth_judge(cfg, named, RichTracker(), baseline, out_file, command_line())["results"]
    table = Table(title=f"{doc['name']}: judging ({doc['dataset'].get('judged_ids')} ids)")
    cols = ("id@R1", "FD", "view@acc", "Δid", "Δview", "Δcov", "Δnoise", "novel@self", "novel@real")
    table.add_column("clips", justify="right")
    for col in cols:
        table.add_column(col, justify="right")
    table.add_column("row", justify="left")
    for r in doc["rows"]:
        m = r["metrics"]
        fmt = {"FD": "{:.4f}"}
        cells = [fmt.get(k, "{:.1f}").format(m[k]["mean"]) if k in m else "–" for k in cols]
        table.add_row(str(r["clips"]), *cells, r["label"])
    out.print(table)


def _run_name(source: str) -> str:
    """A row name for a generator source: its run folder's name, `run@iteration` for a periodic checkpoint."""
    path = Path(source)
    if path.suffix == ".pt" and path.parent.name == "checkpoints":  # ckpt_000400.pt → run@400
        return f"{path.parent.parent.name}@{int(path.stem.rsplit('_', 1)[-1])}"
    if path.suffix == ".pt":
        return path.parent.name
    return path.stem if path.suffix in (".yaml", ".yml") else path.name


@app.command("curve")
def curve(
    runs: Annotated[list[Path], typer.Argument(help="Generator run folders trained with train.eval_every.")],
    out_file: Annotated[Path, typer.Option("--out", help="Results JSON (+ .md, and the plot as .png).")],
) -> None:
    """The judged learning curve of generator runs: a table and a plot from their log.jsonl."""
    from gaitcompress.synth.curve import CURVE_KEYS, run_synth_curve

    doc = run_synth_curve(runs, out_file)
    for run in dict.fromkeys(r["method"] for r in doc["rows"]):  # one 80-column table per run
        table = Table(title=f"{run}: judged learning curve", box=box.SIMPLE_HEAD)
        for col in ("it", *CURVE_KEYS):
            table.add_column(col, justify="right")
        for r in (r for r in doc["rows"] if r["method"] == run):
            m = r["metrics"]
            cells = (f"{m[k]['mean']:.{3 if k in ('FD', 'eps_mse') else 1}f}" if k in m else "–" for k in CURVE_KEYS)
            table.add_row(str(r["iteration"]), *cells)
        out.print(table)
    out.print(f"plot: {out_file.with_suffix('.png')}")


@app.command("augment")
def augment(
    recipes: Annotated[list[Path], typer.Argument(help="Recognizer train recipes, one per arm (e.g. real, mix).")],
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the results JSON (+ .md) here.")] = None,
) -> None:
    """The augmentation experiment: train each arm's recognizer over seeds, one table with a row per arm."""
    from gaitcompress.recipe import load_recipe
    from gaitcompress.synth.stage import run_synth_augment

    arms = {r.stem: load_recipe(r) for r in recipes}
    with stage_run():
        doc = run_synth_augment(arms, [int(s) for s in seeds.split(",")], RichTracker(), out_file, command_line())
    table = Table(title=f"{doc['name']} (mean ± std over seeds {seeds})")
    names = [k for k in doc["rows"][0]["metrics"] if k.endswith("R1") or k == "mAP"]
    for col in ("method", *names):
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in doc["rows"]:
        m = r["metrics"]
        table.add_row(r["method"], *(f"{m[k]['mean']:.2f} ± {m[k]['std']:.2f}" for k in names))
    out.print(table)
