"""`gaitcompress data synth|show|check`: generate SynthGait, look at a dataset, validate it and score a GEI baseline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gaitcompress.commands._common import RichTracker, out

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
    ids: Annotated[int, typer.Option(help="Subjects 001..N.")] = 50,
    train: Annotated[int, typer.Option(help="The first N subjects form TRAIN_SET, the rest TEST_SET.")] = 30,
    seed: Annotated[int, typer.Option(help="Everything generated is a function of this seed.")] = 0,
    frames: Annotated[int, typer.Option(help="Frames per sequence.")] = 30,
    difficulty: Annotated[float, typer.Option(help="0 clean … 1 default … 3 hard (session drift, nuisance).")] = 1.0,
    views: Annotated[
        str, typer.Option(help="Comma-separated azimuths in degrees.")
    ] = "0,18,36,54,72,90,108,126,144,162,180",
    processes: Annotated[int, typer.Option(help="Worker processes (the bytes do not depend on it).")] = 2,
) -> None:
    """Generate a SynthGait set (CASIA-B-like types nm/bg/cl and 11 views) in the OpenGait layout."""
    from gaitcompress.data.synthgait import SynthConfig
    from gaitcompress.data.synthgait.writer import generate

    cfg = SynthConfig(ids, train, frames, seed, difficulty, tuple(int(v) for v in views.split(",")))
    start = time.perf_counter()
    root = generate(cfg, out_dir, RichTracker(), processes)
    size = sum(p.stat().st_size for p in root.rglob("*.pkl"))
    out.print(f"{root}: {ids} ids × {len(cfg.types)} types × {len(cfg.views)} views, {size / 1e6:.0f} MB, "
              f"{time.perf_counter() - start:.1f} s, settings hash {cfg.digest()}")  # fmt: skip


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
    from gaitcompress.data.gei import gei_baseline, same_view_rank1
    from gaitcompress.data.loader import load_index

    cfg = DataConfig(dataset=root.name, root=str(root), partition=partition and str(partition), on_bad=on_bad,
                     protocol=protocol)  # fmt: skip
    table = Table("dataset", "value", title=f"{root}")
    for key, value in load_index(cfg).summary(cfg.train_frames).items():
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
