"""One inference forward with temporary forward hooks: how cost counters and parity probes look inside a model."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

Hook = Callable[[nn.Module, tuple[Any, ...], Any], None]


def forward_with_hooks(model: nn.Module, hooks: Iterable[tuple[nn.Module, Hook]], *inputs: torch.Tensor) -> Any:
    """Run `model.eval()(*inputs)` without grad, with each `(module, hook)` attached as a forward hook.

    The hooks are removed afterwards even when the forward raises, so a failed probe never leaves a model that
    keeps calling back into dead code (unlike `distill.taps.FeatureTaps`, which stay for a whole training run).
    """
    handles = [module.register_forward_hook(hook) for module, hook in hooks]
    try:
        with torch.no_grad():
            return model.eval()(*inputs)
    finally:
        for handle in handles:
            handle.remove()
