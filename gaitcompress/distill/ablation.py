"""The GaitKD ablation on SynthGait (issue 4): teacher, student alone, and each distillation recipe over seeds.

    nice -n 10 python -m gaitcompress.distill.ablation --seeds 0,1,2 \\
        --out bench/results/distill-ablation-synthgait.json

Runs go seed-major (every row's seed 0, then every row's seed 1, ...) into `<runs>/<method>/seed<s>`; a run whose
`metrics.json` exists is read, not repeated, so an interrupted sweep continues where it stopped. The table is
rewritten after every run (a row lists the seeds it has so far). The teacher row is the one teacher every student
learns from (the quick teacher recipe, seed 0; trained here first if its run folder holds no checkpoint), so it
has one seed. Extra `key=value` overrides apply to every run (and are part of the recorded command).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gaitcompress.data import num_classes
from gaitcompress.distill.stage import run_distill
from gaitcompress.models import create_model
from gaitcompress.models.cost import model_cost
from gaitcompress.recipe import load_recipe
from gaitcompress.results import command_line, make_results, summarize, write_results
from gaitcompress.train.config import parse_recipe
from gaitcompress.train.stage import dataset_info, run_train

METRICS = ("NM@R1", "BG@R1", "CL@R1", "mean@R1", "mAP")
RECIPES = Path("recipes/synthgait")
ROWS = (  # (method, recipe, label) in table order; the first is the teacher
    ("teacher", "teacher_quick.yaml", "teacher (quarter-width GaitBase)"),
    ("student", "student_quick.yaml", "student alone (eighth-width GaitBase)"),
    ("kd-logit", "distill_logit.yaml", "+ part-calibrated logit KD (GaitKD decision level)"),
    ("kd-ab", "distill_ab.yaml", "+ activation boundary (GaitKD boundary level)"),
    ("gaitkd", "distill_gaitkd.yaml", "+ both (GaitKD)"),
    ("kd-feat", "distill_feat.yaml", "+ feature regression (FitNet MSE)"),
    ("kd-face", "distill_face.yaml", "+ unified face KD (instance + relation)"),
    ("kd-idd", "distill_idd.yaml", "+ IDD (QGait)"),
)


def _metrics(run_dir: Path) -> dict[str, float] | None:
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    row = json.loads(path.read_text())["rows"][0]
    return {k: v["mean"] for k, v in row["metrics"].items()}


def _cost(recipe: dict[str, Any]) -> dict[str, Any]:
    cfg = parse_recipe({k: v for k, v in recipe.items() if k != "distill"})
    model = create_model(cfg.model.name, num_classes=num_classes(cfg.data), **cfg.model.kwargs)
    cost = model_cost(model, cfg.data.train_frames, tuple(cfg.data.input_size))
    return {"macs": cost.macs, "params": cost.params, "frames": cfg.data.train_frames}


def run_ablation(seeds: Sequence[int], out: Path, runs: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Run (or read) every row × seed and write the §15 table to `out` after each run."""
    teacher_recipe = load_recipe(RECIPES / ROWS[0][1], overrides)
    teacher_dir = Path(teacher_recipe["run_dir"])
    if _metrics(teacher_dir) is None:
        run_train(teacher_recipe)
    done: dict[str, dict[int, dict[str, float]]] = {"teacher": {0: _metrics(teacher_dir)}}
    recipes = {method: load_recipe(RECIPES / name, overrides) for method, name, _ in ROWS}
    command = command_line()
    doc: dict[str, Any] = {}
    for seed in seeds:
        for method, _, _ in ROWS[1:]:
            run_dir = runs / method / f"seed{seed}"
            if _metrics(run_dir) is None:
                recipe = {**recipes[method], "seed": seed, "run_dir": str(run_dir)}
                (run_distill if "distill" in recipe else run_train)(recipe, command=command)
            done.setdefault(method, {})[seed] = _metrics(run_dir)
            doc = _table(done, recipes, command)
            write_results(doc, out)
    return doc


def _table(done: dict[str, dict[int, dict[str, float]]], recipes: dict[str, dict], command: str) -> dict[str, Any]:
    teacher_macs = _cost(recipes["teacher"])["macs"]
    rows = []
    for method, name, label in ROWS:
        per_seed = done.get(method)
        if not per_seed:
            continue
        seeds = sorted(per_seed)
        cost = _cost(recipes[method])
        rows.append(
            {
                "method": method,
                "label": f"{label} [{RECIPES / name}]",
                "model": recipes[method]["model"]["name"],
                "bits": "fp32",
                "seeds": seeds,
                "metrics": {m: summarize([per_seed[s][m] for s in seeds]) for m in METRICS},
                "cost": {**cost, "macs_ratio_to_teacher": round(cost["macs"] / teacher_macs, 4)},
            }
        )
    cfg = parse_recipe({k: v for k, v in recipes["student"].items() if k != "distill"})
    return make_results("distill-ablation-synthgait", rows, dataset_info(cfg.data), command)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/distill-ablation-synthgait.json"))
    parser.add_argument("--runs", type=Path, default=Path("runs/synthgait/ablation"), help="run folders root")
    parser.add_argument("overrides", nargs="*", help="key.path=value applied to every run")
    args = parser.parse_args(argv)
    run_ablation([int(s) for s in args.seeds.split(",")], args.out, args.runs, args.overrides)


if __name__ == "__main__":
    main()
