"""The QGait comparison table on SynthGait (issue 5): FP32, PTQ-8, DoReFa / PACT / LSQ / QGait at w4a4 and w8a8,
vanilla KD vs IDD, fixed vs growing k — every row on the same FP32 student, QAT repeated over seeds.

    python -m gaitcompress.quant.table --student runs/synthgait/student_quick --seeds 0,1,2 \
        --out bench/results/qgait-synthgait

FP32 is the student checkpoint itself (one model, so its std over seeds is 0: the seeds vary the QAT and PTQ runs —
data order, calibration batches, quantizer init — not the FP32 training). Rows are written with
`gaitcompress.results.write_results` as `OUT.json` + `OUT.md`, plus per-run folders under `--runs`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
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
)


def fp32_row(recipe: dict[str, Any], student: str, seeds: list[int], tracker: Tracker = NULL) -> dict[str, Any]:
    from gaitcompress.data import num_classes
    from gaitcompress.evaluation import evaluate_model
    from gaitcompress.models.checkpoint import load_checkpoint
    from gaitcompress.quant.qat import parse_quant_recipe
    from gaitcompress.train import checkpoint as ckpt_io

    cfg = parse_quant_recipe({**recipe, "quant": {**recipe["quant"], "checkpoint": student}})
    model = load_checkpoint(ckpt_io.resolve_checkpoint(student), None, num_classes(cfg.data))
    res = evaluate_model(model, cfg.data, cfg.eval.protocol, tracker, metric=cfg.eval.metric)
    from gaitcompress.export.bitops import bitops_report

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
    from gaitcompress.quant.ptq import run_ptq
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
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    only = set(filter(None, args.only.split(",")))
    also = set(filter(None, args.also.split(",")))
    if unknown := also - set(OPTIONAL):
        ap.error(f"--with: unknown rows {sorted(unknown)}; optional rows are {', '.join(OPTIONAL)}")
    runs, rd = Path(args.runs), Path(args.recipes)
    base = load_recipe(rd / "quant_qgait4.yaml")
    rows = []
    if not only or "fp32" in only:
        rows.append(_cached(runs / "rows/fp32.json", lambda: fp32_row(base, args.student, seeds)))
    for name in (*QAT_RECIPES, *OPTIONAL):
        if (only and name not in only) or (not only and name in OPTIONAL and name not in also):
            continue
        row_seeds = seeds
        overrides = [f"quant.checkpoint={args.student}", f"run_dir={runs / name}"]
        recipe = load_recipe(rd / f"{name}.yaml", overrides)
        rows.append(_cached(runs / f"rows/{name}.json", lambda r=recipe, s=row_seeds: run_quantize_seeds(r, s)["row"]))
        print(f"done {name}: mean@R1 {rows[-1]['metrics'].get('mean@R1')}", file=sys.stderr, flush=True)
        if name == "quant_qgait8" and (not only or "ptq8" in only):
            rows.append(_cached(runs / "rows/ptq8.json", lambda: ptq_row(base, args.student, seeds, runs)))
    for extra in args.extra:
        folder, suffix = extra.split("=", 1)
        for name in (*QAT_RECIPES, *OPTIONAL):
            path = Path(folder) / f"{name}.json"
            if path.is_file():
                row = json.loads(path.read_text())
                rows.append({**row, "method": row["method"] + suffix, "label": f"{row['label']} [{suffix.strip('-')}]"})
    dataset = dataset_info(parse_quant_recipe({**base, "quant": {**base["quant"], "checkpoint": args.student}}).data)
    dataset["test_frames"] = base["data"]["test_max_frames"]
    command = "python -m gaitcompress.quant.table " + shlex.join(argv if argv is not None else sys.argv[1:])
    write_results(make_results("qgait-synthgait", rows, dataset, command), Path(args.out).with_suffix(".json"))


if __name__ == "__main__":
    main()
