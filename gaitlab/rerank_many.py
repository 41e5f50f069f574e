"""CarGait vs k-reciprocal vs none on a Gait3D-shaped set, every choice made on training identities.

    python -m gaitlab.rerank_many recipes/synthgait_many/rerank_student.yaml --seeds 0,1,2
    python -m gaitlab.rerank_many recipes/synthgait_many/rerank_student.yaml --only-scaling --scaling 30,100,300,900

1. The frozen model's train/test features (cached in the run folder, as `gaitcompress rerank train`).
2. A validation split of the *training* identities (every `--val-every`-th id; 100 of 1,000): its probes follow the
   test split's rule (each id's first walk, lowest camera: `SynthConfig.probe_key`), its gallery is the rest of its
   sequences. On it, with the Gait3D protocol:
   - k-reciprocal: a grid over k1 × k2 × λ, best Rank-1 (then mAP);
   - CarGait: heads trained on the lists of the other training ids (`rerank.stage.fit_head`, the same engine and
     recipe as the final rows) over a grid of iterations × lr, best Rank-1 (then mAP); each scored also by the
     held-out list accuracy of `gaitlab.rerank_heldout.list_accuracy` (the diagnostic of rerank-synthgait).
3. The final rows on the test split: `train_rerank` with the chosen head budget (one head per seed, trained on all
   training ids), none, k-reciprocal with the paper's defaults and with the tuned parameters.
4. Per-probe cost at K (`measure_cost`: interleaved rounds, one thread).
5. `--only-scaling --scaling 30,100,300,900 [--scaling-budget 400:0.001]` (after a full run: reads choice.json):
   one head (seed 0) per number of training ids (nested subsets of a seeded permutation of the non-validation
   ids), its test gain over none and, on the held-out validation ids, list accuracy and Rank-1 gain.
Writes into the recipe's run folder: metrics.json (+ .md), choice.json, cost.json; scaling.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from gaitcompress.checkpoints import atomic_write_text
from gaitcompress.data import SeqMeta
from gaitcompress.evaluation import Features, evaluate
from gaitcompress.progress import NULL
from gaitcompress.recipe import load_recipe
from gaitcompress.rerank.cargait import CarGaitReranker
from gaitcompress.rerank.config import RerankRecipe, parse_rerank_recipe
from gaitcompress.rerank.head import CarGaitHead
from gaitcompress.rerank.kreciprocal import KReciprocalReranker
from gaitcompress.rerank.pairs import build_pair_set
from gaitcompress.rerank.stage import (
    fit_head,
    measure_cost,
    prepare,
    protocol_options,
    train_rerank,
)
from gaitcompress.results import summarize, write_results
from gaitlab.rerank_heldout import list_accuracy

KR_GRID = {"k1": (5, 10, 20), "k2": (1, 3, 6), "lam": (0.1, 0.3, 0.6)}
HEAD_GRID = {"iterations": (100, 400), "lr": (1e-4, 1e-3)}  # small: a head iteration is ~0.1-0.2 s on one core
REPORTED = ("R1", "R5", "R10", "mAP", "mINP")


def first_walk_probes(features: Features) -> frozenset[SeqMeta]:
    """Each id's first walk (type ending in -01) seen from its lowest camera: the rule of the test PROBE_SET."""
    best: dict[str, SeqMeta] = {}
    for m in features.meta:
        if m.type.endswith("-01") and (m.id not in best or int(m.view) < int(best[m.id].view)):
            best[m.id] = m
    return frozenset(best.values())


def split_ids(features: Features, held: set[str]) -> tuple[Features, Features]:
    """(sequences of the other ids, sequences of `held`)."""
    keep = [i for i, m in enumerate(features.meta) if m.id not in held]
    out = [i for i, m in enumerate(features.meta) if m.id in held]
    return features.subset(keep), features.subset(out)


def _score(metrics: dict[str, float]) -> tuple[float, float]:
    return metrics["R1"], metrics["mAP"]


def _short(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(metrics[k], 2) for k in REPORTED if k in metrics}


def tune_kreciprocal(val: Features, probes: frozenset[SeqMeta], metric: str) -> list[dict[str, Any]]:
    """Every k-reciprocal setting of the grid scored on the validation split."""
    rows = []
    for k1, k2, lam in itertools.product(*KR_GRID.values()):
        reranker = KReciprocalReranker(k1, k2, lam, metric)
        metrics = evaluate(val, "gait3d", metric, rerank=reranker, probe_set=probes).metrics
        rows.append({"k1": k1, "k2": k2, "lam": lam, **_short(metrics)})
        print(json.dumps({"kreciprocal": rows[-1]}), flush=True)
    return rows


def tune_head(
    recipe: RerankRecipe, raw: dict[str, Any], data_cfg: Any, fit: Features, val: Features, probes: frozenset[SeqMeta]
) -> list[dict[str, Any]]:
    """A head per (iterations, lr) of the grid, trained on `fit`'s lists, scored on the validation split."""
    val_lists = build_pair_set(val, recipe.head.features, recipe.pairs.top_v, recipe.rerank.metric)
    rows = []
    for iterations, lr in itertools.product(*HEAD_GRID.values()):
        run = tuned(recipe, iterations, lr, Path(recipe.run_dir) / "val" / f"it{iterations}_lr{lr:g}")
        shutil.rmtree(run.run_dir, ignore_errors=True)

        def score(head: CarGaitHead, run: RerankRecipe = run) -> dict[str, float]:
            reranked = CarGaitReranker(head, run.rerank.k)
            metrics = evaluate(val, "gait3d", run.rerank.metric, rerank=reranked, probe_set=probes).metrics
            return {**metrics, **list_accuracy(head, val_lists)}

        tic = time.perf_counter()
        metrics = fit_head(run, raw_for(raw, run), data_cfg, {"train": fit, "test": val}, NULL, score)
        rows.append(
            {
                "iterations": iterations,
                "lr": lr,
                **_short(metrics),
                "seconds": round(time.perf_counter() - tic),
                **{k: round(metrics[k], 4) for k in ("pair_acc", "top1", "stage1_pair_acc", "stage1_top1")},
            }
        )
        print(json.dumps({"cargait": rows[-1]}), flush=True)
    return rows


def tuned(recipe: RerankRecipe, iterations: int, lr: float, run_dir: Path | str | None = None) -> RerankRecipe:
    return replace(
        recipe,
        train=replace(recipe.train, iterations=iterations),
        optim=replace(recipe.optim, lr=lr),
        run_dir=str(run_dir or recipe.run_dir),
    )


def raw_for(raw: dict[str, Any], run: RerankRecipe) -> dict[str, Any]:
    """The raw recipe saved with a head, with the budget it was actually trained with."""
    return {
        **raw,
        "run_dir": run.run_dir,
        "seed": run.seed,
        "train": {**raw.get("train", {}), "iterations": run.train.iterations},
        "optim": {**raw.get("optim", {}), "lr": run.optim.lr},
    }


def scaling_curve(
    recipe: RerankRecipe,
    raw: dict[str, Any],
    data_cfg: Any,
    feats: dict[str, Features],
    held: set[str],
    sizes: list[int],
) -> dict[str, Any]:
    """One head (seed 0, `recipe`'s budget) per number of training ids: nested subsets of a seeded permutation of
    the non-validation training ids (all training ids for a size beyond them). Scored on the test split (gain over
    none) and on the held-out validation ids (their lists' pair accuracy and top-1 against stage 1's, and Rank-1
    under the Gait3D protocol) — only where the head never saw them."""
    metric = recipe.rerank.metric
    options = protocol_options(recipe, data_cfg)
    none_test = evaluate(feats["test"], "gait3d", metric, **options).metrics
    fit, val = split_ids(feats["train"], held)
    probes = first_walk_probes(val)
    val_lists = build_pair_set(val, recipe.head.features, recipe.pairs.top_v, metric)
    none_val = evaluate(val, "gait3d", metric, probe_set=probes).metrics
    ids = sorted(set(fit.ids))
    order = [ids[i] for i in torch.randperm(len(ids), generator=torch.Generator().manual_seed(0)).tolist()]
    curve = []
    for n in sizes:
        pool = feats["train"] if n > len(order) else fit
        chosen = set(order[:n]) if n <= len(order) else set(feats["train"].ids)
        sub = pool.subset([i for i, m in enumerate(pool.meta) if m.id in chosen])
        run = replace(recipe, seed=0, run_dir=str(Path(recipe.run_dir) / "scaling" / f"ids{n}"))
        shutil.rmtree(run.run_dir, ignore_errors=True)
        heads: list[CarGaitHead] = []

        def score(head: CarGaitHead, run: RerankRecipe = run, keep: list[CarGaitHead] = heads) -> dict[str, float]:
            keep.append(head)
            reranked = CarGaitReranker(head, run.rerank.k)
            return evaluate(feats["test"], "gait3d", metric, rerank=reranked, **options).metrics

        metrics = fit_head(run, raw_for(raw, run), data_cfg, {"train": sub, "test": feats["test"]}, NULL, score)
        point = {"train_ids": len(chosen), **_short(metrics)}
        point.update({f"gain_{k}": round(metrics[k] - none_test[k], 2) for k in ("R1", "R5", "mAP")})
        if not chosen & held:
            reranked = CarGaitReranker(heads[-1], run.rerank.k)
            val_metrics = evaluate(val, "gait3d", metric, rerank=reranked, probe_set=probes).metrics
            point.update({f"val_{k}": round(v, 4) for k, v in list_accuracy(heads[-1], val_lists).items()})
            point.update(val_R1=val_metrics["R1"], val_gain_R1=round(val_metrics["R1"] - none_val["R1"], 2))
        curve.append(point)
        print(json.dumps({"scaling": point}), flush=True)
    budget = {"iterations": recipe.train.iterations, "lr": recipe.optim.lr, "seed": 0}
    return {"none": _short(none_test), "none_val_R1": none_val["R1"], "budget": budget, "curve": curve}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--val-every", type=int, default=10, help="every n-th training id is held out")
    parser.add_argument("--scaling", default="", help="comma-separated numbers of training ids")
    parser.add_argument("--scaling-budget", default="", help="ITERATIONS:LR of the curve's heads (default: chosen)")
    parser.add_argument("--only-scaling", action="store_true", help="skip the validation choices and final rows")
    args = parser.parse_args(argv)
    raw = load_recipe(args.recipe, args.overrides)
    recipe = parse_rerank_recipe(raw)
    run_dir = Path(recipe.run_dir)
    data_cfg, feats = prepare(recipe)
    metric = recipe.rerank.metric

    # 2. choices on a validation split of the training identities
    held = set(sorted(set(feats["train"].ids))[:: args.val_every])
    if args.only_scaling:
        best = json.loads((run_dir / "choice.json").read_text())["cargait_best"]
        its, lr = args.scaling_budget.split(":") if args.scaling_budget else (best["iterations"], best["lr"])
        sizes = [int(x) for x in args.scaling.split(",")]
        curve = scaling_curve(tuned(recipe, int(its), float(lr)), raw, data_cfg, feats, held, sizes)
        atomic_write_text(json.dumps(curve, indent=1), run_dir / "scaling.json")
        print(f"wrote {run_dir}/scaling.json")
        return
    fit, val = split_ids(feats["train"], held)
    probes = first_walk_probes(val)
    none_val = _short(evaluate(val, "gait3d", metric, probe_set=probes).metrics)
    print(json.dumps({"val_ids": len(held), "val_probes": len(probes), "none": none_val}), flush=True)
    kr_rows = tune_kreciprocal(val, probes, metric)
    best_kr = max(kr_rows, key=_score)
    head_rows = tune_head(recipe, raw, data_cfg, fit, val, probes)
    best_head = max(head_rows, key=_score)
    choice = {
        "split": f"validation: {len(held)} of {len(set(feats['train'].ids))} training ids (every "
        f"{args.val_every}-th), {len(probes)} probes (first walk, lowest camera) vs {len(val) - len(probes)}",
        "none": none_val,
        "kreciprocal": kr_rows,
        "kreciprocal_best": best_kr,
        "cargait": head_rows,
        "cargait_best": best_head,
    }
    atomic_write_text(json.dumps(choice, indent=1), run_dir / "choice.json")

    # 3. final rows on the test split
    final = tuned(recipe, best_head["iterations"], best_head["lr"])
    seeds = [int(s) for s in args.seeds.split(",")]
    doc = train_rerank(final, raw_for(raw, final), seeds, restart=True)  # fresh heads; val/ ones are done
    options = protocol_options(final, data_cfg)
    kr = KReciprocalReranker(best_kr["k1"], best_kr["k2"], best_kr["lam"], metric)
    kr_test = evaluate(feats["test"], "gait3d", metric, rerank=kr, **options).metrics
    default_row = next(r for r in doc["rows"] if r["method"] == "rerank-kreciprocal")
    default_row["label"] += " (paper: k1=20, k2=6, λ=0.3)"
    tuned_row = {
        **default_row,
        "label": f"{recipe.label} + kreciprocal (val-tuned: k1={best_kr['k1']}, "
        f"k2={best_kr['k2']}, λ={best_kr['lam']})",
        "metrics": {k: summarize([v]) for k, v in kr_test.items()},
    }
    doc["rows"].insert(doc["rows"].index(default_row) + 1, tuned_row)
    for row in doc["rows"]:
        if row["method"] == "rerank-cargait":
            row["label"] += f" ({final.train.iterations} it, lr {final.optim.lr:g}: val-chosen)"
    write_results(doc, run_dir / "metrics.json")

    # 4. cost per probe at K
    atomic_write_text(json.dumps(measure_cost(final), indent=2), run_dir / "cost.json")

    print(f"wrote {run_dir}/metrics.json, choice.json, cost.json")


if __name__ == "__main__":
    main()
