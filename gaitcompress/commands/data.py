"""`gaitcompress data synth|show|check`: generate SynthGait, look at a dataset, validate it and score a GEI baseline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gaitcompress.commands._common import RichTracker, flag_names, out

app = typer.Typer(
    no_args_is_help=True,
    epilog="Example: gaitcompress data synth --out data/synthgait && gaitcompress data check data/synthgait",
)

RootArg = Annotated[Path, typer.Argument(help="OpenGait-layout dataset folder (root/<id>/<type>/<view>/*.pkl).")]
CASIAB_VIEWS = "0,18,36,54,72,90,108,126,144,162,180"
PartitionOpt = Annotated[Path | None, typer.Option(help="Partition JSON (default: ROOT/partition.json).")]


@app.command("synth")
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (OpenGait layout + partition.json).")],
    preset: Annotated[
        str, typer.Option(help="default: CASIA-B-like, 50 ids × 110 sequences; many: Gait3D-like, 1,200 ids × 6.")
    ] = "default",
    ids: Annotated[int | None, typer.Option(help="Subjects 1..N (default: the preset's).")] = None,
    train: Annotated[int | None, typer.Option(help="The first N subjects form TRAIN_SET, the rest TEST_SET.")] = None,
    seed: Annotated[int | None, typer.Option(help="Everything generated is a function of this seed.")] = None,
    frames: Annotated[int | None, typer.Option(help="Frames per sequence.")] = None,
    difficulty: Annotated[
        float | None, typer.Option(help="0 clean … 1 default … 3 hard (session drift, nuisance).")
    ] = None,
    views: Annotated[
        str | None, typer.Option(help=f"Comma-separated azimuths in degrees (default preset: {CASIAB_VIEWS}).")
    ] = None,
    processes: Annotated[int, typer.Option(help="Worker processes (the bytes do not depend on it).")] = 2,
) -> None:
    """Generate a SynthGait set in the OpenGait layout: a preset, with any of its settings overridden."""
    from dataclasses import replace

    from gaitcompress.data.synthgait.config import preset as named_preset
    from gaitcompress.data.synthgait.writer import generate

    given = {"ids": ids, "train": train, "seed": seed, "frames": frames, "difficulty": difficulty,
             "views": views and tuple(int(v) for v in views.split(","))}  # fmt: skip
    with flag_names({"train": "--train", "ids": "--ids"}):
        cfg = replace(named_preset(preset), **{k: v for k, v in given.items() if v is not None})
    start = time.perf_counter()
    root = generate(cfg, out_dir, RichTracker(), processes)
    seconds = time.perf_counter() - start
    files = list(root.rglob("*.pkl"))
    size = sum(p.stat().st_size for p in files)
    out.print(f"{root}: {cfg.ids} ids ({cfg.train} train), {len(files)} sequences ({cfg.layout} layout), "
              f"{size / 1e6:.0f} MB, {seconds:.1f} s, settings hash {cfg.digest()}")  # fmt: skip


@app.command("show")
def show(
    root: RootArg,
    out_file: Annotated[Path, typer.Option("--out", help="PNG grid to write.")] = Path("preview.png"),
    gif: Annotated[Path | None, typer.Option(help="Also write an animated GIF here.")] = None,
    rows: Annotated[int, typer.Option(help="Sequences (rows) to show.")] = 6,
    frames: Annotated[int, typer.Option(help="Frames per row.")] = 8,
    partition: PartitionOpt = None,
) -> None:
    """Write a PNG grid (and optionally a GIF) of a few sequences."""
    from gaitcompress.data.index import build_index
    from gaitcompress.data.preview import write_preview

    paths = write_preview(build_index(root, partition), out_file, rows, frames, gif)
    out.print("wrote " + ", ".join(str(p) for p in paths))


@app.command("check")
def check(
    root: RootArg,
    partition: PartitionOpt = None,
    on_bad: Annotated[str, typer.Option(help="error: stop at the first bad item; skip: count and log it.")] = "error",
    protocol: Annotated[str, typer.Option(help="Protocol for the GEI baseline (casiab, gait3d, oumvlp).")] = "casiab",
    gei: Annotated[bool, typer.Option(help="Score the GEI nearest-neighbour baseline on the test split.")] = True,
) -> None:
    """Index and validate every file, print counts, and the GEI-NN rank-1 table of the test split."""
    from gaitcompress.data import DataConfig
    from gaitcompress.data.loader import load_index
    from gaitcompress.evaluation.gei import gei_baseline, same_view_rank1

    with flag_names({"data.partition": "--partition", "data.root": "ROOT"}):
        cfg = DataConfig(dataset=root.name, root=str(root), partition=partition and str(partition), on_bad=on_bad,
                         protocol=protocol)  # fmt: skip
        index = load_index(cfg)
    table = Table("dataset", "value", title=f"{root}")
    for key, value in index.summary(cfg.train_frames).items():
        table.add_row(key, value)
    out.print(table)
    if gei:
        result = gei_baseline(cfg, RichTracker())
        same = same_view_rank1(result)
        scores = Table("condition", "rank-1 % (cross-view, protocol)", "rank-1 % (same view)", title="GEI-NN")
        for key, value in result.metrics.items():
            cond = key.split("@")[0]
            if key.endswith("@R1"):
                scores.add_row(cond, f"{value:.1f}", f"{same[cond]:.1f}" if cond in same else "")
        out.print(scores)
