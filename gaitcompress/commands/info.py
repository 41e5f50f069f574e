"""`gaitcompress info CHECKPOINT`: what a checkpoint holds and what it costs to run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gaitcompress.commands._common import out

FramesOpt = Annotated[int, typer.Option("--frames", help="Frames per sequence to cost.")]
InputOpt = Annotated[tuple[int, int], typer.Option("--input", help="Silhouette height and width.")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Variant of an OpenGait checkpoint (default gaitbase).")]


def info(
    checkpoint: Annotated[Path, typer.Argument(help="A gaitcompress or OpenGait checkpoint (.pt).")],
    frames: FramesOpt = 30,
    input_size: InputOpt = (64, 44),
    name: NameOpt = None,
) -> None:
    """Show a checkpoint's model, parameters, MACs (total and per frame) and per-layer MACs."""
    from rich.table import Table

    from gaitcompress.models.checkpoint import load_checkpoint
    from gaitcompress.models.cost import format_count, layer_table, model_cost

    model = load_checkpoint(checkpoint, name=name)
    cost, spec = model_cost(model, frames, input_size), model.spec
    summary = Table("", "", title=str(checkpoint), show_header=False)
    for key, value in [("family", spec.family), ("name", spec.name), ("params", format_count(cost.params)),
                       (f"MACs ({frames}×{input_size[0]}×{input_size[1]})", format_count(cost.macs)),
                       ("MACs per frame", format_count(cost.macs_per_frame)), ("parts", str(spec.parts)),
                       ("classes", str(spec.num_classes))]:  # fmt: skip
        summary.add_row(key, value)
    header, rows = layer_table(cost)
    layers = Table(title="per-layer MACs (per sequence)")
    for column in header:
        layers.add_column(column, overflow="fold")
    for row in rows:
        layers.add_row(row[0], row[1], format_count(row[2]), format_count(row[3]), f"{row[4]:.1%}", *map(str, row[5:]))
    out.print(summary, layers)
