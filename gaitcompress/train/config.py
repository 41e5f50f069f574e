"""Recipe sections the training engine reads, as frozen dataclasses.

A training recipe is plain YAML (see `recipes/synthgait/`); `gaitcompress.recipe.from_dict` turns it into a
`TrainRecipe`, rejecting an unknown key with the nearest valid one. Defaults follow OpenGait's GaitBase
(SGD lr 0.1, momentum 0.9, weight decay 5e-4, multi-step decay), so a recipe states only what differs.

    seed: 0
    run_dir: runs/teacher_quick
    model: {name: gaitbase_w025, kwargs: {}}
    loss: {...}                                  # the LossSet's own section (gaitcompress.train.losses)
    data: {...}                                  # gaitcompress.data DataConfig
    optim: {name: sgd, lr: 0.1}
    sched: {name: multistep, milestones: [200, 300], gamma: 0.1}
    train: {iterations: 400, log_every: 10, eval_every: 0, save_every: 100}
    eval: {metric: euc, split: test}             # protocol defaults to data.protocol; split: test | val
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gaitcompress.data.config import DataConfig
from gaitcompress.errors import GaitCompressError, did_you_mean
from gaitcompress.recipe import from_dict

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("multistep", "cosine")
DEVICES = ("auto", "cpu", "cuda")
DISTANCES = ("euc", "cos")
SPLITS = ("test", "val")  # val: the training ids data.val_ids holds out (gaitcompress.data.holdout)


@dataclass(frozen=True)
class OptimConfig:
    name: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.1
    momentum: float = 0.9  # SGD only
    weight_decay: float = 5e-4  # not applied to parameters a module lists in no_weight_decay()
    nesterov: bool = False  # SGD only
    betas: tuple[float, float] = (0.9, 0.999)  # Adam/AdamW only


@dataclass(frozen=True)
class SchedConfig:
    name: str = "multistep"  # multistep | cosine
    milestones: tuple[int, ...] = ()  # multistep: iterations at which lr *= gamma
    gamma: float = 0.1
    warmup: int = 0  # iterations of linear warm-up from warmup_factor·lr to lr (both schedules)
    warmup_factor: float = 0.01
    min_lr_ratio: float = 0.0  # cosine: final lr = min_lr_ratio·lr


@dataclass(frozen=True)
class TrainConfig:
    iterations: int = 1000
    log_every: int = 10  # JSONL/TensorBoard rows every N iterations
    eval_every: int = 0  # 0: evaluate only at the end
    save_every: int = 0  # 0: checkpoint only at the end
    keep_last: int = 2  # periodic checkpoints kept on disk (the final one is always kept)
    amp: bool = True  # autocast + GradScaler, CUDA only (a no-op on CPU)
    device: str = "auto"  # auto | cpu | cuda
    channels_last: bool = False
    sync_bn: bool = False  # SyncBatchNorm across ranks (DDP on CUDA only, as OpenGait's sync_BN)
    grad_clip: float = 0.0  # max global grad norm; 0 disables
    tensorboard: bool = True  # also write TensorBoard events (skipped when tensorboard is missing)


@dataclass(frozen=True)
class ModelConfig:
    name: str = "gaitbase"
    kwargs: dict[str, Any] = field(default_factory=dict)  # passed to gaitcompress.models.create_model


@dataclass(frozen=True)
class EvalConfig:
    protocol: str | None = None  # gaitcompress.evaluation protocol; default: data.protocol
    metric: str = "euc"  # distance: euc (mean per-part Euclidean) | cos (1 − mean per-part cosine)
    split: str = "test"  # test | val: what training's and the stage's evaluation score (val needs data.val_ids)


@dataclass(frozen=True)
class TrainRecipe:
    """A whole `gaitcompress train` recipe. Later stages extend it (subclass) with their own sections."""

    name: str = "train"  # results name written into metrics.json
    method: str = "teacher"  # DESIGN §15 method label of the row this run produces
    seed: int = 0
    run_dir: str = "runs/train"
    source: str = ""  # the recipe file (filled in by gaitcompress.recipe.load_recipe)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sched: SchedConfig = field(default_factory=SchedConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def parse_recipe(recipe: dict[str, Any], cls: type[TrainRecipe] = TrainRecipe) -> TrainRecipe:
    """Validate a resolved recipe dict into `cls`, checking the choices `from_dict` cannot."""
    where = recipe.get("source") or "recipe"
    cfg = from_dict(cls, recipe, str(where))
    _check_choice(cfg.optim.name, OPTIMIZERS, f"{where}: optim.name")
    _check_choice(cfg.sched.name, SCHEDULES, f"{where}: sched.name")
    _check_choice(cfg.train.device, DEVICES, f"{where}: train.device")
    _check_choice(cfg.eval.metric, DISTANCES, f"{where}: eval.metric")
    _check_choice(cfg.eval.split, SPLITS, f"{where}: eval.split")
    if cfg.eval.split == "val" and not cfg.data.val_ids:
        raise GaitCompressError(
            f"{where}: eval.split=val but data.val_ids is 0 (no validation ids)",
            "hold out training ids with data.val_ids=N, or score the test split with eval.split=test",
        )
    if cfg.train.iterations < 1:
        raise GaitCompressError(f"{where}: train.iterations must be ≥ 1", "set train.iterations=N")
    if list(cfg.sched.milestones) != sorted(cfg.sched.milestones):
        raise GaitCompressError(f"{where}: sched.milestones must increase", f"got {list(cfg.sched.milestones)}")
    return cfg


def _check_choice(value: str, choices: tuple[str, ...], where: str) -> None:
    if value not in choices:
        raise GaitCompressError(f"{where}: unknown value {value!r}", did_you_mean(value, choices))
