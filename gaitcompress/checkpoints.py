"""Load any gaitcompress model file — FP32 (gaitcompress or OpenGait) or QAT — by its `kind`.

Models and quantization each own a loader (`models.load_checkpoint`, `quant.load_quantized`); stages that
accept "a model" (export, bench, rerank, pipeline) call this one function so a user can pass either.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gaitcompress.train.checkpoint import load, resolve_checkpoint


def load_model(path: str | Path, name: str | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """The model in `path` (a .pt file or a run folder), in eval mode: quantized when `kind == 'qat'`.

    `name` picks the variant for OpenGait checkpoints, which carry no spec.
    """
    path = resolve_checkpoint(path)
    if load(path).get("kind") == "qat":
        from gaitcompress.quant.checkpoint import load_quantized

        return load_quantized(path, device=device)
    from gaitcompress.models import load_checkpoint

    return load_checkpoint(path, name=name, device=device)
