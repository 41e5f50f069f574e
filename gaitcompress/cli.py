"""The `gaitcompress` command line: every command is registered here, in one visible place.

Command bodies live in `gaitcompress.commands.<stage>` and stay thin (load recipe, call the library,
print the table). A `GaitCompressError` becomes one red line with a hint and exit code 1; set
`GAITCOMPRESS_TRACEBACK=1` to see the traceback instead.

Help reads as a user types it: flags take no value, so they show no type (typer 0.29 prints `<bool>`), and the
usage line names arguments in capitals (`RECIPE [OVERRIDES]...`, where typer prints `{recipe}`); see `command`.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated, Any

import typer

from gaitcompress import __version__
from gaitcompress.errors import GaitCompressError

app = typer.Typer(
    name="gaitcompress",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    help="Compress gait-recognition models for the edge: distill, quantize, export, benchmark, gate.",
    epilog="Example: gaitcompress train recipes/synthgait/teacher_quick.yaml train.iterations=200",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gaitcompress {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Compress gait-recognition models for the edge: distill, quantize, export, benchmark, gate."""


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
        report,
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
    app.command("report")(report.report)


def _plain_help(command: Any) -> None:
    """Flags without a type column, arguments in capitals without typer's braces (walks every sub-command).

    Uses click's public parameter API only: `metavar` (what the help shows as a value) and `get_usage_pieces`.
    """
    ctx = typer.Context(command)
    for param in [*command.params, command.get_help_option(ctx)]:
        if param is None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.param_type_name == "argument":
            param.metavar = param.name.upper()
            text = param.metavar if param.required else f"[{param.metavar}]"
            piece = text + ("..." if param.nargs != 1 else "")
            param.get_usage_pieces = lambda ctx, piece=piece: [piece]
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)


def command() -> Any:
    """The click command of the whole CLI, with every stage registered and help tidied (`_plain_help`)."""
    _register()
    cli = typer.main.get_command(app)
    _plain_help(cli)
    return cli


def _terminated(_signum: int, _frame: Any) -> None:
    """SIGTERM (a scheduler's stop, `kill`, a cancelled CI job) ends a run the way Ctrl-C does: what was saved and
    the command that resumes, exit 130; never a half-written file (checkpoints hold it until a write is done)."""
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _terminated)
    cli = command()
    try:
        cli(prog_name="gaitcompress")
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
