"""The `train` and `eval` stages: recipe in, run folder out.

`run_train` is the stage's own work inside the harness life cycle (`gaitcompress.harness`: lock, resume rules,
seed, recipe.yaml, Ctrl-C): resolve the data (SynthGait is generated on demand by `gaitcompress.data`), build model,
loss set and `Trainer`, train, evaluate, and write `checkpoints/`, `final.pt`, `log.jsonl`, `tb/`, `metrics.json`
(DESIGN §15 schema) and `eval.json` (the full evaluation with per-view tables). `run_seeds` repeats it over seeds
into one results table; `run_eval` scores a saved checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from torch import nn

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.data import build_train_loader, num_classes
from gaitcompress.data.config import DataConfig
from gaitcompress.data.loader import load_index
from gaitcompress.evaluation import EvalResult, Reranker, evaluate_model
from gaitcompress.harness import Run, SeedRuns, StageResult, run_stage, writing
from gaitcompress.harness import run_seeds as run_seeds_loop
from gaitcompress.models import create_model
from gaitcompress.models.cost import model_cost
from gaitcompress.progress import NULL, Tracker
from gaitcompress.results import make_results, summarize, write_results
from gaitcompress.train.config import TrainRecipe, parse_recipe
from gaitcompress.train.distributed import barrier, resolve_device
from gaitcompress.train.engine import Trainer
from gaitcompress.train.losses import LossSet
from gaitcompress.train.module import SupervisedModule


class Evaluator:
    """`eval_fn` for the Trainer: scores a model with the recipe's protocol and keeps the last full result."""

    def __init__(self, cfg: TrainRecipe, device: Any, tracker: Tracker = NULL, rerank: Reranker | None = None) -> None:
        self.data, self.protocol, self.metric, self.split = cfg.data, cfg.eval.protocol, cfg.eval.metric, cfg.eval.split
        self.device, self.tracker, self.rerank = device, tracker, rerank
        self.last: EvalResult | None = None

    def __call__(self, model: nn.Module) -> dict[str, float]:
        self.last = evaluate_model(
            model, self.data, self.protocol, self.tracker, device=self.device, metric=self.metric, rerank=self.rerank,
            split=self.split,
        )  # fmt: skip
        return dict(self.last.metrics)


def dataset_info(data: DataConfig, split: str = "test") -> dict[str, Any]:
    """The `dataset` block of a results file: name, generator seed, [train, test] ids, input size, frames.

    With `data.val_ids`, `ids` counts the ids trained on, `val_ids` names the held-out ones and `split` says which
    split (`eval.split`) the metrics score.
    """
    info: dict[str, Any] = {"name": data.dataset, "input": list(data.input_size), "frames": data.train_frames}
    if data.root is None:
        synth = data.synth_config
        info.update(seed=synth.seed, ids=[synth.train - data.val_ids, synth.ids - synth.train])
        info.update(difficulty=synth.difficulty)
    else:
        info.update(root=data.root, ids=[num_classes(data), None])
    if data.val_ids:
        info.update(val_ids=sorted({e.meta.id for e in load_index(data).val}), split=split)
    return info


def result_row(cfg: TrainRecipe, model: nn.Module, per_seed: Sequence[dict[str, float]], seeds: Sequence[int]) -> dict:
    """One §15 row: every metric summarised over seeds, plus parameter count and the training frames."""
    names = [k for k in per_seed[0] if all(k in m for m in per_seed)]
    return {
        "method": cfg.method,
        "label": f"{cfg.model.name} trained by {cfg.source or 'recipe'}",
        "model": cfg.model.name,
        "bits": "fp32",
        "seeds": list(seeds),
        "metrics": {k: summarize([m[k] for m in per_seed]) for k in names},
        "cost": _cost(model, cfg.data),
    }


def _cost(model: nn.Module, data: DataConfig) -> dict[str, Any]:
    """Params and MACs per sequence at the training clip length and input size (DESIGN §15 `cost`)."""
    cost = model_cost(model, data.train_frames, data.input_size)
    return {"macs": cost.macs, "params": cost.params, "frames": data.train_frames, "input": list(data.input_size)}


MakeModule = Callable[[TrainRecipe, nn.Module, nn.Module], nn.Module]  # (cfg, model, loss set) -> TrainModule


def _supervised(cfg: TrainRecipe, model: nn.Module, loss_set: nn.Module) -> nn.Module:
    return SupervisedModule(model, loss_set)


def run_train(
    recipe: dict[str, Any],
    tracker: Tracker = NULL,
    resume: bool = False,
    command: str | None = None,
    recipe_cls: type[TrainRecipe] = TrainRecipe,
    make_module: MakeModule | None = None,
    restart: bool = False,
) -> StageResult:
    """Train the recipe's model in its run folder (the life cycle is `gaitcompress.harness.run_stage`'s).

    Later stages reuse this work with their own recipe class and `make_module(cfg, model, loss_set)` building the
    TrainModule around the model (distillation: `gaitcompress.distill.stage`); the default is `SupervisedModule`.
    """
    return run_stage(
        recipe, recipe_cls, partial(_train, make_module=make_module or _supervised),
        parse=partial(parse_recipe, cls=recipe_cls), tracker=tracker, resume=resume, restart=restart, command=command,
    )  # fmt: skip


def _train(run: Run, make_module: MakeModule) -> StageResult:
    tic, cpu = time.perf_counter(), time.process_time()
    cfg, ctx = run.cfg, run.ctx
    if ctx.is_main:
        load_index(cfg.data, run.tracker)  # generates SynthGait on first use (rank 0 only), with a progress bar
    barrier(ctx)
    where = f"{cfg.source or 'recipe'}: loss"
    model = create_model(cfg.model.name, num_classes=num_classes(cfg.data), **cfg.model.kwargs)
    module = make_module(cfg, model, LossSet.from_config(cfg.loss, where))
    loader = partial(build_train_loader, cfg.data, cfg.seed, ctx.rank, ctx.world_size)  # start -> batches
    evaluator = Evaluator(cfg, ctx.device, run.tracker)  # its features bar: a second bar under training's
    trainer = Trainer(
        module, loader, run.run_dir, cfg.train, cfg.optim, cfg.sched,
        ctx=ctx, eval_fn=evaluator, tracker=run.tracker, meta={"recipe": run.recipe, "kind": "fp32"},
    )  # fmt: skip
    metrics = trainer.fit(resume=run.resume)
    wall, cpu = time.perf_counter() - tic, time.process_time() - cpu
    doc = make_results(
        cfg.name, [result_row(cfg, model, [metrics], [cfg.seed])], dataset_info(cfg.data, cfg.eval.split), run.command
    )
    doc["rows"][0]["train"] = {
        "iterations": cfg.train.iterations,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),  # CPU time of this process: comparable across a shared machine's load
        "world_size": ctx.world_size,
    }
    run.write_results(doc)
    if evaluator.last is not None:
        run.write_text("eval.json", evaluator.last.to_json())
    return StageResult(run.run_dir, metrics, doc, evaluator.last, wall, cpu, module.deploy_model())


def run_seeds(
    recipe: dict[str, Any], seeds: Sequence[int], tracker: Tracker = NULL, out: str | Path | None = None,
    recipe_cls: type[TrainRecipe] = TrainRecipe, make_module: MakeModule | None = None, resume: bool = False,
    command: str | None = None,
) -> SeedRuns:  # fmt: skip
    """`run_train` once per seed (run folders `<run_dir>/seed<s>`), summarised into one results row.

    With `resume`, a finished seed is read back and an unfinished one continues from its newest checkpoint.
    """
    stage = {"recipe_cls": recipe_cls, "make_module": make_module}
    return run_seeds_loop(
        lambda one: run_train(one, tracker, resume, command, **stage), recipe, seeds, recipe_cls,
        reuse=resume, out=out, command=command,
    )  # fmt: skip


def run_eval(
    recipe: dict[str, Any],
    checkpoint: str | Path,
    tracker: Tracker = NULL,
    out: str | Path | None = None,
    rerank: Reranker | None = None,
    command: str | None = None,
    recipe_cls: type[TrainRecipe] = TrainRecipe,
) -> EvalResult:
    """Score a checkpoint (a file, or a run folder's final/latest one) with the recipe's data and protocol.

    With `out` (checked writable before any work), writes `out` (a §15 results JSON + .md) and `eval.json` (full
    result with per-view tables) beside it. `rerank` re-ranks every probe × gallery matrix (k-reciprocal or a
    CarGait head, built by the caller, e.g. `gaitcompress.rerank.reranker_from`). `recipe_cls` parses a recipe
    with more sections than training's (a distill or quantize recipe scores the model it made).
    """
    cfg = parse_recipe(recipe, recipe_cls)
    if out is not None:
        ckpt_io.check_writable(Path(out).parent)
    path = ckpt_io.resolve_checkpoint(checkpoint)
    # any kind (FP32 or QAT), with its own class count: retrieval never uses the classifier, so a checkpoint
    # trained on other identities still scores this test set
    model = ckpt_io.load_model(path, name=cfg.model.name)
    device = resolve_device(cfg.train.device)
    evaluator = Evaluator(cfg, device, tracker, rerank)
    metrics = evaluator(model.to(device))
    if out is not None:
        row = result_row(cfg, model, [metrics], [cfg.seed])
        row["checkpoint"] = str(path)
        with writing(Path(out).parent):
            write_results(make_results(cfg.name, [row], dataset_info(cfg.data, cfg.eval.split), command), out)
        ckpt_io.atomic_write_text(evaluator.last.to_json(), Path(out).with_name("eval.json"))
    return evaluator.last
