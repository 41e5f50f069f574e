"""The recipe's `distill:` section, validated into frozen dataclasses.

    distill:
      teachers:
        - {checkpoint: runs/teacher_quick/model.pt}            # a gaitcompress checkpoint (rebuilt from its spec)
        - {checkpoint: GaitBase-60000.pt, name: gaitbase}      # an OpenGait checkpoint needs its variant name
      terms:
        - {loss: part_logit_kd, student: logits, weight: 1.0}
        - {loss: ab, student: embeddings, weight: 0.003, connector: part_linear}

Everything else in a distillation recipe is a training recipe (model = the student, loss = its own task
losses, data, optim, sched, train, eval), so `DistillRecipe` extends `TrainRecipe` with this one section.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gaitcompress.distill.terms import TermConfig
from gaitcompress.train.config import TrainRecipe


@dataclass(frozen=True)
class TeacherConfig:
    checkpoint: str  # gaitcompress or OpenGait checkpoint file (or a run folder holding one)
    name: str | None = None  # model variant, needed only when the checkpoint carries no spec (OpenGait)


@dataclass(frozen=True)
class DistillConfig:
    teachers: tuple[TeacherConfig, ...] = ()
    terms: tuple[TermConfig, ...] = ()


@dataclass(frozen=True)
class DistillRecipe(TrainRecipe):
    name: str = "distill"
    method: str = "gaitkd"
    run_dir: str = "runs/distill"
    distill: DistillConfig = field(default_factory=DistillConfig)
