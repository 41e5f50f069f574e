"""The `gaitcompress` command line: every command is registered here, in one visible place.

Command bodies live in `gaitcompress.commands.<stage>` and stay thin (load recipe, call the library,
print the table). A `GaitCompressError` becomes one red line with a hint and exit code 1; set
`GAITCOMPRESS_TRACEBACK=1` to see the traceback instead.
"""

from __future__ import annotations

import os
import sys

import typer

from gaitcompress.errors import GaitCompressError

app = typer.Typer(
    name="gaitcompress",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    help="Compress gait-recognition models for the edge: distill, quantize, export, benchmark, gate.",
    epilog="Example: gaitcompress train recipes/synthgait/teacher_quick.yaml train.iterations=200",
)


def _register() -> None:
    """Attach every stage's commands (command modules import torch lazily, so this is cheap)."""
    from gaitcompress.commands import (
        bench,
        data,
        distill,
        export,
        gate,
        info,
        pipeline,
        quantize,
        rerank,
        synth,
        train,
    )

    app.add_typer(data.app, name="data", help="SynthGait generation, dataset checks and previews.")
    app.command("train")(train.train)
    app.command("eval")(train.evaluate)
    app.command("info")(info.info)
    app.command("distill")(distill.distill)
    app.command("quantize")(quantize.quantize)
    app.command("export")(export.export)
    app.command("bench")(bench.bench)
    app.command("gate")(gate.gate)
    app.add_typer(rerank.app, name="rerank", help="CarGait re-ranking head: train and evaluate.")
    app.add_typer(synth.app, name="synth", help="GaitCrafter diffusion: train, sample, judge.")
    app.command("pipeline")(pipeline.pipeline)


def main() -> None:
    """Console-script entry point."""
    _register()
    try:
        app()
    except GaitCompressError as exc:
        if os.environ.get("GAITCOMPRESS_TRACEBACK"):
            raise
        from rich.console import Console

        err = Console(stderr=True)
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err.print(f"[yellow]hint:[/] {exc.hint}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
