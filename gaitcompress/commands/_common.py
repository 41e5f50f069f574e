"""What every command shares: the console, the recipe/override arguments, a rich progress tracker."""

from __future__ import annotations

import contextlib
import logging
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gaitcompress.errors import GaitCompressError

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
    """`gaitcompress.progress.Tracker` drawn with rich progress bars on stderr; plain lines when it is not a terminal.

    On a terminal: one live display of bars; a task opened inside another (the evaluation after training) is one
    more bar in it, removed when it ends. Written to a log (stderr redirected, CI): rich would draw nothing until the
    end, so each task prints `description: done/total elapsed fields` every `every` seconds and when it ends.
    """

    def __init__(
        self, console_: Console | None = None, every: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.console = console_ or console
        self.every, self.clock = every, clock
        self._progress: Progress | None = None  # the live display while a task is open

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Any]:
        if not self.console.is_terminal:
            with self._lines(description, total) as step:
                yield step
            return
        if self._progress is not None:  # nested: another bar in the open display
            tid = self._progress.add_task(description, total=total, info="")
            try:
                yield self._stepper(self._progress, tid)
            finally:
                self._progress.remove_task(tid)
            return
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
        ]
        with Progress(*columns, console=self.console) as progress:
            self._progress = progress
            try:
                yield self._stepper(progress, progress.add_task(description, total=total, info=""))
            finally:
                self._progress = None

    @staticmethod
    def _stepper(progress: Progress, tid: TaskID) -> Callable[..., None]:
        def step(advance: int = 1, **fields: Any) -> None:
            progress.update(tid, advance=advance, info=_fields(fields))

        return step

    @contextlib.contextmanager
    def _lines(self, description: str, total: int | None) -> Iterator[Any]:
        start = last = self.clock()
        done, shown, info = 0, -1, ""

        def line() -> None:
            nonlocal shown
            of = f"/{total}" if total is not None else ""
            text = f"{description}: {done}{of} {self.clock() - start:.0f}s {info}".rstrip()
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
            shown = done

        def step(advance: int = 1, **fields: Any) -> None:
            nonlocal done, info, last
            done, info = done + advance, _fields(fields)
            if self.clock() - last >= self.every:
                last = self.clock()
                line()

        try:
            yield step
        finally:
            if done != shown:  # the end (also an early one: the log shows how far it got), unless just shown
                line()


def _fields(fields: dict[str, Any]) -> str:
    """`loss=0.1234  R1=87.5`: the numbers shown next to a task."""
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())


def command_line() -> str:
    """The command as typed (`gaitcompress ...`): recorded in results and used for the resume hint."""
    return shlex.join(["gaitcompress", *sys.argv[1:]])


class _Notices(logging.Handler):
    """The run life cycle's notices (resumed from, skipped, took over a lock) as lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        style = "yellow" if record.levelno >= logging.WARNING else "cyan"
        console.print(f"[{style}]{record.getMessage()}[/]", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def flag_names(names: Mapping[str, str]) -> Iterator[None]:
    """Errors about the recipe keys this command sets from flags speak of the flags (`data.partition` →
    `--partition`), so the library's one check serves the recipe and the command line alike."""
    try:
        yield
    except GaitCompressError as exc:
        if exc.key not in names:
            raise
        raise exc.renamed(names) from None


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
