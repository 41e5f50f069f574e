"""`gaitcompress info CHECKPOINT`: what a checkpoint holds and what it costs to run.

Given a registered model name or wildcard instead (`gaitcompress info 'gaitbase*' --input 32 22`), it
compares the variants' parameters and MACs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gaitcompress.commands._common import out

TargetArg = Annotated[
    Path, typer.Argument(help="A checkpoint (.pt) or run folder; or a registered model name/wildcard to compare.")
]
FramesOpt = Annotated[int, typer.Option("--frames", help="Frames per sequence to cost.")]
InputOpt = Annotated[tuple[int, int], typer.Option("--input", help="Silhouette height and width.")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Variant of an OpenGait checkpoint (default gaitbase).")]


def info(target: TargetArg, frames: FramesOpt = 30, input_size: InputOpt = (64, 44), name: NameOpt = None) -> None:
    """Show a checkpoint's model, parameters, MACs (total and per frame), BitOPs and per-layer cost."""
    from gaitcompress.models import list_models

    if not target.exists() and list_models(str(target)):
        _compare(str(target), frames, input_size)
    else:
        _show(target, frames, input_size, name)


def _show(path: Path, frames: int, input_size: tuple[int, int], name: str | None) -> None:
    from rich.table import Table

    from gaitcompress.export.bitops import bitops_columns, bitops_report
    from gaitcompress.models.checkpoint import load_checkpoint, read_checkpoint
    from gaitcompress.models.cost import format_count, layer_table, model_cost
    from gaitcompress.quant.checkpoint import load_quantized
    from gaitcompress.train.checkpoint import resolve_checkpoint

    path = resolve_checkpoint(path)
    qat = read_checkpoint(path).get("kind") == "qat"
    model = load_quantized(path) if qat else load_checkpoint(path, name=name)
    cost, bits, spec = model_cost(model, frames, input_size), bitops_report(model, frames, input_size), model.spec
    summary = Table("", "", title=str(path), show_header=False)
    for key, value in [("family", spec.family), ("name", spec.name), ("bits", bits.bits), ("parts", str(spec.parts)),
                       ("classes", str(spec.num_classes)), ("params", format_count(cost.params)),
                       (f"MACs ({frames}×{input_size[0]}×{input_size[1]})", format_count(cost.macs)),
                       ("MACs per frame", format_count(cost.macs_per_frame)),
                       ("BitOPs (conv + part FC)", format_count(bits.bitops)),
                       ("deployed bytes", format_count(bits.bytes))]:  # fmt: skip
        summary.add_row(key, value)
    header, rows = layer_table(cost, bitops_columns(bits))
    layers = Table(title="per-layer cost (per sequence)")
    for column in header:
        layers.add_column(column, overflow="fold")
    for row in rows:
        layers.add_row(row[0], row[1], format_count(row[2]), format_count(row[3]), f"{row[4]:.1%}", *map(str, row[5:]))
    out.print(summary, layers)


def _compare(pattern: str, frames: int, input_size: tuple[int, int]) -> None:
    from rich.table import Table

    from gaitcompress.models.cost import registered_costs

    table = Table("model", "params", f"MACs ({frames} frames)", "MACs per frame", "GMACs per frame",
                  title=f"registered models at {input_size[0]}×{input_size[1]} (74 classes)")  # fmt: skip
    for model_name, cost in registered_costs(pattern, frames, input_size):
        table.add_row(model_name, f"{cost.params:,}", f"{cost.macs:,}", f"{cost.macs_per_frame:,.0f}",
                      f"{cost.macs_per_frame / 1e9:.4f}")  # fmt: skip
    out.print(table)
