"""Flat views of an `EvalResult` for commands and reports (no rich here: commands render)."""

from __future__ import annotations

from gaitcompress.evaluation.result import EvalResult

ORDER = ("NM@R1", "BG@R1", "CL@R1", "mean@R1", "R1", "R5", "R10", "mAP", "mINP", "NM@mAP", "BG@mAP", "CL@mAP")


def result_rows(result: EvalResult) -> list[tuple[str, float]]:
    """`(name, value)` pairs: the headline metrics in a fixed order, then any others alphabetically."""
    known = [(k, result.metrics[k]) for k in ORDER if k in result.metrics]
    rest = sorted((k, v) for k, v in result.metrics.items() if k not in ORDER)
    return known + rest
