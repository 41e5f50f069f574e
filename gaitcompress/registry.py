"""A thin, greppable registry of named builders (models, losses, quantizers, exporters, backends).

Recipes name entries, never import paths, so a recipe can never run arbitrary code. Duplicate
names raise; unknown names raise with the nearest names; `build()` rejects keyword arguments the
builder does not take and lists the valid ones, and drops `None` values so builder defaults survive
(the rule timm's `create_model` uses for overrides).
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from gaitcompress.errors import GaitCompressError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → builder mapping for one kind of component."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register a builder (function or class) under `name` (default: its __name__)."""

        def deco(fn: Callable[..., T]) -> Callable[..., T]:
            key = name or fn.__name__
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice ({self._entries[key]} and {fn})")
            self._entries[key] = fn
            return fn

        return deco

    def get(self, name: str) -> Callable[..., T]:
        """The builder registered as `name`; unknown names raise with the nearest valid ones."""
        if name not in self._entries:
            raise GaitCompressError(f"unknown {self.kind} {name!r}", did_you_mean(name, self._entries))
        return self._entries[name]

    def build(self, name: str, **kwargs: Any) -> T:
        """Call the builder for `name` with `kwargs`, rejecting arguments it does not accept."""
        fn = self.get(name)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        params = inspect.signature(fn).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            valid = [p for p in params if p not in ("self", "cls")]
            for key in kwargs:
                if key not in params:
                    raise GaitCompressError(f"{self.kind} {name!r} takes no argument {key!r}", did_you_mean(key, valid))
        return fn(**kwargs)

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a shell-style wildcard."""
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries
