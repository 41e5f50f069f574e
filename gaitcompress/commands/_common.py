"""What every command shares: the console, the recipe/override arguments, a rich progress tracker."""

from __future__ import annotations

import contextlib
import logging
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)  # diagnostics and progress on stderr
out = Console()  # result tables on stdout

RecipeArg = Annotated[Path, typer.Argument(help="YAML recipe (see recipes/).", show_default=False)]
OverridesArg = Annotated[
    list[str] | None,
    typer.Argument(help="Recipe overrides as key.path=value, e.g. train.iterations=200 seed=1.", show_default=False),
]


ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue from the run folder's newest checkpoint.")]
RestartOpt = Annotated[
    bool, typer.Option("--restart", help="Start over: delete the checkpoints the run folder already holds.")
]
SeedsOpt = Annotated[
    str | None, typer.Option(help="Comma-separated seeds, e.g. 0,1,2: one run per seed, summarised as mean ± std.")
]
ResultsOpt = Annotated[Path | None, typer.Option(help="With --seeds: also write this results table (.json + .md).")]


class RichTracker:
    """`gaitcompress.progress.Tracker` drawn with rich progress bars on stderr."""

    def __init__(self, console_: Console | None = None) -> None:
        self.console = console_ or console

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Any]:
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
        ]
        with Progress(*columns, console=self.console) as progress:
            tid = progress.add_task(description, total=total, info="")

            def step(advance: int = 1, **fields: Any) -> None:
                info = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
                progress.update(tid, advance=advance, info=info)

            yield step


def command_line() -> str:
    """The command as typed (`gaitcompress ...`): recorded in results and used for the resume hint."""
    return shlex.join(["gaitcompress", *sys.argv[1:]])


class _Notices(logging.Handler):
    """The run life cycle's notices (resumed from, skipped, took over a lock) as lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        style = "yellow" if record.levelno >= logging.WARNING else "cyan"
        console.print(f"[{style}]{record.getMessage()}[/]", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def stage_run() -> Iterator[None]:
    """Around a stage call: show its notices; Ctrl-C prints what was saved and how to resume, then exits 130."""
    from gaitcompress.harness import RunInterrupted

    logger = logging.getLogger("gaitcompress.run")
    handler = _Notices()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    except RunInterrupted as exc:
        console.print(f"[bold yellow]{exc.message}[/]", highlight=False, soft_wrap=True)
        console.print(f"[yellow]{exc.hint}[/]", highlight=False, soft_wrap=True)  # one line: a command to copy
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        console.print("[bold yellow]interrupted[/]", highlight=False)
        raise typer.Exit(130) from None
    finally:
        logger.removeHandler(handler)
