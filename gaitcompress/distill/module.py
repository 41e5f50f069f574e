"""`DistillModule`: the engine's `TrainModule` for distillation (mdistiller's contract, torchdistill's routing).

    L = task_losses(student) + Σ_teachers Σ_terms weight · loss(connector(student tap), teacher tap)

- Teachers run in eval mode under `no_grad`, and are held in a plain list, outside the registered children, so
  they are neither trained nor saved, and `module.train()` never flips them back to training mode.
- Learnable parameters = the student + the connectors (+ anything the task losses own); the checkpoint's
  `'model'` is `deploy_model()` = the bare student, so connectors never reach the deployed model.
- Taps and connector widths are fixed at construction from one dry forward of an example input.
- Losses with a schedule (`set_progress`) see `progress = step / total_iterations`; `step` is a buffer, so a
  resumed run continues the schedule where it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from gaitcompress.distill.taps import FeatureTaps
from gaitcompress.distill.terms import DistillTerm, TermConfig
from gaitcompress.errors import GaitCompressError


class DistillModule(nn.Module):
    def __init__(
        self,
        student: nn.Module,
        teachers: Sequence[nn.Module],
        task_losses: nn.Module,
        terms: Sequence[TermConfig],
        example: Tensor,
        total_iterations: int = 1,
    ) -> None:
        """`example`: silhouettes `[N, T, H, W]` of the training shape, used once to resolve taps and widths."""
        super().__init__()
        if not teachers:
            raise GaitCompressError("distillation needs at least one teacher", "list one under distill.teachers")
        if not terms:
            raise GaitCompressError("distillation needs at least one term", "list loss terms under distill.terms")
        labels = [t.label for t in terms]
        if len(set(labels)) != len(labels):
            raise GaitCompressError(
                f"distill.terms: duplicate term names {labels}", "give repeated losses a distinct `name:`"
            )
        self.student = student
        self.task_losses = task_losses
        self._teachers = [t.eval().requires_grad_(False) for t in teachers]  # a list: not registered children
        self.total_iterations = max(int(total_iterations), 1)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.student_taps = FeatureTaps(student, _module_paths(t.student for t in terms), "student")
        self.teacher_taps = [
            FeatureTaps(teacher, _module_paths(t.teacher_tap for t in terms), f"teacher {i}")
            for i, teacher in enumerate(self._teachers)
        ]
        s_feats, t_feats = self._dry_run(example)
        self.terms = nn.ModuleList()
        self.names: list[str] = []
        for i, feats in enumerate(t_feats):
            for cfg in terms:
                where = f"distill.terms[{cfg.label}]" + (f" teacher {i}" if len(t_feats) > 1 else "")
                s = _pick(s_feats, cfg.student, "student", where)
                t = _pick(feats, cfg.teacher_tap, f"teacher {i}", where)
                self.terms.append(DistillTerm(cfg, s, t, where))
                self.names.append(cfg.label if len(t_feats) == 1 else f"{cfg.label}@t{i}")

    @property
    def teachers(self) -> list[nn.Module]:
        return list(self._teachers)

    def _forward_all(self, sils: Tensor, lengths: Tensor | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with self.student_taps as s_maps:
            s_feats = {**self.student(sils, lengths=lengths), **s_maps}
        t_feats = []
        with torch.no_grad():
            for teacher, taps in zip(self._teachers, self.teacher_taps, strict=True):
                with taps as t_maps:
                    t_feats.append({**teacher(sils, lengths=lengths), **t_maps})
        return s_feats, t_feats

    @torch.no_grad()
    def _dry_run(self, example: Tensor) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        was_training = self.student.training
        self.student.eval()  # no BatchNorm statistics are updated by the dry run
        try:
            return self._forward_all(example, None)
        finally:
            self.student.train(was_training)

    def _move_teachers(self, device: torch.device) -> None:
        for teacher in self._teachers:
            param = next(teacher.parameters(), None)
            if param is not None and param.device != device:
                teacher.to(device)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        """Task losses of the student plus every (teacher, term) pair, each already weighted."""
        self._move_teachers(batch.sils.device)
        if self.training:
            progress = float(self.step) / self.total_iterations
            for module in self.modules():
                if hasattr(module, "set_progress"):
                    module.set_progress(progress)
            self.step += 1
        s_feats, t_feats = self._forward_all(batch.sils, batch.lengths)
        losses = dict(self.task_losses(s_feats, batch.labels))
        per_teacher = len(self.terms) // len(t_feats)
        for k, (name, term) in enumerate(zip(self.names, self.terms, strict=True)):
            cfg = term.cfg
            if name in losses:
                raise GaitCompressError(f"distillation term {name!r} clashes with a task loss", "set its `name:`")
            losses[name] = term(s_feats[cfg.student], t_feats[k // per_teacher][cfg.teacher_tap], batch.labels)
        return losses

    def deploy_model(self) -> nn.Module:
        return self.student

    def formula(self) -> str:
        per_teacher = len(self.terms) // len(self._teachers)
        sums = [
            " + ".join(term.formula() for term in self.terms[i * per_teacher : (i + 1) * per_teacher])
            for i in range(len(self._teachers))
        ]
        distill = sums[0] if len(sums) == 1 else " + ".join(f"[{s}]@t{i}" for i, s in enumerate(sums))
        return f"L = task(student) + {distill}"

    def extra_repr(self) -> str:
        return f"{self.formula()}\nteachers={len(self._teachers)} (eval, no grad, not saved)"


_OUTPUT_KEYS = ("embeddings", "logits", "parts")


def _module_paths(taps: Any) -> list[str]:
    """Taps that are not output-dict keys are module paths (resolved by FeatureTaps)."""
    return [tap for tap in dict.fromkeys(taps) if tap not in _OUTPUT_KEYS]


def _pick(feats: dict[str, Any], tap: str, owner: str, where: str) -> Tensor:
    value = feats.get(tap)
    if not isinstance(value, Tensor):
        raise GaitCompressError(
            f"{where}: the {owner} produced no tensor at tap {tap!r}",
            "output keys: " + ", ".join(k for k, v in feats.items() if isinstance(v, Tensor)),
        )
    return value
