"""`gaitcompress info TARGET`: what a model holds and what it costs to run, in tables that fit 80 columns.

TARGET is a checkpoint (.pt, gaitcompress or OpenGait) or run folder: its summary and per-layer cost; a registered
model name (`gaitbase`): the same, for the variant built fresh; a wildcard (`'gaitbase*'`): the variants side by
side; an exported `.onnx` file: what export wrote into its metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from gaitcompress.commands._common import out

TargetArg = Annotated[
    Path,
    typer.Argument(
        help="A checkpoint (.pt) or run folder; a registered model name (gaitbase) or wildcard ('gaitbase*'); "
        "or an exported .onnx file.",
        show_default=False,
    ),
]
FramesOpt = Annotated[int, typer.Option("--frames", help="Frames per sequence to cost.")]
InputOpt = Annotated[tuple[int, int], typer.Option("--input", help="Silhouette height and width.")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Variant of an OpenGait checkpoint (default gaitbase).")]
WIDE = 120  # from this terminal width on, the per-layer table shows full module paths and class names
CLASSES = 74  # a registered model is costed with CASIA-B's training classes (the classifier is not deployed)


def info(target: TargetArg, frames: FramesOpt = 30, input_size: InputOpt = (64, 44), name: NameOpt = None) -> None:
    """Show a model's parameters, MACs (total and per frame), BitOPs and per-layer cost; compare variants.

    Examples: [b]gaitcompress info runs/synthgait/student_quick --input 32 22 --frames 16[/] ·
    [b]gaitcompress info gaitbase[/] · [b]gaitcompress info 'gaitbase*'[/] · [b]gaitcompress info model.onnx[/]
    """
    from gaitcompress.errors import GaitCompressError
    from gaitcompress.models import create_model, list_models

    if target.suffix == ".onnx":
        if not target.is_file():
            raise GaitCompressError(f"ONNX file not found: {target}", "check the path (export writes <out>/*.onnx)")
        return out.print(onnx_table(target))
    if target.exists():
        model, title = _load(target, name), str(target)
    elif str(target) in list_models():
        model, title = create_model(str(target), num_classes=CLASSES), f"{target} (registered, {CLASSES} classes)"
    elif list_models(str(target)):
        return out.print(compare_table(str(target), frames, input_size))
    else:
        raise GaitCompressError(
            f"no checkpoint at {target}: no such file or run folder, nor a registered model name",
            f"pass a .pt file, a run folder, or one of: {', '.join(list_models())}",
        )
    summary, layers = model_tables(model, title, frames, input_size)
    out.print(summary, layers)


def _load(path: Path, name: str | None) -> Any:
    from gaitcompress.checkpoints import resolve_checkpoint
    from gaitcompress.quant import load_model  # registers the `qat` kind

    return load_model(resolve_checkpoint(path), name=name)


def model_tables(model: Any, title: str, frames: int, input_size: tuple[int, int]) -> tuple[Table, Table]:
    """The summary (model, bits, params, MACs, BitOPs, bytes) and the per-layer cost, each ≤ 80 columns wide."""
    from gaitcompress.models.cost import format_count, layer_table, model_cost
    from gaitcompress.quant.cost import bitops_columns, bitops_report

    cost, bits, spec = model_cost(model, frames, input_size), bitops_report(model, frames, input_size), model.spec
    summary = Table(show_header=False, title=title, box=box.SIMPLE)
    h, w = input_size
    for key, value in [("family / name", f"{spec.family} / {spec.name}"), ("bits", bits.bits),
                       ("parts / classes", f"{spec.parts} / {spec.num_classes}"),
                       ("params", format_count(cost.params)),
                       (f"MACs ({frames} frames of {h}×{w})", format_count(cost.macs)),
                       ("MACs per frame", format_count(cost.macs_per_frame)),
                       ("BitOPs (conv + part FC)", format_count(bits.bitops)),
                       ("deployed bytes", format_count(bits.bytes))]:  # fmt: skip
        summary.add_row(key, value)
    header, rows = layer_table(cost, bitops_columns(bits))
    compact = out.width < WIDE  # full module paths and class names only where they fit
    prefix = _common_prefix([row[0] for row in rows]) if compact else ""
    layers = Table(
        title=f"per-layer cost (one sequence of {frames} frames)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    if prefix:
        layers.caption = f"layers under {prefix.rstrip('.')}"
    quantized = bits.bits != "fp32"  # an FP32 model's bits are 32/32 everywhere and its BitOPs its MACs
    columns = ["layer", "type", "params", "MACs", "share", *(["w/a", "BitOPs"] if quantized else []), "bytes"]
    for col in columns:
        layers.add_column(col, justify="left" if col in ("layer", "type") else "right", no_wrap=True)
    idx = {h: i for i, h in enumerate(header)}
    for row in rows:
        kind = _short_type(row[1]) if compact else row[1]
        cells = [row[0].removeprefix(prefix), kind, format_count(row[2]), format_count(row[3]), f"{row[4]:.1%}"]
        if quantized:
            cells += [str(row[idx["bits (w/a)"]]), _count(row[idx["BitOPs"]])]
        layers.add_row(*cells, _count(row[idx["bytes"]]))
    return summary, layers


def _count(text: str) -> str:
    """'76,032' (bitops_columns' text) → '76 k'; '-' stays."""
    from gaitcompress.models.cost import format_count

    try:
        return format_count(float(str(text).replace(",", "")))
    except ValueError:
        return str(text)


def _short_type(name: str) -> str:
    name = name.removeprefix("Quant")
    return {"SeparateFCs": "part FC", "Conv2d": "conv", "Conv1d": "conv1d", "Linear": "linear"}.get(name, name)


def _common_prefix(paths: list[str]) -> str:
    """The dotted module path the nested layers share ('Backbone.forward_block.'), or '' (top-level heads such as
    `FCs` keep their names)."""
    nested = [p.split(".") for p in paths if "." in p]
    if len(nested) < 2:
        return ""
    common = []
    for level in zip(*nested, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    prefix = ".".join(common) + "." if common else ""
    return prefix if all(p.startswith(prefix) and p != prefix for p in paths if "." in p) else ""


def compare_table(pattern: str, frames: int, input_size: tuple[int, int]) -> Table:
    """Registered variants matching `pattern`: parameters and MACs, one line each."""
    from gaitcompress.models.cost import format_count, registered_costs

    h, w = input_size
    table = Table(
        title=f"registered models at {h}×{w}, {frames} frames ({CLASSES} classes)", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for col in ("model", "params", "MACs per frame", f"MACs ({frames} frames)", "× first"):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=col == "model")
    costs = registered_costs(pattern, frames, input_size)
    ref = costs[0][1].macs if costs else 1
    for model_name, cost in costs:
        table.add_row(model_name, format_count(cost.params), format_count(cost.macs_per_frame),
                      format_count(cost.macs), f"{cost.macs / ref:.3f}")  # fmt: skip
    return table


def onnx_table(path: Path) -> Table:
    """An exported file's metadata (what export recorded: model, bits, placement, input, accuracy) and size."""
    from gaitcompress.errors import GaitCompressError
    from gaitcompress.export.onnx_export import read_metadata
    from gaitcompress.models.cost import format_count

    try:
        meta = read_metadata(path)
    except Exception as exc:  # onnx raises its own parse errors for a file that is not a model
        raise GaitCompressError(
            f"{path}: not a readable ONNX model ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
            "pass a file written by `gaitcompress export` (or any .onnx model)",
        ) from None
    table = Table(show_header=False, title=str(path), box=box.SIMPLE)
    table.add_row("size", f"{format_count(path.stat().st_size)}B")
    for key, value in meta.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
        table.add_row(key, str(value))
    return table
