"""Where the quantization error comes from: per-quantizer sensitivity of a calibrated (untrained) fake-quant model.

    python -m gaitlab.quant_sensitivity --student runs/synthgait/student_quick --preset w4a4 \
        --out bench/results/qgait-sensitivity-synthgait

The model is quantized with `QConfig.preset(preset, method=..., init=...)` and calibrated by one eval-mode forward
of a training batch (LSQ steps are initialised on their first forward). Then, on `--batches` further training
batches in eval mode (hard rounding, what deploys), with e = FP32 embeddings [N, C, P] and ê the quantized ones:

- `err` = ‖ê − e‖ / ‖e‖ (relative embedding error over all batches);
- `only`: the error with just this quantizer active (every other one replaced by identity);
- `all_but`: the error with every quantizer active except this one (how much removing it recovers);
- `clip`: for activation quantizers, the share of input values outside the grid's range [qmin·s, qmax·s] (in the
  fully quantized model) — what clamping alone destroys, independent of the bit width.

`--configs` adds whole-model variants scored with the evaluation protocol (rank-1), still without training: the
cheapest way to see which recipe choice (bits of the first/last layer, step init, placement, method) matters.
No QAT happens here, so the numbers bound what training has to repair, not what it ends at.
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gaitcompress.quant.prepare import QConfig, quantize_model, quantizers
from gaitcompress.quant.quantizers import Quantizer


def keep_only(model: nn.Module, keep: Callable[[str], bool]) -> nn.Module:
    """A deep copy of a fake-quantized `model` whose quantizers at paths where `keep(path)` is false are identities."""
    model = copy.deepcopy(model)
    for path in list(quantizers(model)):
        if not keep(path):
            parent, _, name = path.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, name, nn.Identity())
    return model


def clip_fraction(q: Quantizer, x: Tensor) -> float:
    """Share of `x` outside the activation grid's range [qmin·s, qmax·s] (per-tensor quantizers)."""
    s = float(q.scale().detach().reshape(-1)[0])
    return float(((x < q.qmin * s) | (x > q.qmax * s)).float().mean())


@torch.no_grad()
def embeddings(model: nn.Module, batches: list[Any]) -> Tensor:
    """Eval-mode embeddings of every batch, concatenated: [sum N, C, P]."""
    model.eval()
    return torch.cat([model(b.sils, lengths=b.lengths)["embeddings"].float() for b in batches])


def relative_error(e_q: Tensor, e: Tensor) -> float:
    return float((e_q - e).norm() / e.norm().clamp_min(1e-12))


@torch.no_grad()
def calibrated(fp32: nn.Module, qcfg: QConfig, batch: Any) -> nn.Module:
    """`quantize_model(fp32, qcfg)` with every LSQ / PACT quantizer initialised on one eval-mode forward of `batch`."""
    qmodel = quantize_model(fp32, qcfg).eval()
    qmodel(batch.sils, lengths=batch.lengths)
    return qmodel


@torch.no_grad()
def sensitivity(fp32: nn.Module, qcfg: QConfig, batches: list[Any]) -> dict[str, Any]:
    """Per-quantizer `only` / `all_but` errors and activation clip fractions (see the module docstring).

    `batches[0]` calibrates, the rest score.
    """
    qmodel = calibrated(fp32, qcfg, batches[0])
    score = batches[1:]
    ref = embeddings(fp32, score)
    clips: dict[str, list[float]] = {}
    hooks = [
        q.register_forward_pre_hook(lambda m, a, p=p: clips.setdefault(p, []).append(clip_fraction(m, a[0].float())))
        for p, q in quantizers(qmodel).items()
        if not p.endswith("weight_quant")
    ]
    full = relative_error(embeddings(qmodel, score), ref)
    for h in hooks:
        h.remove()
    rows = []
    for path, q in quantizers(qmodel).items():
        only = relative_error(embeddings(keep_only(qmodel, lambda p, path=path: p == path), score), ref)
        but = relative_error(embeddings(keep_only(qmodel, lambda p, path=path: p != path), score), ref)
        clip = sum(clips[path]) / len(clips[path]) if path in clips else None
        rows.append({"quantizer": path, "grid": f"[{q.qmin}, {q.qmax}]", "only": only, "all_but": but, "clip": clip})
    return {"config": qcfg.tag, "method": qcfg.method, "init": qcfg.init, "full": full, "rows": rows}


def _load_any(run: str, cfg: Any) -> nn.Module:
    """A QAT checkpoint (file or run folder) as its fake-quantized model, else an FP32 checkpoint as a float model."""
    from gaitcompress import checkpoints as ckpt_io
    from gaitcompress.data import num_classes
    from gaitcompress.errors import GaitCompressError
    from gaitcompress.models import load_checkpoint
    from gaitcompress.quant import load_quantized

    try:
        return load_quantized(run)
    except GaitCompressError:
        return load_checkpoint(ckpt_io.resolve_checkpoint(run), None, num_classes(cfg.data)).eval()


def _score(model: nn.Module, cfg: Any) -> dict[str, float]:
    """The recipe's evaluation (protocol, metric, split) of `model`."""
    from gaitcompress.evaluation import evaluate_model

    return evaluate_model(model, cfg.data, cfg.eval.protocol, metric=cfg.eval.metric, split=cfg.eval.split).metrics


def recal_scores(run: str, cfg: Any, counts: list[int]) -> dict[str, Any]:
    """Rank-1 of a QAT run's model as trained, and after `quant.bn_reestimate` with each of `counts` batches.

    The batches are the ones the quantize stage would use: the run's own seed's first training batches
    (`gaitcompress.quant.bn_reestimate`), so a count chosen here reproduces in the stage.
    """
    from gaitcompress import checkpoints as ckpt_io
    from gaitcompress.data import build_train_loader
    from gaitcompress.quant.bn_reestimate import reestimate_bn

    qmodel = _load_any(run, cfg)
    seed = int(ckpt_io.load(ckpt_io.resolve_checkpoint(run)).get("recipe", {}).get("seed", cfg.seed))
    out: dict[str, Any] = {"seed": seed, "before": _score(qmodel, cfg), "after": {}}
    for n in counts:
        model = copy.deepcopy(qmodel)
        reestimate_bn(model, build_train_loader(cfg.data, seed=seed), n)
        out["after"][str(n)] = _score(model, cfg)
        print(f"{run}: {out['before']['mean@R1']:.2f} → {out['after'][str(n)]['mean@R1']:.2f} ({n} batches)",
              file=sys.stderr, flush=True)  # fmt: skip
    return out


def _batches(data_cfg: Any, n: int, seed: int) -> list[Any]:
    from gaitcompress.data import build_train_loader

    loader: Iterator[Any] = build_train_loader(data_cfg, seed=seed)
    return [next(loader) for _ in range(n)]


CONFIGS: dict[str, dict[str, Any]] = {  # whole-model variants of --configs (QConfig.preset overrides)
    "w8a8": {"preset": "w8a8"},
    "w4a4": {"preset": "w4a4"},
    "w4a4-lsqinit": {"preset": "w4a4", "init": "lsq"},
    "w4a4-fl8": {"preset": "w4a4", "first_last_bits": 8},
    "w4a4-ort": {"preset": "w4a4", "placement": "ort"},
    "w4-a8": {"preset": "w8a8", "layer_bits": {"*": [4, 8]}},
    "w8-a4": {"preset": "w8a8", "layer_bits": {"*": [8, 4]}},
    "dorefa8": {"preset": "w8a8", "method": "dorefa"},
    "pact8": {"preset": "w8a8", "method": "pact"},
}


def main(argv: list[str] | None = None) -> None:
    from gaitcompress import checkpoints as ckpt_io
    from gaitcompress.data import num_classes
    from gaitcompress.models import load_checkpoint
    from gaitcompress.quant.qat import parse_quant_recipe
    from gaitcompress.recipe import load_recipe

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--student", default="runs/synthgait/student_quick")
    ap.add_argument("--recipe", default="recipes/synthgait/quant_qgait4.yaml", help="data / eval settings")
    ap.add_argument("--preset", default="w4a4")
    ap.add_argument("--method", default="lsq")
    ap.add_argument("--init", default="mse")
    ap.add_argument("--batches", type=int, default=5, help="1 calibrates, the rest score")
    ap.add_argument("--configs", default="", help=f"whole-model variants to rank-1, of: {','.join(CONFIGS)}")
    ap.add_argument("--recal", default="", help="comma-separated QAT run folders: rank-1 before/after BN re-estimation")
    ap.add_argument(
        "--recal-batches", default="20", help="comma-separated batch counts of quant.bn_reestimate to score, e.g. 8,32"
    )
    ap.add_argument("--split", default="", help="eval.split of every score (val | test); default: the recipe's")
    ap.add_argument("--skip-per-quantizer", action="store_true", help="only --configs / --recal")
    ap.add_argument("--out", default="bench/results/qgait-sensitivity-synthgait")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    split = [f"eval.split={args.split}"] if args.split else []
    cfg = parse_quant_recipe(load_recipe(args.recipe, [f"quant.checkpoint={args.student}", *split]))
    fp32 = load_checkpoint(ckpt_io.resolve_checkpoint(args.student), None, num_classes(cfg.data)).eval()
    batches = _batches(cfg.data, args.batches, cfg.seed)
    qcfg = QConfig.preset(args.preset, method=args.method, init=args.init)
    doc: dict[str, Any] = {"command": "python -m gaitlab.quant_sensitivity " + shlex.join(argv or sys.argv[1:])}
    doc["split"] = cfg.eval.split
    if not args.skip_per_quantizer:
        doc["per_quantizer"] = sensitivity(fp32, qcfg, batches)
    doc["configs"] = {}
    names = [c for c in args.configs.split(",") if c]
    if names:
        doc["configs"]["fp32"] = _score(fp32, cfg)
    for name in names:
        over = dict(CONFIGS[name])
        variant = QConfig.preset(over.pop("preset"), **{"init": args.init, **over})
        qmodel = calibrated(fp32, variant, batches[0])
        res = _score(qmodel, cfg)
        err = relative_error(embeddings(qmodel, batches[1:]), embeddings(fp32, batches[1:]))
        doc["configs"][name] = {**res, "emb_err": err}
        print(f"{name}: mean@R1 {res['mean@R1']:.2f} err {err:.3f}", file=sys.stderr, flush=True)
    doc["recal"] = {}
    counts = [int(n) for n in args.recal_batches.split(",")]
    for run in filter(None, args.recal.split(",")):
        doc["recal"][run] = recal_scores(run, cfg, counts)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if doc["recal"] and "per_quantizer" not in doc and not doc["configs"]:  # a re-estimation table: §15 rows
        from gaitcompress.results import write_results
        from gaitcompress.train.stage import dataset_info

        write_results(recal_results(doc, out.name, dataset_info(cfg.data, cfg.eval.split)), out.with_suffix(".json"))
        return
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1))
    out.with_suffix(".md").write_text(render(doc))


def recal_results(doc: dict[str, Any], name: str, dataset: dict[str, Any]) -> dict[str, Any]:
    """`--recal` scores as a results document (DESIGN §15): one row per QAT row folder (the `seed*` runs' parent)
    and batch count, the row as trained first; mean ± std over its seeds."""
    from gaitcompress.results import make_results, summarize

    groups: dict[str, list[dict[str, Any]]] = {}
    for run, scores in doc["recal"].items():
        path = Path(run)
        groups.setdefault(path.parent.name if path.name.startswith("seed") else path.name, []).append(scores)
    rows = []
    for group, runs in groups.items():
        for n in ["", *runs[0]["after"]]:
            per = [r["after"][n] if n else r["before"] for r in runs]
            keys = [k for k in per[0] if all(k in m for m in per)]
            rows.append({
                "method": group.removeprefix("quant_") + (f"-bnre{n}" if n else ""),
                "label": f"{group}, BN re-estimated on {n} batches" if n else f"{group} as trained",
                "seeds": [r["seed"] for r in runs],
                "metrics": {k: summarize([m[k] for m in per]) for k in keys},
            })  # fmt: skip
    return make_results(name, rows, dataset, doc["command"])


def render(doc: dict[str, Any]) -> str:
    """The sensitivity report as Markdown (per-quantizer table, then whole-model variants)."""
    lines = ["# Quantization sensitivity", "", f"Command: `{doc['command']}`", ""]
    pq = doc.get("per_quantizer", {"rows": []})
    if pq["rows"]:
        lines += [
            f"Per quantizer: {pq['method']} {pq['config']}, {pq['init']} step init, calibrated, untrained. Relative "
            f"embedding error ‖ê − e‖/‖e‖ of the fully quantized model: {pq['full']:.3f}.",
            "",
            "| quantizer | grid | only this one | all but this one | clipped (activations) |",
            "|---|---|---|---|---|",
        ]
    for r in pq["rows"]:
        clip = "" if r["clip"] is None else f"{100 * r['clip']:.1f} %"
        lines.append(f"| {r['quantizer']} | {r['grid']} | {r['only']:.3f} | {r['all_but']:.3f} | {clip} |")
    if doc["configs"]:
        lines += ["", "| variant (no training) | NM@R1 | BG@R1 | CL@R1 | mean@R1 | emb. error |"]
        lines.append("|---|---|---|---|---|---|")
        for name, m in doc["configs"].items():
            r1 = " | ".join(f"{m[k]:.2f}" for k in ("NM@R1", "BG@R1", "CL@R1", "mean@R1"))
            lines.append(f"| {name} | {r1} | {m['emb_err']:.3f} |" if "emb_err" in m else f"| {name} | {r1} | 0 |")
    if doc.get("recal"):
        counts = list(next(iter(doc["recal"].values()))["after"])
        head = " | ".join(f"BN re-estimated, {n} batches" for n in counts)
        lines += ["", f"mean@R1 on the {doc.get('split') or 'recipe'} split.", ""]
        lines += [f"| QAT run | as trained | {head} |", "|---|---|" + "---|" * len(counts)]
        for run, r in doc["recal"].items():
            after = " | ".join(f"{r['after'][n]['mean@R1']:.2f}" for n in counts)
            lines.append(f"| {run} | {r['before']['mean@R1']:.2f} | {after} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
