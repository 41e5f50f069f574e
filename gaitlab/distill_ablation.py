"""The GaitKD ablation on SynthGait (issue 4): teacher, student alone, and each distillation recipe over seeds.

    nice -n 10 python -m gaitlab.distill_ablation --seeds 0,1,2 \\
        --out bench/results/distill-ablation-synthgait.json

Runs go seed-major into `<runs>/<method>/seed<s>`, first for the rows GaitKD's claims rest on (student alone,
GaitKD, feature regression), then for the others, so a sweep cut short still answers them; a run whose
`metrics.json` exists is read, not repeated, so an interrupted sweep continues where it stopped. The table is
rewritten after every run (a row lists the seeds it has so far). The teacher row is the one teacher every student
learns from (the quick teacher recipe as it is, seed 0; trained here first if its run folder holds no metrics), so
it has one seed. Extra `key=value` overrides apply to every *student* run, the student-alone row included (they are
part of the recorded command); MACs of every row are counted at the students' input size and clip length.
`--teacher-runs DIR` fills the teacher row from `DIR/seed<s>` instead: independent teachers trained with the same
recipe (e.g. `gaitcompress train recipes/synthgait/teacher_quick.yaml run_dir=DIR --seeds 0,1,2`), so the row has
the seeds' spread too, while the students still learn from the one teacher above.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gaitcompress.data import DataConfig, num_classes
from gaitcompress.distill.stage import run_distill
from gaitcompress.errors import GaitCompressError
from gaitcompress.models import create_model
from gaitcompress.models.cost import model_cost
from gaitcompress.recipe import load_recipe
from gaitcompress.results import make_results, summarize, write_results
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
CLAIM_ROWS = ("student", "gaitkd", "kd-feat")  # GaitKD's two claims rest on these: their seeds run first


def _metrics(run_dir: Path) -> dict[str, float] | None:
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    row = json.loads(path.read_text())["rows"][0]
    return {k: v["mean"] for k, v in row["metrics"].items()}


def _teacher_row(teacher_dir: Path, teacher_runs: Path | None, seeds: Sequence[int]) -> dict[int, dict[str, float]]:
    """Teacher metrics per seed: the distilling teacher alone, or the finished `teacher_runs/seed<s>` runs."""
    if teacher_runs is None:
        return {0: _metrics(teacher_dir)}
    found = {s: _metrics(teacher_runs / f"seed{s}") for s in seeds}
    missing = [s for s, m in found.items() if m is None]
    if missing:
        raise GaitCompressError(
            f"{teacher_runs}: no finished teacher run for seeds {missing} (no seed<s>/metrics.json)",
            f"train them first: gaitcompress train {RECIPES / ROWS[0][1]} run_dir={teacher_runs} "
            f"--seeds {','.join(map(str, seeds))}",
        )
    return found


def _cost(recipe: dict[str, Any], data: DataConfig) -> dict[str, Any]:
    model = create_model(recipe["model"]["name"], num_classes=num_classes(data), **recipe["model"].get("kwargs", {}))
    cost = model_cost(model, data.train_frames, tuple(data.input_size))
    return {"macs": cost.macs, "params": cost.params, "frames": data.train_frames}


def run_ablation(
    seeds: Sequence[int],
    out: Path,
    runs: Path,
    overrides: Sequence[str] = (),
    teacher: Path | None = None,
    table_only: bool = False,
    teacher_runs: Path | None = None,
) -> dict[str, Any]:
    """Run (or read) every row × seed and write the §15 table to `out` after each run.

    `teacher`: the teacher's run folder (default: the teacher recipe's `run_dir`, which the distill recipes name).
    `table_only`: start no run; tabulate the finished ones.
    `teacher_runs`: a folder of finished teacher runs `seed<s>` for the teacher row (default: the one teacher).
    """
    teacher_recipe = load_recipe(RECIPES / ROWS[0][1])
    teacher_dir = teacher or Path(teacher_recipe["run_dir"])
    if _metrics(teacher_dir) is None:
        run_train({**teacher_recipe, "run_dir": str(teacher_dir)}, resume=True)  # a killed run continues
    done: dict[str, dict[int, dict[str, float]]] = {"teacher": _teacher_row(teacher_dir, teacher_runs, seeds)}
    recipes = {method: load_recipe(RECIPES / name, overrides) for method, name, _ in ROWS[1:]}
    recipes["teacher"] = teacher_recipe
    data = parse_recipe(_without_distill(recipes["student"])).data
    costs = {method: _cost(recipe, data) for method, recipe in recipes.items()}
    argv = [a for a in sys.argv[1:] if a != "--table-only"]  # the command that makes the runs
    command = "nice -n 10 python -m gaitlab.distill_ablation " + shlex.join(argv)
    rest = [m for m, _, _ in ROWS[1:] if m not in CLAIM_ROWS]
    order = [(m, s) for group in (CLAIM_ROWS, rest) for s in seeds for m in group]
    for method, seed in order:
        run_dir = runs / method / f"seed{seed}"
        if _metrics(run_dir) is None and table_only:
            continue
        if _metrics(run_dir) is None:
            recipe = {**recipes[method], "seed": seed, "run_dir": str(run_dir)}
            if teacher is not None and "distill" in recipe:
                recipe["distill"] = {**recipe["distill"], "teachers": [{"checkpoint": str(teacher)}]}
            (run_distill if "distill" in recipe else run_train)(recipe, command=command, resume=True)
        done.setdefault(method, {})[seed] = _metrics(run_dir)
        write_results(_table(done, recipes, costs, command), out)
    doc = _table(done, recipes, costs, command)
    write_results(doc, out)
    return doc


def _table(
    done: dict[str, dict[int, dict[str, float]]], recipes: dict[str, dict], costs: dict[str, dict], command: str
) -> dict[str, Any]:
    teacher_macs = costs["teacher"]["macs"]
    rows = []
    for method, name, label in ROWS:
        per_seed = done.get(method)
        if not per_seed:
            continue
        seeds = sorted(per_seed)
        cost = costs[method]
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
    cfg = parse_recipe(_without_distill(recipes["student"]))
    notes = _notes(rows, recipes, cfg.train.iterations)
    return make_results("distill-ablation-synthgait", rows, dataset_info(cfg.data), command, notes)


def _notes(rows: list[dict[str, Any]], recipes: dict[str, dict], student_iterations: int) -> str:
    """The setting and GaitKD's two claims, checked from the rows (so the text can never disagree with them)."""
    by = {r["method"]: r for r in rows}
    teacher = recipes["teacher"]
    lines = [
        "Setting: every student is the eighth-width GaitBase trained for "
        f"{student_iterations} iterations; the teacher (row 1) was trained with `{RECIPES / ROWS[0][1]}` "
        f"({teacher['train']['iterations']} iterations) and its seeds are independent teachers; every student "
        f"learns from the one teacher in `{teacher['run_dir']}`. Rank-1 in %, CASIA-B protocol (identical views "
        "excluded), mean ± sample std over the seeds listed.",
    ]
    if "student" in by:
        ratio = by["student"]["cost"]["macs_ratio_to_teacher"]
        lines.append(
            f"\nStudent MACs = {100 * ratio:.2f}% of the teacher's (the 1-channel stem convolution scales linearly "
            "with width, every other layer quadratically)."
        )
    if {"student", "gaitkd", "kd-feat"} <= by.keys():
        mean = {m: by[m]["metrics"]["mean@R1"] for m in ("student", "gaitkd", "kd-feat")}
        gain = mean["gaitkd"]["mean"] - mean["student"]["mean"]
        spread = max(mean["gaitkd"]["std"], mean["student"]["std"])
        over_feat = mean["gaitkd"]["mean"] - mean["kd-feat"]["mean"]
        lines += [
            "\nGaitKD's claims, from the mean@R1 column:",
            f"- GaitKD beats the student alone by more than the seeds' spread: +{gain:.2f} vs spread {spread:.2f} → "
            + ("holds" if gain > spread else "does not hold"),
            f"- GaitKD is at least as good as feature regression: {over_feat:+.2f} → "
            + ("holds" if over_feat >= 0 else "does not hold"),
        ]
    return "\n".join(lines) + "\n"


def _without_distill(recipe: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in recipe.items() if k != "distill"}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/distill-ablation-synthgait.json"))
    parser.add_argument("--runs", type=Path, default=Path("runs/synthgait/ablation"), help="run folders root")
    parser.add_argument("--teacher", type=Path, default=None, help="teacher run folder (default: its recipe's)")
    parser.add_argument("--teacher-runs", type=Path, default=None, help="finished teacher runs seed<s> for its row")
    parser.add_argument("--table-only", action="store_true", help="start no run; tabulate the finished ones")
    parser.add_argument("overrides", nargs="*", help="key.path=value applied to every student run")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    run_ablation(seeds, args.out, args.runs, args.overrides, args.teacher, args.table_only, args.teacher_runs)


if __name__ == "__main__":
    main()
