"""Tensor-level distillation losses, one small module per method, registered by name in `DISTILL_LOSSES`.

Every loss is an `nn.Module` called as `loss(student, teacher, labels)` → scalar tensor, where `student` and
`teacher` are already aligned tensors of the same shape (routing in `gaitcompress.distill.terms` does taps,
part-axis alignment and width connectors), and `labels [N]` are the batch's class indices (used by `dkd`, `idd`).
Recipes name losses (`loss: ab`), never import paths; their keyword arguments are the loss constructor's.

Losses whose behaviour changes over training (`face_instance`'s hard-mining schedule) read `self.progress`
∈ [0, 1], which `DistillModule` sets before every step through `set_progress`.
"""

from __future__ import annotations

from torch import nn

from gaitcompress.registry import Registry

DISTILL_LOSSES: Registry[nn.Module] = Registry("distillation loss")

# Importing the modules registers them.
from gaitcompress.distill.losses import (  # noqa: E402, F401
    ab,
    dkd,
    face_instance,
    face_relation,
    feat_mse,
    idd,
    kd_vanilla,
    part_logit_kd,
    rkd,
)

__all__ = ["DISTILL_LOSSES"]
