"""Optimizer and learning-rate schedule from the recipe's `optim:` and `sched:` sections.

Schedules are per iteration (OpenGait counts iterations, not epochs): `multistep` multiplies lr by `gamma` at each
milestone, `cosine` anneals from lr to `min_lr_ratio·lr` over the run; both may start with a linear warm-up.
"""

from __future__ import annotations

import bisect
import math

import torch
from torch import nn

from gaitcompress.train.config import OptimConfig, SchedConfig


def no_weight_decay_names(module: nn.Module) -> set[str]:
    """Full names of the parameters that any sub-module lists in its `no_weight_decay()` (e.g. LSQ steps)."""
    names: set[str] = set()
    params = dict(module.named_parameters())
    for prefix, sub in module.named_modules():
        fn = getattr(sub, "no_weight_decay", None)
        if not callable(fn):
            continue
        for name in fn():
            full = f"{prefix}.{name}" if prefix else name
            if full not in params:
                raise ValueError(f"{type(sub).__name__}.no_weight_decay() names {name!r}, which is not a parameter")
            names.add(full)
    return names


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters in two groups: with weight decay, and without (those named by `no_weight_decay`)."""
    skip = no_weight_decay_names(module)
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if p.requires_grad:
            (no_decay if name in skip else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(module: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(module, cfg.weight_decay)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


class LrFactor:
    """lr multiplier at an iteration; holds only plain numbers so the scheduler state loads with weights_only."""

    def __init__(self, cfg: SchedConfig, iterations: int) -> None:
        self.name = cfg.name
        self.milestones = list(cfg.milestones)
        self.gamma = cfg.gamma
        self.warmup = cfg.warmup
        self.warmup_factor = cfg.warmup_factor
        self.min_lr_ratio = cfg.min_lr_ratio
        self.iterations = iterations

    def __call__(self, it: int) -> float:
        warm = 1.0
        if it < self.warmup:
            warm = self.warmup_factor + (1.0 - self.warmup_factor) * it / self.warmup
        if self.name == "multistep":
            return warm * self.gamma ** bisect.bisect_right(self.milestones, it)
        span = max(1, self.iterations - self.warmup)
        progress = min(1.0, max(0, it - self.warmup) / span)
        cos = 0.5 * (1.0 + math.cos(math.pi * progress))
        return warm * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cos)


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: SchedConfig, iterations: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LrFactor(cfg, iterations))


def set_horizon(scheduler: torch.optim.lr_scheduler.LambdaLR, cfg: SchedConfig, iterations: int) -> None:
    """Give a loaded schedule the horizon `iterations` (the recipe's), whatever the checkpoint it came from planned.

    `LambdaLR.load_state_dict` restores the saved `LrFactor`'s fields, its iteration count among them, so a run
    resumed with more iterations would keep the old horizon (a cosine would sit at its floor from the old end on).
    The factor is rebuilt from the recipe and the current learning rate recomputed, so the run continues on the
    curve it would have followed had it been planned for `iterations` from the start; with the same iterations
    nothing changes.
    """
    factor = LrFactor(cfg, iterations)
    scheduler.lr_lambdas = [factor] * len(scheduler.optimizer.param_groups)
    lrs = [base * factor(scheduler.last_epoch) for base in scheduler.base_lrs]
    for group, lr in zip(scheduler.optimizer.param_groups, lrs, strict=True):
        group["lr"] = lr
    scheduler._last_lr = lrs  # what get_last_lr() reports
