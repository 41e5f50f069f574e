"""Progress reporting without rich in the library.

Library loops take a `Tracker` and call `with tracker.task("training", total) as step: step(1, loss=...)`.
The CLI passes a rich-backed tracker (`gaitcompress.commands._common.RichTracker`); tests and library
users get `NullTracker` (or their own), so the library never imports rich.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

Step = Callable[..., None]  # step(advance: int = 1, **fields) — fields are shown next to the bar


class Tracker(Protocol):
    def task(self, description: str, total: int | None = None) -> contextlib.AbstractContextManager[Step]:
        """A context manager that yields a `step` function for one loop."""
        ...


class NullTracker:
    """Tracker that reports nothing (the default for library calls)."""

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Step]:
        def step(advance: int = 1, **fields: Any) -> None:
            return None

        yield step


NULL = NullTracker()
