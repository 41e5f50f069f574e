"""The model registry: variant name → builder, `create_model`, `list_models` (timm's `_registry`/`_factory`).

Families register their variants when `gaitcompress.models` (the package, imported before any of its modules)
imports them, so this module never imports the families that import it.

A variant is a one-line function that calls its family's `_create_*` with a dict of settings; a
recipe names the variant (`model.name: gaitbase_w025`) and may override any setting through
`model.kwargs`. `None` kwargs are dropped so the variant's defaults survive recipe overrides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from gaitcompress.models.spec import ModelSpec
from gaitcompress.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a variant function under its own name."""
    return MODELS.register()(fn)


def create_model(name: str, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered model and attach its `spec` (what a checkpoint needs to rebuild it).

    Unknown names and unknown settings raise `GaitCompressError` with the nearest valid ones.
    """
    kwargs = {k: v for k, v in {"num_classes": num_classes, **kwargs}.items() if v is not None}
    model = MODELS.build(name, **kwargs)
    model.spec = ModelSpec(
        family=model.family, name=name, num_classes=model.num_classes, parts=model.parts, kwargs=kwargs
    )
    return model


def list_models(pattern: str = "*") -> list[str]:
    """Registered variant names matching a shell-style wildcard, sorted."""
    return MODELS.names(pattern)
