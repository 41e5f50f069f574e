"""One exception type for problems a user can fix.

The CLI turns a `GaitCompressError` into one red line plus its hint and exit code 1; any other
exception is a bug and keeps its traceback. Library code raises this whenever the cause is the
user's input (a file, a recipe key, a checkpoint), naming the file and the fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping


class GaitCompressError(Exception):
    """A user-fixable error: `message` says what is wrong, `hint` says what to do.

    `key` is the recipe key the error is about (`data.partition`), so a command whose flags set such keys can
    speak of its own flag instead (`renamed`): the check itself lives once, where the key is read.
    """

    def __init__(self, message: str, hint: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.key = key

    def renamed(self, names: Mapping[str, str]) -> GaitCompressError:
        """The same error with each recipe key of `names` written as its flag: `train=30` → `--train 30`."""

        def swap(text: str) -> str:
            for key, flag in names.items():
                bare = rf"(?<![\w.-]){re.escape(key)}"
                text = re.sub(bare + "=", lambda _, f=flag: f + " ", text)
                text = re.sub(bare + r"(?![\w=])", lambda _, f=flag: f, text)
            return text

        return GaitCompressError(swap(self.message), self.hint and swap(self.hint), self.key)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


def nearest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Closest spellings of `name` among `choices`, for 'did you mean' hints."""
    return difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A hint string listing the nearest valid names (or all of them when none is close)."""
    choices = sorted(choices)
    close = nearest(name, choices)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "valid names: " + ", ".join(choices)
