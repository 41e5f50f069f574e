"""The QAT budget chosen by measurement (issue 17): validation rank-1 of LSQ w4a4 and QGait w4a4 every N iterations.

    python -m gaitlab.qgait_curve --teacher runs/synthgait_wide/teacher --budget 720 --every 120 --spread 0.51 \
        --out bench/results/qgait-curve-synthgait-wide

Each method is one QAT run (one seed) of its recipe in `--recipes` with `train.eval_every=N`, the STE stage
stretched to `--budget` iterations at the recipe's constant stage-1 learning rate (no decay: a point at iteration b
is then what a budget of b would have reached before its final decay), scored on the recipe's split (the
validation ids, `data.val_ids`). QGait's curve is its stage 1 (LSQ + STE + IDD); `--soft M` then runs its soft θ_k
stage for M iterations from the curve's end (more points, offset by the budget). A larger `--budget` later extends
a finished curve from its last checkpoint (`--resume`), so a curve that is not flat yet costs only the new points.

The budget is flat at the first point b whose next step (b → b + N) gains less than `--spread` (the seeds' std of
these rows: measured, or the eighth-width table's as a prior — the note says which) for every method; if no step
is that small, the gains' geometric decay is extrapolated to the budget where it would be, and the note says so.
Writes `OUT.json` + `OUT.md` (rows: every point, `gaitcompress.results` schema; `curve`, `decision`) and `OUT.png`.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

from gaitcompress.results import make_results, summarize, write_results

METHODS = ("quant_lsq4", "quant_qgait4")
METRIC = "mean@R1"


def eval_points(log: Path, offset: int = 0) -> list[dict[str, Any]]:
    """The evaluation rows of an engine `log.jsonl` (those with METRIC), last one per iteration, shifted by `offset`."""
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    by_it = {r["iteration"]: r for r in rows if METRIC in r}
    return [{**by_it[i], "iteration": i + offset} for i in sorted(by_it)]


def flat_budget(points: list[dict[str, Any]], spread: float) -> dict[str, Any]:
    """Where one more step stops paying: the first point whose next step gains < `spread`, else an extrapolation.

    Gains are between consecutive points. Without a flat step, the last two positive gains' ratio r (< 1) says how
    gains decay per step; the budget is where the first future step with last_gain · r^j < spread starts (None if the
    gains do not decay).
    """
    its = [p["iteration"] for p in points]
    vals = [p[METRIC] for p in points]
    gains = [b - a for a, b in zip(vals, vals[1:], strict=False)]
    for i, g in enumerate(gains):
        if g < spread:
            return {"budget": its[i], "measured": True, "gains": gains}
    out: dict[str, Any] = {"budget": None, "measured": False, "gains": gains}
    if len(gains) >= 2 and 0 < gains[-1] < gains[-2]:
        ratio = gains[-1] / gains[-2]
        first_small = math.floor(math.log(spread / gains[-1]) / math.log(ratio)) + 1  # gain·r^j < spread from j on
        step = its[-1] - its[-2]
        budget = its[-1] + (first_small - 1) * step  # where that step starts
        out.update(budget=budget, ratio=ratio, extra_gain=gains[-1] * ratio / (1 - ratio))
    return out


def run_curve(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run (or extend) one method's curve; its evaluation points, stage 2's offset by the stage-1 budget."""
    from gaitcompress.quant.qat import run_quantize
    from gaitcompress.recipe import load_recipe

    run_dir = Path(args.runs) / name
    soft = args.soft if "qgait" in name else 0
    done = eval_points(run_dir / "stage1/log.jsonl")
    have_soft = eval_points(run_dir / "stage2/log.jsonl")
    if have_soft and (not done or done[-1]["iteration"] < args.budget):
        sys.exit(f"{run_dir}: its soft stage ran after a shorter curve; delete {run_dir} to extend the curve")
    if not (done and done[-1]["iteration"] >= args.budget and (len(have_soft) > 0) == (soft > 0)):
        overrides = [
            f"quant.checkpoint={args.teacher}", f"run_dir={run_dir}", f"seed={args.seed}",
            f"train.eval_every={args.every}", f"train.save_every={args.every}", "sched.milestones=[]",
            f"quant.stage1.iterations={args.budget}", f"quant.stage2.iterations={soft}",
        ]  # fmt: skip
        run_quantize(load_recipe(Path(args.recipes) / f"{name}.yaml", overrides), resume=True)
    stage1 = eval_points(run_dir / "stage1/log.jsonl")
    for p in stage1:
        p["stage"] = "ste"
    stage2 = [{**p, "stage": "soft"} for p in eval_points(run_dir / "stage2/log.jsonl", offset=args.budget)]
    return stage1 + stage2


def render(curves: dict[str, list[dict[str, Any]]], decision: dict[str, Any], fp32: float | None) -> str:
    """The curve as a Markdown table (one column per method, the gain over the previous point in brackets)."""
    its = sorted({p["iteration"] for ps in curves.values() for p in ps})
    names = list(curves)
    lines = ["## Curve (validation mean@R1; gain over the previous point)", ""]
    lines += ["| iteration | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for it in its:
        cells = []
        for n in names:
            ps = [p for p in curves[n] if p["iteration"] == it]
            if not ps:
                cells.append("")
                continue
            prev = [p for p in curves[n] if p["iteration"] < it]
            gain = f" ({ps[0][METRIC] - prev[-1][METRIC]:+.2f})" if prev else ""
            soft = " soft" if ps[0]["stage"] == "soft" else ""
            cells.append(f"{ps[0][METRIC]:.2f}{gain}{soft}")
        lines.append(f"| {it} | " + " | ".join(cells) + " |")
    if fp32 is not None:
        lines += ["", f"FP32 starting checkpoint on the same split: {fp32:.2f}."]
    lines += ["", "## Decision", ""]
    for n, d in decision["methods"].items():
        if d["measured"]:
            what = f"flat at {d['budget']} (next step gains < {decision['spread']:.2f})"
        elif d["budget"] is not None:
            what = (
                f"not flat within the curve; extrapolated (gain ratio {d['ratio']:.2f}/step): flat near "
                f"{d['budget']}, about {d['extra_gain']:+.2f} more to gain"
            )
        else:
            what = "not flat and gains do not decay yet: no extrapolation"
        lines.append(f"- {n}: {what}.")
    lines.append(f"- Chosen STE budget: {decision['budget']} ({decision['basis']}).")
    return "\n".join(lines) + "\n"


def plot(curves: dict[str, list[dict[str, Any]]], fp32: float | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, ps in curves.items():
        ste = [p for p in ps if p["stage"] == "ste"]
        line = ax.plot([p["iteration"] for p in ste], [p[METRIC] for p in ste], marker="o", label=name)[0]
        soft = [p for p in ps if p["stage"] == "soft"]
        if soft:
            xs, ys = (
                [ste[-1]["iteration"]] + [p["iteration"] for p in soft],
                [ste[-1][METRIC]] + [p[METRIC] for p in soft],
            )
            ax.plot(xs, ys, marker="s", ls="--", color=line.get_color(), label=f"{name} soft stage")
    if fp32 is not None:
        ax.axhline(fp32, color="grey", lw=0.8, ls=":", label="FP32")
    ax.set(xlabel="QAT iterations (one seed)", ylabel="validation mean@R1")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", default="runs/synthgait_wide/teacher", help="FP32 checkpoint or run folder")
    ap.add_argument("--recipes", default="recipes/synthgait_wide")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--budget", type=int, default=720, help="STE iterations of the curve (grow it to extend)")
    ap.add_argument("--every", type=int, default=120, help="evaluate every N iterations")
    ap.add_argument("--soft", type=int, default=0, help="QGait: soft-stage iterations after the curve's end")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spread", type=float, required=True, help="the seeds' std: a smaller step gain is flat")
    ap.add_argument("--spread-source", default="", help="where --spread comes from (written into the note)")
    ap.add_argument("--runs", default="runs/synthgait_wide/curve")
    ap.add_argument("--out", default="bench/results/qgait-curve-synthgait-wide")
    ap.add_argument("--notes", default="", help="Markdown appended under the decision (the analysis)")
    args = ap.parse_args(argv)
    from gaitcompress.quant.qat import parse_quant_recipe
    from gaitcompress.recipe import load_recipe
    from gaitcompress.train.stage import dataset_info
    from gaitlab.quant_table import fp32_row

    names = [n for n in args.methods.split(",") if n]
    curves = {n: run_curve(n, args) for n in names}
    decision: dict[str, Any] = {"spread": args.spread, "spread_source": args.spread_source, "methods": {}}
    for n, ps in curves.items():
        decision["methods"][n] = flat_budget([p for p in ps if p["stage"] == "ste"], args.spread)
    budgets = [d["budget"] for d in decision["methods"].values()]
    measured = all(d["measured"] for d in decision["methods"].values())
    decision["budget"] = max(budgets) if None not in budgets else None
    decision["basis"] = "measured: the later of the methods' flat points" if measured else "extrapolated"
    base = load_recipe(Path(args.recipes) / f"{names[0]}.yaml", [f"quant.checkpoint={args.teacher}"])
    # the FP32 model scored as the curve's points are (same split, same clip length: QAT recipes score 16 frames,
    # its own training run scored 30, which reads several points higher for no reason)
    fp32 = fp32_row(base, args.teacher, [args.seed])["metrics"][METRIC]["mean"]
    rows = [
        {"method": f"{n}@{p['iteration']}", "label": f"{n}, {p['stage']} stage, iteration {p['iteration']}",
         "bits": "w4a4", "seeds": [args.seed],
         "metrics": {k: summarize([v]) for k, v in p.items() if k not in ("iteration", "stage")}}
        for n, ps in curves.items() for p in ps
    ]  # fmt: skip
    cfg = parse_quant_recipe(base)
    dataset = dataset_info(cfg.data, cfg.eval.split)
    spread_note = f"Spread: {args.spread:.2f}" + (f" ({args.spread_source})" if args.spread_source else "") + ".\n\n"
    notes = spread_note + render(curves, decision, fp32) + (Path(args.notes).read_text() if args.notes else "")
    command = "python -m gaitlab.qgait_curve " + shlex.join(argv if argv is not None else sys.argv[1:])
    doc = make_results(Path(args.out).name, rows, dataset, command, notes)
    doc.update(curve=curves, decision=decision, fp32=fp32)
    out = write_results(doc, Path(args.out).with_suffix(".json"))
    plot(curves, fp32, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
