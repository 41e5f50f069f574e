"""One distillation term: (loss, student tap, teacher tap, weight, optional connector), routed and weighted.

A recipe writes one line per term:

    - {loss: part_logit_kd, student: logits, weight: 1.0}
    - {loss: ab, student: embeddings, weight: 0.003, connector: part_linear, args: {margin: 1.0}}
    - {loss: feat_mse, student: backbone.layer3, teacher: backbone.layer4, weight: 1.0}

A tap is a key of the model's output dict (`embeddings`, `logits`, `parts`) or a module path read through
`FeatureTaps`. `teacher` defaults to the student's tap. Routing per step: student tensor → part alignment →
connector → loss(student, teacher, labels) × weight. Losses that compare each model with itself first (IDD,
RKD: `same_shape = False` on the loss class) get the raw taps: they need neither alignment nor a connector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from gaitcompress.distill.connectors import align_parts, build_connector, common_size
from gaitcompress.distill.losses import DISTILL_LOSSES
from gaitcompress.errors import GaitCompressError


@dataclass(frozen=True)
class TermConfig:
    loss: str  # a DISTILL_LOSSES name
    weight: float = 1.0
    student: str = "embeddings"  # output-dict key or module path on the student
    teacher: str | None = None  # on the teacher; default: the same as `student`
    connector: str = "auto"  # auto | none | part_linear | linear | conv1x1
    args: dict[str, Any] = field(default_factory=dict)  # the loss's constructor arguments
    name: str | None = None  # log name; default: the loss name (set it when one loss appears twice)

    @property
    def teacher_tap(self) -> str:
        return self.teacher or self.student

    @property
    def label(self) -> str:
        return self.name or self.loss


class DistillTerm(nn.Module):
    """`weight · loss(connector(align(s)), align(t), labels)` for one (term, teacher) pair.

    Built from one example pair of tap tensors so that the alignment size and the connector's widths are
    fixed at setup (and the optimizer sees the connector's parameters from the first step).
    """

    def __init__(self, cfg: TermConfig, student_example: Tensor, teacher_example: Tensor, where: str) -> None:
        super().__init__()
        self.cfg = cfg
        self.loss = DISTILL_LOSSES.build(cfg.loss, **cfg.args)
        self.same_shape = getattr(self.loss, "same_shape", True)
        self.size: tuple[int, ...] = ()
        self.connector: nn.Module | None = None
        if self.same_shape:
            self.size = common_size(student_example, teacher_example, where)
            s = align_parts(student_example, self.size)
            t = align_parts(teacher_example, self.size)
            if cfg.student == "logits" or cfg.teacher_tap == "logits":
                if s.shape[1] != t.shape[1]:
                    raise GaitCompressError(
                        f"{where}: student has {s.shape[1]} classes, teacher {t.shape[1]}",
                        "logit distillation needs both models trained on the same training ids",
                    )
            else:
                self.connector = build_connector(cfg.connector, s, t, where)

    def forward(self, student: Tensor, teacher: Tensor, labels: Tensor) -> Tensor:
        if self.same_shape:
            student, teacher = align_parts(student, self.size), align_parts(teacher, self.size)
            if self.connector is not None:
                student = self.connector(student)
        return self.cfg.weight * self.loss(student, teacher.detach(), labels)

    def formula(self) -> str:
        via = f" via {type(self.connector).__name__}" if self.connector is not None else ""
        tap = self.cfg.student if self.cfg.teacher_tap == self.cfg.student else f"{self.cfg.student}→{self.cfg.teacher}"
        return f"{self.cfg.weight:g}·{self.cfg.loss}({tap}{via})"
