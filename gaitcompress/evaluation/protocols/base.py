"""The protocol contract and registry: `PROTOCOLS.build("casiab")` → an object with `evaluate`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from gaitcompress.evaluation.features import Features
from gaitcompress.evaluation.ranking import Ranker
from gaitcompress.evaluation.result import EvalResult
from gaitcompress.registry import Registry


class EvalProtocol(Protocol):
    """Splits test features into probe/gallery sets and scores them with a `Ranker`."""

    name: str

    def evaluate(self, features: Features, ranker: Ranker) -> EvalResult: ...


PROTOCOLS: Registry[EvalProtocol] = Registry("evaluation protocol")


def sort_views(views: Iterable[str]) -> list[str]:
    """Unique views, numerically when all are numbers ('000' < '018' < ... < '180'), else as text."""
    unique = set(views)
    if all(v.isdigit() for v in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the non-None values, or None when there are none (never a division by zero)."""
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None
