"""The judged learning curve of generator runs: a results table and a plot from their `log.jsonl`.

`synth train` with `train.eval_every` and a `judge.recognizer` logs, at iteration 0 and every `eval_every`
iterations, the judge's figures on a small generated set (`JudgeProbe`): identity rank-1, view accuracy, Fréchet
distance and the label sensitivities. This module reads those rows back — one results row per (run, iteration) —
and draws identity rank-1 / view accuracy and the label-vs-noise pixel changes against iterations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gaitcompress.errors import GaitCompressError
from gaitcompress.results import make_results, summarize, write_results
from gaitcompress.train.logging import read_log

CURVE_KEYS = ("id@R1", "view@acc", "FD", "Δid", "Δview", "Δcov", "Δnoise", "eps_mse")


def curve_points(run_dir: str | Path) -> list[dict[str, Any]]:
    """The judged rows of a run's log (`{'iteration', 'id@R1', ...}`), in iteration order."""
    rows = [r for r in read_log(run_dir) if "id@R1" in r]
    if not rows:
        raise GaitCompressError(
            f"{run_dir}/log.jsonl has no judged rows",
            "train with train.eval_every > 0 and judge.recognizer set (see recipes/synthgait/synth_film.yaml)",
        )
    last = {r["iteration"]: r for r in rows}  # a resumed run may log an iteration twice: keep the later
    return [last[k] for k in sorted(last)]


def curve_results(runs: Sequence[str | Path], name: str, command: str | None = None) -> dict[str, Any]:
    """One §15 row per judged checkpoint of each run: method = run folder name, `iteration` on the row."""
    rows = []
    for run in runs:
        method = Path(run).name
        for point in curve_points(run):
            metrics = {k: summarize([point[k]]) for k in CURVE_KEYS if k in point}
            rows.append({
                "method": method, "label": f"{method} @ {point['iteration']}", "model": "gaitcrafter",
                "bits": "fp32", "seeds": [0], "iteration": point["iteration"], "metrics": metrics,
            })  # fmt: skip
    return make_results(name, rows, {"runs": [str(r) for r in runs]}, command)


def plot_curve(doc: dict[str, Any], path: str | Path) -> Path:
    """Two panels against iterations: id@R1 and view@acc (%), and Δid / Δview / Δnoise pixels (%)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for method in dict.fromkeys(r["method"] for r in doc["rows"]):
        rows = [r for r in doc["rows"] if r["method"] == method]
        its = [r["iteration"] for r in rows]

        def series(key: str, rows: list[dict[str, Any]] = rows) -> list[float]:
            return [r["metrics"][key]["mean"] if key in r["metrics"] else float("nan") for r in rows]

        top.plot(its, series("id@R1"), marker="o", label=f"{method} id@R1")
        top.plot(its, series("view@acc"), marker="s", linestyle="--", label=f"{method} view@acc")
        for key, style in (("Δid", "-"), ("Δview", "--"), ("Δnoise", ":")):
            bottom.plot(its, series(key), marker=".", linestyle=style, label=f"{method} {key}")
    top.axhline(10.0, color="grey", linewidth=0.8)
    top.set_ylabel("% (grey: id chance)")
    top.legend(fontsize=7)
    bottom.set_ylabel("pixels changed, %")
    bottom.set_xlabel("iteration")
    bottom.legend(fontsize=7)
    fig.suptitle(doc["name"])
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_synth_curve(runs: Sequence[str | Path], out: str | Path, command: str | None = None) -> dict[str, Any]:
    """Write `out` (.json + .md) and the plot beside it (`out` with .png)."""
    out = Path(out)
    doc = curve_results(runs, out.stem, command)
    write_results(doc, out)
    plot_curve(doc, out.with_suffix(".png"))
    return doc
