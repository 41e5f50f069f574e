"""The `quantize` stage: QGait's two-stage quantization-aware training from an FP32 checkpoint.

    quant:
      checkpoint: runs/student_quick/final.pt     # the FP32 model to quantize (also the IDD teacher)
      preset: w4a4                                # w8a8 | w4a4, then method / placement / bit options
      method: lsq                                 # lsq (LSQ, QGait) | dorefa | pact
      stage1: {iterations: 100}                   # STE; the recipe's optim/sched
      stage2: {iterations: 40, lr_scale: 0.1}     # soft quantizer θ_k, k from soft_k (0 iterations: STE only)
      soft_k: {schedule: grow, start: 1, increment: 0.2, every: 100, threshold: 5}
      terms:                                      # distillation from the FP32 model (gaitcompress.distill terms)
        - {loss: idd, student: embeddings, weight: 1.0}
      bn_reestimate: 0                            # training batches for BatchNorm re-estimation after the stages

Stage 1 trains the fake-quantized model with the straight-through estimator (+ the terms); stage 2 fine-tunes it
with the soft quantizer while a per-iteration callback grows k. With `bn_reestimate: N`, the BatchNorm running
statistics are then recomputed on N training batches under hard rounding (`gaitcompress.quant.bn_reestimate`) and
the model is scored again (the row keeps the score before it). The model is always evaluated in eval mode, i.e.
with hard round-half-to-even quantization — what deploys. Run folder: `stage1/`, `stage2/` (the engine's
checkpoints and logs of each stage), `final.pt` (`kind: 'qat'`, the `qconfig`, loadable by `load_quantized`),
`recipe.yaml`, `metrics.json` (DESIGN §15, with `bits` and `cost.bitops`), `eval.json`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from torch import nn

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.data import build_train_loader, num_classes
from gaitcompress.distill.module import DistillModule
from gaitcompress.distill.terms import TermConfig
from gaitcompress.errors import GaitCompressError
from gaitcompress.harness import Run, SeedRuns, StageResult, run_seeds, run_stage
from gaitcompress.models import load_checkpoint
from gaitcompress.progress import NULL, Tracker
from gaitcompress.quant.bn_reestimate import reestimate_bn
from gaitcompress.quant.cost import bitops_report
from gaitcompress.quant.prepare import QConfig, quantize_model, set_mode
from gaitcompress.quant.qmodel import save_quantized
from gaitcompress.quant.schedule import SoftKConfig
from gaitcompress.results import make_results, summarize
from gaitcompress.train.config import SchedConfig, TrainRecipe, parse_recipe
from gaitcompress.train.distributed import DistContext
from gaitcompress.train.engine import EvalFn, Trainer
from gaitcompress.train.losses import LossSet
from gaitcompress.train.module import SupervisedModule
from gaitcompress.train.stage import Evaluator, dataset_info


@dataclass(frozen=True)
class StageConfig:
    iterations: int = 0
    lr_scale: float = 1.0  # × optim.lr (stage 2 fine-tunes at a lower rate; constant lr)


@dataclass(frozen=True)
class QuantSection:
    checkpoint: str = ""  # FP32 checkpoint (file or run folder) to quantize; also the distillation teacher
    model_name: str | None = None  # variant name, only for OpenGait checkpoints without a spec
    preset: str = "w8a8"  # w8a8 | w4a4
    method: str = "lsq"  # lsq | dorefa | pact
    placement: str = "trt"  # trt | ort
    first_last_bits: int | None = None  # e.g. 8: stem conv and per-part FC at 8 bits
    layer_bits: dict[str, list[int]] = field(default_factory=dict)
    init: str = "lsq"  # LSQ step init: lsq | mse (see gaitcompress.quant.quantizers.LsqQuantizer)
    stage1: StageConfig = field(default_factory=lambda: StageConfig(iterations=100))
    stage2: StageConfig = field(default_factory=lambda: StageConfig(iterations=0, lr_scale=0.1))
    soft_k: SoftKConfig = field(default_factory=SoftKConfig)
    terms: tuple[TermConfig, ...] = ()
    float_control: bool = False  # train the FP32 model itself with these stages, no quantizers (see _quantize)
    bn_reestimate: int = 0  # training batches to re-estimate BatchNorm statistics on after the stages; 0 = off

    def qconfig(self) -> QConfig:
        return QConfig.preset(
            self.preset,
            method=self.method,
            placement=self.placement,
            first_last_bits=self.first_last_bits,
            layer_bits=dict(self.layer_bits),
            init=self.init,
        )


@dataclass(frozen=True)
class QuantRecipe(TrainRecipe):
    name: str = "quantize"
    method: str = "qgait8"
    run_dir: str = "runs/quantize"
    quant: QuantSection = field(default_factory=QuantSection)


class SoftKCallback:
    """Per-iteration engine callback of stage 2: k of every quantizer ← schedule(iterations done in stage 2)."""

    def __init__(self, model: nn.Module, cfg: SoftKConfig) -> None:
        self.model, self.cfg = model, cfg

    def __call__(self, trainer: Trainer, iteration: int) -> None:
        set_mode(self.model, self.cfg.mode, self.cfg.k_at(iteration))  # k for the next step; `iteration` steps are done


def parse_quant_recipe(recipe: dict[str, Any]) -> QuantRecipe:
    cfg = parse_recipe(recipe, QuantRecipe)
    where = cfg.source or "recipe"
    if not cfg.quant.checkpoint:
        raise GaitCompressError(f"{where}: quant.checkpoint is not set", "point it at an FP32 checkpoint or run folder")
    if cfg.quant.bn_reestimate < 0:
        raise GaitCompressError(
            f"{where}: quant.bn_reestimate={cfg.quant.bn_reestimate}", "give a number of batches (0 = off)",
            key="quant.bn_reestimate",
        )  # fmt: skip
    if cfg.quant.stage1.iterations + cfg.quant.stage2.iterations < 1:
        raise GaitCompressError(
            f"{where}: no QAT iterations",
            "set quant.stage1.iterations (and stage2), or quant.method=ptq for post-training INT8 without training",
        )
    cfg.quant.qconfig()  # validates preset / method / placement / bits early
    return cfg


def _train_module(cfg: QuantRecipe, qmodel: nn.Module, fp32: nn.Module, example: Any) -> nn.Module:
    where = f"{cfg.source or 'recipe'}: loss"
    losses = LossSet.from_config(cfg.loss, where)
    if not cfg.quant.terms:
        return SupervisedModule(qmodel, losses)
    total = cfg.quant.stage1.iterations + cfg.quant.stage2.iterations
    return DistillModule(qmodel, [fp32], losses, cfg.quant.terms, example, total)


def run_quantize(
    recipe: dict[str, Any], tracker: Tracker = NULL, command: str | None = None, resume: bool = False,
    restart: bool = False,
) -> StageResult:  # fmt: skip
    """Quantize `quant.checkpoint` with two-stage QAT in the harness life cycle (`gaitcompress.harness.run_stage`).

    With `resume`, each stage continues from its newest checkpoint (a finished stage 1 is reloaded, not re-run).
    """
    return run_stage(
        recipe, QuantRecipe, _quantize, parse=parse_quant_recipe, tracker=tracker, resume=resume, restart=restart,
        command=command,
    )  # fmt: skip


def _quantize(run: Run) -> StageResult:
    tic = time.perf_counter()
    cfg, ctx = run.cfg, run.ctx
    qcfg = cfg.quant.qconfig()
    fp32 = load_checkpoint(
        ckpt_io.resolve_checkpoint(cfg.quant.checkpoint), cfg.quant.model_name, num_classes(cfg.data), ctx.device,
        key="quant.checkpoint",
    )  # fmt: skip
    # the float control gets exactly the QAT rows' extra training without quantizers: QAT continues training the
    # FP32 model, so a QAT row "above FP32" may be the training, not the quantization
    qmodel = copy.deepcopy(fp32) if cfg.quant.float_control else quantize_model(fp32, qcfg)
    loader = build_train_loader(cfg.data, seed=cfg.seed, rank=ctx.rank, world_size=ctx.world_size)
    example = next(loader).to(ctx.device).sils
    module = _train_module(cfg, qmodel, fp32, example)
    evaluator = Evaluator(cfg, ctx.device, run.tracker)
    metrics = train_stages(
        module, qmodel, loader, run.run_dir, cfg, ctx=ctx, eval_fn=evaluator, tracker=run.tracker,
        meta={"recipe": run.recipe, "kind": "qat"}, resume=run.resume,
    )  # fmt: skip
    before = None
    if cfg.quant.bn_reestimate:
        before = metrics
        batches = build_train_loader(cfg.data, seed=cfg.seed, rank=ctx.rank, world_size=ctx.world_size)
        reestimate_bn(qmodel, batches, cfg.quant.bn_reestimate, ctx.device, run.tracker)
        metrics = evaluator(qmodel) if ctx.is_main else metrics
    wall = time.perf_counter() - tic
    frames = cfg.data.train_frames
    cost = bitops_report(qmodel, frames, tuple(cfg.data.input_size)).as_cost()
    row = {
        "method": cfg.method,
        "label": _label(cfg),
        "model": fp32.spec.name,
        "bits": "fp32" if cfg.quant.float_control else qcfg.tag,
        "seeds": [cfg.seed],
        "metrics": {k: summarize([v]) for k, v in metrics.items()},
        "cost": cost,
        "quant": {"placement": qcfg.placement, "method": qcfg.method, "first_last_bits": qcfg.first_last_bits},
        "train": {
            "stage1": cfg.quant.stage1.iterations,
            "stage2": cfg.quant.stage2.iterations,
            "wall_s": round(wall, 1),
        },
    }
    if before is not None:
        scores = {k: summarize([v]) for k, v in before.items()}
        row["bn_reestimate"] = {"batches": cfg.quant.bn_reestimate, "before": scores}
    doc = make_results(cfg.name, [row], dataset_info(cfg.data, cfg.eval.split), run.command)
    if ctx.is_main and not cfg.quant.float_control:  # the control's weights: stage*/final.pt (an FP32 checkpoint)
        save_quantized(qmodel, qcfg, run.run_dir / "final.pt", recipe=run.recipe, metrics=metrics)
    run.write_results(doc)
    if evaluator.last is not None:
        run.write_text("eval.json", evaluator.last.to_json())
    return StageResult(run.run_dir, metrics, doc, evaluator.last, wall, model=qmodel)


def train_stages(
    module: nn.Module,
    qmodel: nn.Module,
    loader: Iterator[Any],
    run_dir: Path,
    cfg: QuantRecipe,
    *,
    ctx: DistContext | None = None,
    eval_fn: EvalFn | None = None,
    tracker: Tracker = NULL,
    meta: Mapping[str, Any] | None = None,
    resume: bool = False,
) -> dict[str, float]:
    """Stage 1 (STE, the recipe's optim + sched) then stage 2 (soft θ_k, lr × lr_scale, constant, k callback).

    Each stage is one engine run in `run_dir/stage<i>`; only the last one evaluates (eval mode = hard rounding),
    unless `train.eval_every` is set: then every stage evaluates on that period and at its end, so a learning curve
    (`gaitlab.qgait_curve`) covers stage 1 too. A stage with 0 iterations is skipped; returns the last stage's
    metrics.
    """
    s1, s2 = cfg.quant.stage1, cfg.quant.stage2
    soft = cfg.quant.soft_k.mode
    stages = [(n, s, m) for n, s, m in (("stage1", s1, "ste"), ("stage2", s2, soft)) if s.iterations > 0]
    metrics: dict[str, float] = {}
    for i, (name, stage, mode) in enumerate(stages):
        last = i == len(stages) - 1
        set_mode(qmodel, mode, cfg.quant.soft_k.k_at(0) if mode != "ste" else None)
        trainer = Trainer(
            module, loader, run_dir / name,
            dataclasses.replace(cfg.train, iterations=stage.iterations),
            dataclasses.replace(cfg.optim, lr=cfg.optim.lr * stage.lr_scale),
            cfg.sched if mode == "ste" else SchedConfig(),
            ctx=ctx, eval_fn=eval_fn if last or cfg.train.eval_every else None, tracker=tracker, meta=meta,
            callbacks=[SoftKCallback(qmodel, cfg.quant.soft_k)] if mode != "ste" else (),
        )  # fmt: skip
        metrics = trainer.fit(resume=resume)
    return metrics


def _label(cfg: QuantRecipe) -> str:
    q = cfg.quant
    if q.float_control:
        return f"FP32 control (no quantizers), {q.stage1.iterations + q.stage2.iterations} it" + _lr_note(cfg)
    parts = [
        f"{q.method.upper()} {q.preset}"
        + (f" (first/last layer w{q.first_last_bits}a{q.first_last_bits})" if q.first_last_bits else "")
        + (f" ({q.placement} placement)" if q.placement != "trt" else "")
        + (" (MSE step init)" if q.init == "mse" else ""),
        f"STE {q.stage1.iterations} it" + _lr_note(cfg),
    ]
    if q.stage2.iterations:
        k = q.soft_k
        sched = (
            f"k={k.threshold:g} fixed"
            if k.schedule == "fixed"
            else f"k {k.start:g}→{k.threshold:g} +{k.increment:g}/{k.every}"
        )
        fwd = ", hard forward" if k.forward == "round" else ""
        lr = f", lr×{q.stage2.lr_scale:g}" if q.stage2.lr_scale != 1 else ""
        parts.append(f"soft {q.stage2.iterations} it ({sched}{fwd}{lr})")
    if q.terms:
        parts.append(" + ".join(f"{t.weight:g}·{t.loss}" for t in q.terms))
    if q.bn_reestimate:
        parts.append(f"BN re-estimated on {q.bn_reestimate} batches")
    return ", ".join(parts)


def _lr_note(cfg: QuantRecipe) -> str:
    """' (lr 0.0001, ×0.3 at 140)' when stage 1 decays its learning rate, else ''."""
    s = cfg.sched
    if s.name == "multistep" and s.milestones:
        return f" (lr {cfg.optim.lr:g}, ×{s.gamma:g} at {','.join(map(str, s.milestones))})"
    return f" (lr {cfg.optim.lr:g}, {s.name})" if s.name != "multistep" else ""


def run_quantize_seeds(
    recipe: dict[str, Any], seeds: list[int], tracker: Tracker = NULL, reuse: bool = False,
    out: str | Path | None = None, command: str | None = None,
) -> SeedRuns:  # fmt: skip
    """`run_quantize` once per seed (`<run_dir>/seed<s>`), summarised into one §15 row (mean ± std over seeds).

    `reuse`: a seed whose folder already holds a finished run is read instead of run again, so a sweep cut short, or
    grown by a seed, only runs what is missing (an unfinished seed continues from its checkpoints).
    """
    return run_seeds(
        partial(run_quantize, tracker=tracker, command=command, resume=reuse), recipe, seeds, QuantRecipe,
        reuse=reuse, out=out, command=command,
    )  # fmt: skip
