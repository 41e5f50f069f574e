"""The `distill` stage: a training run whose module is a `DistillModule`.

Everything but the training module is the train stage's plumbing (`gaitcompress.train.stage`: recipe → run folder
with `recipe.yaml`, checkpoints, `final.pt`, logs, `metrics.json`), so a distillation run folder reads exactly like
a training one, and its `final.pt` `'model'` is the bare student (the connectors sit in `'train_state'`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.distill.config import DistillRecipe
from gaitcompress.distill.module import DistillModule
from gaitcompress.errors import GaitCompressError
from gaitcompress.harness import SeedRuns, StageResult
from gaitcompress.models import load_checkpoint
from gaitcompress.progress import NULL, Tracker
from gaitcompress.train.stage import run_seeds, run_train


def load_teachers(cfg: DistillRecipe) -> list[nn.Module]:
    """Every `distill.teachers` entry as a frozen model (eval mode, no grad)."""
    where = f"{cfg.source or 'recipe'}: distill.teachers"
    if not cfg.distill.teachers:
        raise GaitCompressError(
            f"{where}: no teacher", "add `- {checkpoint: runs/<teacher run>}` under distill.teachers"
        )
    teachers = []
    for entry in cfg.distill.teachers:
        try:
            path = ckpt_io.resolve_checkpoint(entry.checkpoint)
        except GaitCompressError as exc:
            raise GaitCompressError(
                f"{where}: {exc.message}",
                "train the teacher first, e.g. gaitcompress train recipes/synthgait/teacher_quick.yaml",
            ) from None
        teachers.append(load_checkpoint(path, name=entry.name).eval().requires_grad_(False))
    return teachers


def build_distill_module(cfg: DistillRecipe, student: nn.Module, task_losses: nn.Module) -> DistillModule:
    """The train stage's module hook: student + its task losses + frozen teachers + the recipe's terms."""
    h, w = cfg.data.input_size
    example = torch.zeros(2, cfg.data.train_frames, h, w)  # [N, T, H, W]: fixes tap shapes and connector widths
    return DistillModule(
        student, load_teachers(cfg), task_losses, cfg.distill.terms, example, total_iterations=cfg.train.iterations
    )


def run_distill(
    recipe: dict[str, Any], tracker: Tracker = NULL, resume: bool = False, command: str | None = None,
    restart: bool = False,
) -> StageResult:  # fmt: skip
    """Distil the recipe's student from its teachers; returns what `run_train` returns."""
    return run_train(
        recipe, tracker, resume, command, recipe_cls=DistillRecipe, make_module=build_distill_module, restart=restart
    )


def run_distill_seeds(
    recipe: dict[str, Any], seeds: Sequence[int], tracker: Tracker = NULL, out: str | Path | None = None,
    resume: bool = False, command: str | None = None,
) -> SeedRuns:  # fmt: skip
    """`run_distill` once per seed, summarised into one results row (as `gaitcompress train --seeds`)."""
    return run_seeds(
        recipe, seeds, tracker, out, recipe_cls=DistillRecipe, make_module=build_distill_module, resume=resume,
        command=command,
    )  # fmt: skip
