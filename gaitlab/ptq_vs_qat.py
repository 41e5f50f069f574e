"""PTQ vs QAT at w8a8 on SynthGait (issue 15): the one-command post-training INT8 (`quant.method=ptq`) next to QGait
QAT, both exported to INT8 ONNX and verified (parity + the deployed graph's accuracy), from the same FP32 student.

    python -m gaitlab.ptq_vs_qat --student runs/synthgait/student_quick --seeds 0,1,2 \
        --out bench/results/ptq-vs-qat-synthgait

Rows: the FP32 student (its FP32 ONNX, one model); PTQ w8a8 in both placements (`trt`, `ort`), the seed picking the
calibration sample; QGait w8a8 QAT (`recipes/synthgait/quant_qgait8.yaml`, `ort` placement), the seed picking data
order and init. Every model is scored on the same 30-frame test clips, in PyTorch (hard rounding) and in
onnxruntime (the exported graph). Each (row, seed) is cached under `--runs`, so an interrupted table continues.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gaitcompress.results import make_results, summarize, write_results

FRAMES = 30
ROWS = {  # name: (method, placement, quantize recipe overrides), in run order (the comparison first)
    "ptq8-ort": ("ptq8", "ort", ["quant.method=ptq", "quant.placement=ort"]),
    "qgait8-ort": ("qgait8", "ort", ["quant.placement=ort"]),
    "ptq8-trt": ("ptq8", "trt", ["quant.method=ptq", "quant.placement=trt"]),
}


def _cached(path: Path, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text())
    out = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    return out


def _export(checkpoint: Path, fmt: str, out: Path) -> dict[str, Any]:
    """Export + verify one checkpoint; the parity fields and both sides' metrics."""
    from gaitcompress.export.stage import ExportConfig, export_checkpoint

    res = export_checkpoint(
        checkpoint, ExportConfig(format=fmt, out=str(out), frames=FRAMES, verify=True), strict=False
    )
    p = res.parity
    return {
        "onnx": str(res.onnx),
        "onnx_bytes": res.onnx.stat().st_size,
        "torch": dict(p.torch_metrics),
        "onnx_metrics": dict(p.onnx_metrics),
        "passed": p.passed,
        "reason": p.reason(),
        "max_rel": p.max_rel,
        "rank1_gap": max((abs(v) for v in p.rank1_gaps.values()), default=0.0),
        "fused": res.fused,
    }


def _one(name: str, recipe_path: Path, student: str, seed: int, runs: Path) -> dict[str, Any]:
    from gaitcompress.quant.calibrate import run_ptq_stage
    from gaitcompress.quant.qat import run_quantize
    from gaitcompress.recipe import load_recipe

    method, _, overrides = ROWS[name]
    run_dir = runs / name / f"seed{seed}"
    recipe = load_recipe(recipe_path, [*overrides, f"quant.checkpoint={student}", f"data.test_max_frames={FRAMES}",
                                       f"seed={seed}", f"run_dir={run_dir}"])  # fmt: skip
    done = run_ptq_stage(recipe, own_folder=False) if method.startswith("ptq") else run_quantize(recipe)
    row = done.results["rows"][0]
    return {"row": row, "export": _export(run_dir / "final.pt", "int8", run_dir / "export")}


def _fp32(student: str, runs: Path) -> dict[str, Any]:
    from gaitcompress import checkpoints
    from gaitcompress.quant.cost import bitops_report

    model = checkpoints.load_model(student)
    ckpt = checkpoints.load(checkpoints.resolve_checkpoint(student))
    data = (ckpt.get("recipe") or {}).get("data") or {}
    cost = bitops_report(model, data.get("train_frames", 16), tuple(data.get("input_size", (64, 44)))).as_cost()
    return {
        "row": {
            "method": "fp32",
            "label": f"FP32 student ({student}), FP32 ONNX",
            "model": model.spec.name,
            "bits": "fp32",
            "cost": cost,
        },  # fmt: skip
        "export": _export(checkpoints.resolve_checkpoint(student), "fp32", runs / "fp32" / "export"),
    }


def table_row(name: str, runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """One §15 row over seeds: PyTorch and ONNX metrics (mean ± std), parity passes, gaps, size."""
    first = runs[0]["row"]
    exports = [r["export"] for r in runs]
    keys = [k for k in exports[0]["torch"] if k.endswith("R1") or k == "mAP"]
    metrics = {k: summarize([e["torch"][k] for e in exports]) for k in keys}
    metrics.update({f"onnx {k}": summarize([e["onnx_metrics"][k] for e in exports]) for k in keys})
    placement = ROWS[name][1] if name in ROWS else None
    return {
        "method": first["method"],
        "label": first["label"],
        "model": first["model"],
        "bits": first["bits"],
        "seeds": seeds,
        "metrics": metrics,
        "cost": {**first["cost"], "onnx_bytes": exports[0]["onnx_bytes"]},
        "parity": {
            "passed": f"{sum(e['passed'] for e in exports)}/{len(exports)}",
            "max_rel": [round(e["max_rel"], 5) for e in exports],
            "rank1_gap": [round(e["rank1_gap"], 3) for e in exports],
            "reasons": sorted({e["reason"] for e in exports if not e["passed"]}),
        },
        "quant": {"placement": placement, **({"fused": exports[0]["fused"]} if exports[0]["fused"] else {})},
        "train": {"wall_s": [r["row"].get("train", {}).get("wall_s") for r in runs]},
        "onnx": [e["onnx"] for e in exports],
    }


def notes(rows: list[dict[str, Any]], dataset: dict[str, Any], seeds: list[int]) -> str:
    """The setting, and PTQ's deployed loss against FP32 and against QAT, computed from the rows."""
    by = {(r["method"], (r.get("quant") or {}).get("placement")): r for r in rows}
    fp32 = by.get(("fp32", None))
    lines = [
        "## Setting",
        "",
        f"- SynthGait (generator seed {dataset.get('seed')}), inputs {dataset.get('input')}, {dataset.get('ids')} "
        f"train/test ids; PTQ calibrates on training sequences, QAT trains on them; the test ids are scored only.",
        f"- Every model scored on the first {FRAMES} frames of each test sequence (CASIA-B protocol), in PyTorch "
        "with hard rounding and in onnxruntime on the exported graph (`onnx …` columns).",
        f"- Seeds {','.join(map(str, seeds))}: PTQ — which training sequences calibrate; QAT — data order and init. "
        "The FP32 student is one model.",
        "- Parity: `export --verify` (every rank-1 within 0.2 points, no gap in the float simulation).",
        "",
        "## What it shows",
        "",
    ]
    key = "onnx mean@R1"
    if fp32 and key in fp32["metrics"]:
        ref = fp32["metrics"][key]["mean"]
        for r in rows:
            if r is fp32 or key not in r["metrics"]:
                continue
            m = r["metrics"][key]
            seeds = ",".join(map(str, r["seeds"]))
            lines.append(f"- {r['label']} (seeds {seeds}): deployed mean@R1 {m['mean']:.2f} ± {m['std']:.2f}, "
                         f"{m['mean'] - ref:+.2f} vs FP32 ONNX; parity {r['parity']['passed']}, largest rank-1 gap "
                         f"{max(r['parity']['rank1_gap']):.2f}, embeddings max rel. gap "
                         f"{max(r['parity']['max_rel']):.4f}.")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from gaitcompress.quant.calibrate import parse_ptq_recipe
    from gaitcompress.recipe import load_recipe
    from gaitcompress.train.stage import dataset_info

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--student", required=True, help="FP32 checkpoint or run folder")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--recipe", default="recipes/synthgait/quant_qgait8.yaml")
    ap.add_argument("--runs", default="runs/synthgait/ptq_vs_qat")
    ap.add_argument("--only", default="", help=f"comma-separated subset of fp32,{','.join(ROWS)}")
    ap.add_argument("--out", default="bench/results/ptq-vs-qat-synthgait")
    ap.add_argument("--cached", action="store_true", help="run nothing: the table of the finished (row, seed) runs")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    only = set(filter(None, args.only.split(",")))
    runs, recipe = Path(args.runs), Path(args.recipe)
    rows = []
    if (not only or "fp32" in only) and (not args.cached or (runs / "rows/fp32.json").is_file()):
        fp32 = _cached(runs / "rows/fp32.json", lambda: _fp32(args.student, runs))
        rows.append(table_row("fp32", [fp32], []))
    for name in ROWS:
        if only and name not in only:
            continue
        done = [s for s in seeds if (runs / f"rows/{name}-seed{s}.json").is_file()] if args.cached else seeds
        make = [lambda name=name, s=s: _one(name, recipe, args.student, s, runs) for s in done]
        per_seed = [_cached(runs / f"rows/{name}-seed{s}.json", m) for s, m in zip(done, make, strict=True)]
        if per_seed:
            rows.append(table_row(name, per_seed, done))
    cfg = parse_ptq_recipe(load_recipe(recipe, ["quant.method=ptq", f"quant.checkpoint={args.student}",
                                                f"data.test_max_frames={FRAMES}"]))  # fmt: skip
    dataset = {**dataset_info(cfg.data), "test_frames": FRAMES}
    command = shlex.join(["python", "-m", "gaitlab.ptq_vs_qat", *(argv if argv is not None else sys.argv[1:])])
    doc = make_results("ptq-vs-qat-synthgait", rows, dataset, command, notes=notes(rows, dataset, seeds))
    write_results(doc, Path(args.out).with_suffix(".json"))
    print(Path(args.out).with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
