"""The many-identity re-ranking table: rows of `gaitlab.rerank_many` runs, claims computed from them, the
validation choices, the held-out diagnostic and the scaling curve (table + plot).

    python -m gaitlab.rerank_many_table runs/synthgait_many/rerank_teacher runs/synthgait_many/rerank_student \
        runs/synthgait_many/rerank_w8a8 --scaling runs/synthgait_many/rerank_student \
        --out bench/results/rerank-synthgait-many.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gaitcompress.rerank.stage import combine_runs  # noqa: E402
from gaitcompress.results import write_results  # noqa: E402


def _mean(row: dict[str, Any], key: str) -> float:
    return row["metrics"][key]["mean"]


def claims(rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Per base model: does CarGait lift R1 over none and over the better k-reciprocal by more than its seeds' std?"""
    lines = [
        "| base model | none R1 | k-recip. R1 (paper / val-tuned) | CarGait R1 (mean ± std, seeds) | "
        "gain over none | gain over best k-recip. | over none > std? | over k-recip. > std? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    models = list(dict.fromkeys(r["model"] for r in rows))
    for model in models:
        group = [r for r in rows if r["model"] == model]
        none = next(r for r in group if r["method"] == "rerank-none")
        krs = [r for r in group if r["method"] == "rerank-kreciprocal"]
        cg = next(r for r in group if r["method"] == "rerank-cargait")
        r1 = cg["metrics"]["R1"]
        gain_none = r1["mean"] - _mean(none, "R1")
        gain_kr = r1["mean"] - max(_mean(k, "R1") for k in krs)
        ok_none, ok_kr = gain_none > r1["std"], gain_kr > r1["std"]
        verdicts.append(
            {
                "model": model,
                "label": none["label"].split(" + ")[0],
                "gain_over_none": gain_none,
                "gain_over_kreciprocal": gain_kr,
                "std": r1["std"],
                "holds_over_none": ok_none,
                "holds_over_kreciprocal": ok_kr,
            }
        )
        kr_text = " / ".join(f"{_mean(k, 'R1'):.2f}" for k in krs)
        lines.append(
            f"| {verdicts[-1]['label']} | {_mean(none, 'R1'):.2f} | {kr_text} | {r1['mean']:.2f} ± "
            f"{r1['std']:.2f} ({', '.join(f'{v:.2f}' for v in r1['values'])}) | {gain_none:+.2f} | "
            f"{gain_kr:+.2f} | {'**holds**' if ok_none else '**fails**'} | "
            f"{'**holds**' if ok_kr else '**fails**'} |"
        )
    return "\n".join(lines), verdicts


def choices(run_dirs: list[Path]) -> str:
    """What the validation split chose, and the held-out list diagnostic of every head budget tried."""
    out = []
    for run in run_dirs:
        c = json.loads((run / "choice.json").read_text())
        kr, head = c["kreciprocal_best"], c["cargait_best"]
        out += [
            f"**{run.name}** — {c['split']}; none R1 {c['none']['R1']:.2f}, mAP {c['none']['mAP']:.2f}. "
            f"k-reciprocal best of {len(c['kreciprocal'])}: k1={kr['k1']}, k2={kr['k2']}, λ={kr['lam']} "
            f"(R1 {kr['R1']:.2f}, mAP {kr['mAP']:.2f}). CarGait (iterations × lr):",
            "",
            "| iterations | lr | val R1 | val mAP | held-out pair acc. (stage 1) | held-out top-1 (stage 1) |",
            "|---|---|---|---|---|---|",
        ]
        for h in c["cargait"]:
            mark = " ← chosen" if (h["iterations"], h["lr"]) == (head["iterations"], head["lr"]) else ""
            out.append(
                f"| {h['iterations']} | {h['lr']:g} | {h['R1']:.2f}{mark} | {h['mAP']:.2f} | "
                f"{h['pair_acc']:.4f} ({h['stage1_pair_acc']:.4f}) | {h['top1']:.4f} ({h['stage1_top1']:.4f}) |"
            )
        out.append("")
    return "\n".join(out)


def scaling(run: Path, plot: Path) -> tuple[str, dict[str, Any]]:
    """The scaling curve of one run as a Markdown table and a PNG (test gain; held-out validation diagnostic)."""
    doc = json.loads((run / "scaling.json").read_text())
    curve, budget = doc["curve"], doc["budget"]
    lines = [
        f"Base model: {run.name}; one head per size (seed {budget['seed']}, {budget['iterations']} iterations, "
        f"lr {budget['lr']:g}); none on the test split: R1 {doc['none']['R1']:.2f}, R5 {doc['none']['R5']:.2f}, "
        f"mAP {doc['none']['mAP']:.2f}; on the validation ids: R1 {doc['none_val_R1']:.2f}.",
        "",
        "| head's training ids | test R1 | R5 | mAP | R1 gain | R5 gain | mAP gain | val R1 gain | "
        "held-out pair acc. (stage 1) | held-out top-1 (stage 1) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in curve:
        held = (
            f"{p['val_gain_R1']:+.2f} | {p['val_pair_acc']:.4f} ({p['val_stage1_pair_acc']:.4f}) | "
            f"{p['val_top1']:.4f} ({p['val_stage1_top1']:.4f})"
            if "val_pair_acc" in p
            else "n/a (head saw them) | n/a | n/a"
        )
        lines.append(
            f"| {p['train_ids']} | {p['R1']:.2f} | {p['R5']:.2f} | {p['mAP']:.2f} | {p['gain_R1']:+.2f} | "
            f"{p['gain_R5']:+.2f} | {p['gain_mAP']:+.2f} | {held} |"
        )
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.3))
    xs = [p["train_ids"] for p in curve]
    for key in ("R1", "R5", "mAP"):
        ax.plot(xs, [p[f"gain_{key}"] for p in curve], marker="o", label=f"test {key} gain")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xscale="log", xlabel="training identities of the CarGait head", ylabel="gain over no re-ranking (points)")
    ax.legend(fontsize=8)
    held = [p for p in curve if "val_pair_acc" in p]
    hx = [p["train_ids"] for p in held]
    for key, colour in (("pair_acc", "C0"), ("top1", "C1")):
        bx.plot(hx, [p[f"val_{key}"] for p in held], marker="o", color=colour, label=f"{key}, head")
        bx.plot(hx, [p[f"val_stage1_{key}"] for p in held], ls="--", color=colour, label=f"{key}, stage 1")
    bx.set(xscale="log", xlabel="training identities of the CarGait head", ylabel="held-out validation lists")
    bx.legend(fontsize=8)
    fig.suptitle(f"CarGait vs training identities ({run.name}, 1 seed per size)", fontsize=10)
    fig.tight_layout()
    fig.savefig(plot, dpi=110)
    plt.close(fig)
    return "\n".join(lines), doc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--scaling", type=Path, help="run folder whose scaling.json is plotted")
    parser.add_argument("--out", type=Path, default=Path("bench/results/rerank-synthgait-many.json"))
    parser.add_argument("--notes", type=Path, help="Markdown prepended to the computed notes (setting, analysis)")
    args = parser.parse_args(argv)
    doc = combine_runs(args.runs, args.out.stem)
    doc["command"] = " ".join(["python -m gaitlab.rerank_many_table", *(sys.argv[1:] if argv is None else argv)])
    claim_table, verdicts = claims(doc["rows"])
    notes = [
        args.notes.read_text() if args.notes else "",
        "## Claims computed from the rows",
        "",
        claim_table,
        "",
        "## Choices made on the validation split of training identities (never on the test split)",
        "",
        choices(args.runs),
    ]
    if args.scaling:
        plot = args.out.with_suffix(".scaling.png")
        plot.parent.mkdir(parents=True, exist_ok=True)
        table, curve = scaling(args.scaling, plot)
        notes += [
            "## Scaling: CarGait's gain vs the head's training identities",
            "",
            table,
            "",
            f"![scaling]({plot.name})",
            "",
        ]
        doc["scaling"] = curve
    doc["claims"] = verdicts
    doc["notes"] = "\n".join(notes)
    write_results(doc, args.out)
    print(claim_table)


if __name__ == "__main__":
    main()
