"""Post-training INT8 in one step: the QAT quantizers of any FP32 checkpoint, their steps calibrated, no training.

    gaitcompress quantize recipes/synthgait/quant_qgait8.yaml quant.method=ptq [quant.placement=ort]
    gaitcompress export runs/synthgait/quant_qgait8-ptq --format int8 --verify

The recipe is a QAT recipe (`gaitcompress.quant.qat`) whose `quant.method` is `ptq`; its `quant.checkpoint` is a
gaitcompress or OpenGait FP32 checkpoint (`quant.model_name` names an OpenGait variant). What PTQ does:

1. `quantize_model` places exactly the quantizers QAT would (preset, placement `trt` | `ort`, first/last bits), with
   LSQ quantizers in the least-MSE step init (`LsqQuantizer(init='mse')`): PTQ has no training to undo a coarse step.
2. Calibration: `quant.calib_sequences` training sequences (P×K batches of the recipe's training loader, seeded by
   `seed`: the seed picks the calibration sample) run through the *float* model — every quantizer passes its input
   through unchanged — while each activation quantizer keeps a random sample of what it sees (plus each batch's
   largest value). Each activation step is then initialised on its sample by the quantizer's own init; weight steps
   are initialised on the weights (per output channel); the stem's fixed input quantizer needs nothing.
3. The model is scored with hard rounding (what deploys) and saved as a `qat`-kind checkpoint, so
   `export --format int8 --verify` and the pipeline take it unchanged. The stage/soft-k/terms keys are not used.

The run folder is `<run_dir>-ptq` from the command line (a QAT recipe's PTQ never lands in its QAT run folder):
`final.pt`, `recipe.yaml`, `metrics.json` (row method `ptq8` / `ptq4`, DESIGN §15), `eval.json`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.data import build_train_loader
from gaitcompress.data.batch import Batch
from gaitcompress.errors import GaitCompressError
from gaitcompress.harness import Run, SeedRuns, StageResult, run_seeds, run_stage
from gaitcompress.models import load_checkpoint
from gaitcompress.progress import NULL, Tracker
from gaitcompress.quant.cost import bitops_report
from gaitcompress.quant.prepare import QConfig, quantize_model, quantizers
from gaitcompress.quant.qat import QuantRecipe, QuantSection
from gaitcompress.quant.qmodel import save_quantized
from gaitcompress.quant.quantizers import LsqQuantizer
from gaitcompress.results import make_results, summarize
from gaitcompress.train.config import parse_recipe
from gaitcompress.train.stage import Evaluator, dataset_info

METHOD = "ptq"
SAMPLE = 2**15  # activation values kept per quantizer and batch: enough for a per-tensor MSE step, a few MB in all
RUN_SUFFIX = "-ptq"


@dataclass(frozen=True)
class PtqSection(QuantSection):
    method: str = METHOD
    init: str = "mse"
    calib_sequences: int = 256  # training sequences the activation steps are calibrated on

    def qconfig(self) -> QConfig:
        """The quantizers QAT would place (LSQ-shaped), with the least-MSE step init."""
        return QConfig.preset(
            self.preset,
            method="lsq",
            placement=self.placement,
            first_last_bits=self.first_last_bits,
            layer_bits=dict(self.layer_bits),
            init="mse",
        )


@dataclass(frozen=True)
class PtqRecipe(QuantRecipe):
    quant: PtqSection = field(default_factory=PtqSection)


def is_ptq(recipe: dict[str, Any]) -> bool:
    """Whether a resolved quantize recipe asks for post-training quantization (`quant.method: ptq`)."""
    return (recipe.get("quant") or {}).get("method") == METHOD


def parse_ptq_recipe(recipe: dict[str, Any]) -> PtqRecipe:
    cfg = parse_recipe(recipe, PtqRecipe)
    where = cfg.source or "recipe"
    if not cfg.quant.checkpoint:
        raise GaitCompressError(f"{where}: quant.checkpoint is not set", "point it at an FP32 checkpoint or run folder")
    if cfg.quant.method != METHOD:
        raise GaitCompressError(f"{where}: quant.method={cfg.quant.method!r} is not ptq", "set quant.method=ptq")
    if cfg.quant.calib_sequences < 1:
        raise GaitCompressError(f"{where}: quant.calib_sequences must be ≥ 1", "e.g. quant.calib_sequences=256")
    cfg.quant.qconfig()  # validates preset / placement / bits early
    return cfg


def _activation_quantizers(model: nn.Module) -> dict[str, LsqQuantizer]:
    """The per-tensor LSQ quantizers (activations; weights are per output channel)."""
    return {p: q for p, q in quantizers(model).items() if isinstance(q, LsqQuantizer) and q.channel_axis is None}


@torch.no_grad()
def calibrate(
    qmodel: nn.Module, batches: Iterable[Batch], sequences: int, tracker: Tracker = NULL, seed: int = 0
) -> int:
    """Initialise every quantizer of the fake-quantized `qmodel` from `sequences` calibration sequences.

    The float model runs (each quantizer's output is replaced by its input), so each activation quantizer sees the
    statistics of the trained FP32 model, as static PTQ calibrates. Returns the number of sequences used.
    """
    acts = _activation_quantizers(qmodel)
    if not acts:
        raise GaitCompressError("the model has no LSQ activation quantizers to calibrate", "use quant.preset w8a8|w4a4")
    samples: dict[str, list[Tensor]] = {p: [] for p in acts}
    gen = torch.Generator().manual_seed(seed)
    name_of = {id(q): p for p, q in acts.items()}

    def observe(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
        x = inputs[0].detach().float().flatten()
        path = name_of.get(id(module))
        if path is not None:
            keep = x[torch.randint(x.numel(), (min(SAMPLE, x.numel()),), generator=gen)]
            samples[path].append(torch.cat([keep, x.abs().amax().reshape(1)]))  # the range's end is always kept
        return inputs[0]  # float pass-through

    qmodel.eval()  # BN running statistics, as deployed
    hooks = [q.register_forward_hook(observe) for q in quantizers(qmodel).values()]
    seen = 0
    try:
        with tracker.task("calibrating", total=sequences) as step:
            for batch in batches:
                take = min(len(batch), sequences - seen)
                qmodel(batch.sils[:take], batch.lengths[:take])
                seen += take
                step(take)
                if seen >= sequences:
                    break
    finally:
        for hook in hooks:
            hook.remove()
    if not seen:
        raise GaitCompressError("no calibration sequences", "check the recipe's training split")
    for path, q in acts.items():
        q.initialized.fill_(False)
        q(torch.cat(samples[path]))  # the quantizer's own step init (least MSE) on what it saw
    return seen


def run_ptq_stage(
    recipe: dict[str, Any], tracker: Tracker = NULL, command: str | None = None, resume: bool = False,
    restart: bool = False, own_folder: bool = True,
) -> StageResult:  # fmt: skip
    """Post-training quantization of `quant.checkpoint` in the harness life cycle (`gaitcompress.harness`).

    `own_folder`: write into `<run_dir>-ptq` (the command line); the pipeline passes False, it names each stage's
    folder itself. `resume` is accepted for the CLI's sake: a PTQ run has no intermediate checkpoints.
    """
    recipe = dict(recipe)
    if own_folder:
        recipe["run_dir"] = str(recipe.get("run_dir") or QuantRecipe.run_dir) + RUN_SUFFIX
    return run_stage(
        recipe, PtqRecipe, _ptq, parse=parse_ptq_recipe, tracker=tracker, resume=resume, restart=restart,
        command=command,
    )  # fmt: skip


def run_ptq_seeds(
    recipe: dict[str, Any], seeds: list[int], tracker: Tracker = NULL, reuse: bool = False,
    out: str | Path | None = None, command: str | None = None,
) -> SeedRuns:  # fmt: skip
    """`run_ptq_stage` once per seed (`<run_dir>-ptq/seed<s>`: the seed picks the calibration sequences), summarised
    into one §15 row (mean ± std over seeds); `reuse` reads finished seeds."""
    recipe = {**recipe, "run_dir": str(recipe.get("run_dir") or QuantRecipe.run_dir) + RUN_SUFFIX}
    run_one = partial(run_ptq_stage, tracker=tracker, command=command, own_folder=False)
    return run_seeds(run_one, recipe, seeds, PtqRecipe, reuse=reuse, out=out, command=command)


def _ptq(run: Run) -> StageResult:
    tic = time.perf_counter()
    cfg, device = run.cfg, run.ctx.device
    qcfg = cfg.quant.qconfig()
    # its own class count: calibration and scoring never use the classifier (QAT trains it, so it takes the data's)
    fp32 = load_checkpoint(
        ckpt_io.resolve_checkpoint(cfg.quant.checkpoint), cfg.quant.model_name, None, device, key="quant.checkpoint"
    )
    qmodel = quantize_model(fp32, qcfg)
    loader: Iterator[Batch] = (b.to(device) for b in build_train_loader(cfg.data, seed=cfg.seed))
    used = calibrate(qmodel, loader, cfg.quant.calib_sequences, run.tracker, seed=cfg.seed)
    evaluator = Evaluator(cfg, device, run.tracker)
    metrics = evaluator(qmodel.eval())
    wall = time.perf_counter() - tic
    cost = bitops_report(qmodel, cfg.data.train_frames, tuple(cfg.data.input_size)).as_cost()
    row = {
        "method": f"{METHOD}{qcfg.weight_bits}",
        "label": label(cfg, used),
        "model": fp32.spec.name,
        "bits": qcfg.tag,
        "seeds": [cfg.seed],
        "metrics": {k: summarize([v]) for k, v in metrics.items()},
        "cost": cost,
        "quant": {
            "placement": qcfg.placement,
            "method": METHOD,
            "first_last_bits": qcfg.first_last_bits,
            "calib_sequences": used,
        },  # fmt: skip
        "train": {"iterations": 0, "wall_s": round(wall, 1)},
        "checkpoint": str(run.run_dir / ckpt_io.FINAL),
    }
    doc = make_results(f"{cfg.name}-ptq", [row], dataset_info(cfg.data, cfg.eval.split), run.command)
    if run.ctx.is_main:
        save_quantized(qmodel, qcfg, run.run_dir / ckpt_io.FINAL, recipe=run.recipe, metrics=metrics)
    run.write_results(doc)
    if evaluator.last is not None:
        run.write_text("eval.json", evaluator.last.to_json())
    return StageResult(run.run_dir, metrics, doc, evaluator.last, wall, model=qmodel)


def label(cfg: PtqRecipe, sequences: int) -> str:
    q = cfg.quant
    first_last = f" (first/last layer w{q.first_last_bits}a{q.first_last_bits})" if q.first_last_bits else ""
    return f"PTQ {q.preset}{first_last} ({q.placement} placement), MSE steps from {sequences} training sequences"
