"""`ModelSpec`: what a checkpoint stores to rebuild its model (`create_model(spec.name, **spec.kwargs)`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    family: str  # model family, e.g. "gaitbase", "deepgait_p3d"
    name: str  # registered variant name, e.g. "gaitbase_w025"
    num_classes: int  # K, the classifier width (training ids)
    parts: int  # P, horizontal strips
    kwargs: dict[str, Any] = field(default_factory=dict)  # create_model kwargs, num_classes included
