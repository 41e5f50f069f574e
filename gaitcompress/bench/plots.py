"""Plots a person would rather look at than read: latency per backend, and accuracy Pareto fronts.

Inputs are rows of the shared results form, from any mix of documents (bench, quantize, distill,
pipeline). A row contributes to a Pareto plot when it has the accuracy metric and the cost (BitOPs from
`cost.bitops`, latency from `latency.p50_ms`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated (lower cost x and higher accuracy y), sorted by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _label(row: Mapping[str, Any]) -> str:
    parts = [row.get("method", "?"), row.get("bits", "")]
    return " ".join(p for p in parts if p)


def plot_latency(rows: Sequence[Mapping[str, Any]], path: str | Path, title: str = "latency") -> Path:
    """Horizontal bars of median latency per model@backend, whiskers to p90."""
    rows = [r for r in rows if "latency" in r]
    labels = [
        f"{r['method']} @ {r['latency']['backend']} (b{r['latency']['batch']}, {r['latency']['frames']}f)" for r in rows
    ]
    p50 = [r["latency"]["p50_ms"] for r in rows]
    p90 = [r["latency"]["p90_ms"] - r["latency"]["p50_ms"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    ax.barh(labels, p50, xerr=[[0] * len(rows), p90], color="#4C72B0", capsize=3)
    ends = [a + b for a, b in zip(p50, p90, strict=True)]
    for y, (value, end) in enumerate(zip(p50, ends, strict=True)):  # past the whisker's cap, never struck through
        ax.text(end, y, f"  {value:.2f} ms", va="center", fontsize=8)
    ax.set_xlim(0, 1.25 * max(ends, default=1.0))
    ax.set_xlabel("median ms per call (whisker: p90)")
    ax.set_title(title)
    ax.invert_yaxis()
    fig.tight_layout()
    return _save(fig, path)


def plot_pareto(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    x: str = "bitops",
    metric: str = "mean@R1",
    title: str | None = None,
) -> Path:
    """Accuracy (`metric` mean) against cost (`x`: 'bitops', 'macs', 'params' or 'latency'), front drawn."""
    pts, names = [], []
    for row in rows:
        acc = row.get("metrics", {}).get(metric)
        cost = row.get("latency", {}).get("p50_ms") if x == "latency" else row.get("cost", {}).get(x)
        if acc is None or cost is None:
            continue
        pts.append((float(cost), float(acc["mean"])))
        names.append(_label(row))
    fig, ax = plt.subplots(figsize=(7, 5))
    if pts:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="#4C72B0", zorder=3)
        for (cx, cy), name in zip(pts, names, strict=True):
            ax.annotate(name, (cx, cy), textcoords="offset points", xytext=(4, 4), fontsize=8)
        front = pareto_front(pts)
        ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "--", color="#C44E52", label="Pareto front")
        ax.legend()
    if x in ("bitops", "macs", "params") and pts and min(p[0] for p in pts) > 0:
        ax.set_xscale("log")
    ax.set_xlabel({"bitops": "BitOPs (QGait convention)", "latency": "median latency (ms)"}.get(x, x))
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(title or f"{metric} vs {x}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_latency_throughput(
    points: Sequence[tuple[str, float, float, str]], path: str | Path, title: str = "latency vs throughput"
) -> Path:
    """Throughput (sequences/s) against per-call latency (ms): one line per series, each point annotated.

    `points`: (series, latency ms, sequences per second, point label such as 'b8' or '4cam'); up and to the left
    is better, and a series' slope shows what batching or streams buy in throughput for what they cost in latency.
    """
    series: dict[str, list[tuple[float, float, str]]] = {}
    for name, ms, rate, tag in points:
        series.setdefault(name, []).append((ms, rate, tag))
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for name, pts in series.items():
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name, alpha=0.8)
        for ms, rate, tag in pts:
            ax.annotate(tag, (ms, rate), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("median latency per call (ms, log)")
    ax.set_ylabel("sequences per second")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
