"""The QGait comparison table on SynthGait (issue 5): FP32, PTQ-8, DoReFa / PACT / LSQ / QGait at w4a4 and w8a8,
vanilla KD vs IDD, fixed vs growing k — every row on the same FP32 student, QAT repeated over seeds.

    python -m gaitlab.quant_table --student runs/synthgait/student_quick --seeds 0,1,2 \
        --out bench/results/qgait-synthgait

The quarter-width table (issue 17) runs the recipes of `recipes/synthgait_wide` (validation split held out of
training), scores the final rows on the test ids and checks issue 17's claims:

    python -m gaitlab.quant_table --recipes recipes/synthgait_wide --student runs/synthgait_wide/teacher \
        --split test --claims issue17 --only fp32,ptq8,quant_lsq4,quant_qgait4,... \
        --runs runs/synthgait_wide/qgait_table --out bench/results/qgait-synthgait-wide

FP32 is the student checkpoint itself (one model, so its std over seeds is 0: the seeds vary the QAT and PTQ runs —
data order, calibration batches, quantizer init — not the FP32 training). Rows are written with
`gaitcompress.results.write_results` as `OUT.json` + `OUT.md`, plus per-run folders under `--runs`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from functools import partial
from pathlib import Path
from typing import Any

from gaitcompress.progress import NULL, Tracker
from gaitcompress.results import make_results, summarize, write_results

QAT_RECIPES = (  # run (and table) order: the claims' rows first, then the ablations the issue lists
    "quant_lsq4",
    "quant_qgait4",
    "quant_lsq8",
    "quant_qgait8",
    "quant_qgait4_vanillakd",
    "quant_qgait4_fixedk",
    "quant_dorefa4",
    "quant_pact4",
    "quant_dorefa8",
    "quant_pact8",
)
OPTIONAL = (  # further ablations and diagnoses, run only when named in --only
    "quant_qgait4_noidd",
    "quant_qgait4_hardfwd",
    "quant_lsq4_fl8",
    "quant_qgait4_fl8",
    "quant_fp32ft",
    "quant_lsq4_bnre",
    "quant_qgait4_bnre",
)


def fp32_row(recipe: dict[str, Any], student: str, seeds: list[int], tracker: Tracker = NULL) -> dict[str, Any]:
    from gaitcompress import checkpoints as ckpt_io
    from gaitcompress.data import num_classes
    from gaitcompress.evaluation import evaluate_model
    from gaitcompress.models import load_checkpoint
    from gaitcompress.quant.qat import parse_quant_recipe

    cfg = parse_quant_recipe({**recipe, "quant": {**recipe["quant"], "checkpoint": student}})
    model = load_checkpoint(ckpt_io.resolve_checkpoint(student), None, num_classes(cfg.data))
    res = evaluate_model(model, cfg.data, cfg.eval.protocol, tracker, metric=cfg.eval.metric, split=cfg.eval.split)
    from gaitcompress.quant.cost import bitops_report

    cost = bitops_report(model, cfg.data.train_frames, tuple(cfg.data.input_size)).as_cost()
    return {
        "method": "fp32",
        "label": f"FP32 student ({student})",
        "model": model.spec.name,
        "bits": "fp32",
        "seeds": seeds,
        "metrics": {k: summarize([v] * len(seeds)) for k, v in res.metrics.items()},
        "cost": cost,
    }


def ptq_row(recipe: dict[str, Any], student: str, seeds: list[int], runs: Path) -> dict[str, Any]:
    from gaitcompress.export.ptq import run_ptq
    from gaitcompress.quant.qat import parse_quant_recipe

    outs = []
    for s in seeds:
        cfg = parse_quant_recipe({**recipe, "seed": s, "quant": {**recipe["quant"], "checkpoint": student}})
        outs.append(run_ptq(cfg, student, runs / f"ptq8/seed{s}", score_fp32=s == seeds[0]))
    names = [k for k in outs[0]["metrics"] if all(k in o["metrics"] for o in outs)]
    return {
        "method": "ptq8",
        "label": "onnxruntime static PTQ (QDQ, per-channel int8 weights, uint8 MinMax activations, 8 train batches)",
        "model": outs[0]["model"],
        "bits": "w8a8",
        "seeds": seeds,
        "metrics": {k: summarize([o["metrics"][k] for o in outs]) for k in names},
        "metrics_fp32_onnx": {k: summarize([v]) for k, v in outs[0]["metrics_fp32_onnx"].items()},
        "cost": outs[0]["cost"],
        "train": {"wall_s": [round(o["wall_s"], 1) for o in outs]},
    }


def _cached(path: Path, make: Any) -> dict[str, Any]:
    """A row from `path` if an earlier (interrupted) run of the table finished it, else `make()` saved there."""
    if path.is_file():
        return json.loads(path.read_text())
    row = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row, indent=1))
    return row


NOISE = "noise"  # a bound meaning "the larger of the two rows' seed std"
CLAIMS = (  # (what, row, reference row, bound): QGait's claims as the issue states them, on mean@R1
    ("QGait w8a8 within 0.5 rank-1 of FP32", "qgait8", "fp32", -0.5),
    ("QGait w4a4 within 2 rank-1 of FP32", "qgait4", "fp32", -2.0),
    ("QGait w4a4 ahead of LSQ w4a4", "qgait4", "lsq4", 0.0),
)
CLAIMS_17 = (  # issue 17's claims for the quarter-width table
    ("QGait w4a4 within 1.0 rank-1 of FP32", "qgait4", "fp32", -1.0),
    ("QGait w4a4 ahead of LSQ w4a4 by more than the larger std", "qgait4", "lsq4", NOISE),
    ("IDD ahead of vanilla KD (QGait w4a4)", "qgait4", "qgait4-vanillakd", 0.0),
    ("growing k ahead of fixed k (QGait w4a4)", "qgait4", "qgait4-fixedk", 0.0),
    # the same two claims from the longer-trained FP32 checkpoint, when its rows are listed (--extra …=-1200it)
    ("[1200it] QGait w4a4 within 1.0 rank-1 of FP32", "qgait4-1200it", "fp32-1200it", -1.0),
    ("[1200it] QGait w4a4 ahead of LSQ w4a4 by more than the larger std", "qgait4-1200it", "lsq4-1200it", NOISE),
)
CLAIM_SETS = {"issue5": CLAIMS, "issue17": CLAIMS_17}


def claims(rows: list[dict[str, Any]], metric: str = "mean@R1", which: tuple = CLAIMS) -> list[dict[str, Any]]:
    """Each claim of `which` checked on the rows' mean over seeds: holds iff mean(row) − mean(ref) > bound.

    `noise` is the larger of the two rows' seed std: a margin smaller than it is not a resolved difference; a
    bound of `NOISE` is that std itself (the claim needs a resolved lead).
    """
    by = {r["method"]: r["metrics"][metric] for r in rows if metric in r.get("metrics", {})}
    out = []
    for what, row, ref, bound in which:
        if row in by and ref in by:
            diff = by[row]["mean"] - by[ref]["mean"]
            noise = max(by[row]["std"], by[ref]["std"])
            limit = noise if bound == NOISE else bound
            out.append({"claim": what, "row": row, "ref": ref, "diff": diff, "bound": limit, "noise": noise,
                        "holds": diff > limit})  # fmt: skip
    return out


def render_claims(items: list[dict[str, Any]]) -> str:
    lines = ["## Claims (mean@R1 = mean of NM/BG/CL rank-1 over seeds)", ""]
    for c in items:
        verdict = "holds" if c["holds"] else "does NOT hold"
        if abs(c["diff"] - c["bound"]) < c["noise"] and c["bound"] != c["noise"]:
            verdict += " (margin within seed std: not resolved)"
        lines.append(
            f"- {c['claim']}: {c['row']} − {c['ref']} = {c['diff']:+.2f} (bound {c['bound']:+.2f}; seed std up to "
            f"{c['noise']:.2f}) → **{verdict}**"
        )
    return "\n".join(lines) + "\n"


def setting_notes(dataset: dict[str, Any], seeds: list[int], rows: list[dict[str, Any]]) -> str:
    """What every number in the table was measured on (dataset, split, seeds, budget), from the run itself."""
    ids = dataset.get("ids", ["?", "?"])
    val = dataset.get("val_ids")
    held = (
        f" Validation: ids {val[0]}–{val[-1]} ({len(val)}) are held out of every training run (FP32 and QAT) and "
        f"every choice was made on them; this table scores the {dataset.get('split')} split."
        if val
        else ""
    )
    budgets = sorted({f"{r['train']['stage1']}+{r['train']['stage2']}" for r in rows if "stage1" in r.get("train", {})})
    return "\n".join(
        [
            "## Setting",
            "",
            f"- Dataset: SynthGait (procedural, generator seed {dataset.get('seed')}, difficulty "
            f"{dataset.get('difficulty')}), inputs {dataset.get('input')}, {dataset.get('frames')}-frame training "
            f"clips; test sequences scored on their first {dataset.get('test_frames')} frames.",
            f"- Split: {ids[0]} training ids (QAT and PTQ calibration), {ids[1]} disjoint test ids scored with the "
            "CASIA-B protocol (NM/BG/CL probes against the NM gallery, euclidean, identical-view cells excluded)."
            + held,
            f"- Seeds: {','.join(map(str, seeds))} for every QAT and PTQ row (data order, quantizer init and "
            "calibration batches); FP32 is one model, so its std is 0. Rows marked [45it] are the earlier budget.",
            f"- QAT iterations (stage 1 + stage 2) in this table: {', '.join(budgets)}; the labels give each row's "
            "schedule. All QAT rows start from the same FP32 student; batch 4×4, Adam 1e-4 (QGait).",
            "- Evaluation always rounds hard (round half to even), as deployed; BitOPs = MACs·b_w·b_a/1024 for "
            "convs and the per-part FC.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    from gaitcompress.quant.qat import parse_quant_recipe, run_quantize_seeds
    from gaitcompress.recipe import load_recipe
    from gaitcompress.train.stage import dataset_info

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--student", default="runs/synthgait/student_quick", help="FP32 checkpoint or run folder")
    ap.add_argument("--seeds", default="0,1,2", help="seeds of every QAT and PTQ row (mean ± std over them)")
    ap.add_argument("--recipes", default="recipes/synthgait")
    ap.add_argument("--runs", default="runs/synthgait/qgait_table")
    ap.add_argument("--only", default="", help="comma-separated subset: fp32,ptq8,quant_lsq4,...")
    ap.add_argument("--with", dest="also", default="", help=f"optional rows to add, of: {','.join(OPTIONAL)}")
    ap.add_argument("--out", default="bench/results/qgait-synthgait")
    ap.add_argument(
        "--extra",
        action="append",
        default=[],
        help="DIR=SUFFIX (repeatable): also list the cached rows in DIR (another variant), method names + SUFFIX",
    )
    ap.add_argument("--notes", default="", help="Markdown appended to the notes under the table (the analysis)")
    ap.add_argument("--split", default="", help="eval.split for every row (test | val); default: the recipes'")
    ap.add_argument("--claims", default="issue5", choices=sorted(CLAIM_SETS), help="which issue's claims to check")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    only = set(filter(None, args.only.split(",")))
    also = set(filter(None, args.also.split(",")))
    if unknown := also - set(OPTIONAL):
        ap.error(f"--with: unknown rows {sorted(unknown)}; optional rows are {', '.join(OPTIONAL)}")
    runs, rd = Path(args.runs), Path(args.recipes)
    split = [f"eval.split={args.split}"] if args.split else []
    base = load_recipe(rd / "quant_qgait4.yaml", split)
    rows = []
    if not only or "fp32" in only:
        rows.append(_cached(runs / "rows/fp32.json", lambda: fp32_row(base, args.student, seeds)))
    for name in (*QAT_RECIPES, *OPTIONAL):
        if (only and name not in only) or (not only and name in OPTIONAL and name not in also):
            continue
        row_seeds = seeds
        overrides = [f"quant.checkpoint={args.student}", f"run_dir={runs / name}", *split]
        recipe = load_recipe(rd / f"{name}.yaml", overrides)
        run = partial(run_quantize_seeds, recipe, row_seeds, reuse=True)  # finished seeds are read, not re-run
        rows.append(_cached(runs / f"rows/{name}.json", lambda run=run: run().row))
        print(f"done {name}: mean@R1 {rows[-1]['metrics'].get('mean@R1')}", file=sys.stderr, flush=True)
        if name == "quant_qgait8" and (not only or "ptq8" in only):
            rows.append(_cached(runs / "rows/ptq8.json", lambda: ptq_row(base, args.student, seeds, runs)))
    for extra in args.extra:
        folder, suffix = extra.split("=", 1)
        for name in ("fp32", "ptq8", *QAT_RECIPES, *OPTIONAL):
            path = Path(folder) / f"{name}.json"
            if path.is_file():
                row = json.loads(path.read_text())
                row = row["rows"][0] if "rows" in row else row  # a cached row, or `quantize --seeds --results` output
                rows.append({**row, "method": row["method"] + suffix, "label": f"{row['label']} [{suffix.strip('-')}]"})
    base_cfg = parse_quant_recipe({**base, "quant": {**base["quant"], "checkpoint": args.student}})
    dataset = dataset_info(base_cfg.data, base_cfg.eval.split)
    dataset["test_frames"] = base["data"]["test_max_frames"]
    command = "python -m gaitlab.quant_table " + shlex.join(argv if argv is not None else sys.argv[1:])
    checked = claims(rows, which=CLAIM_SETS[args.claims])
    extra_notes = Path(args.notes).read_text() if args.notes else ""
    notes = setting_notes(dataset, seeds, rows) + "\n" + render_claims(checked) + extra_notes
    doc = make_results(Path(args.out).name, rows, dataset, command, notes)
    doc["claims"] = checked
    write_results(doc, Path(args.out).with_suffix(".json"))


if __name__ == "__main__":
    main()
