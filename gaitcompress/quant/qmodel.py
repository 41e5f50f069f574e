"""The `qat` checkpoint kind: save a fake-quantized model with its `QConfig`, rebuild it with the same steps.

A QAT checkpoint is the architecture.md checkpoint dict with `kind: 'qat'` and `qconfig` (the `QConfig` as a
dict); `'model'` is the quantized model's state dict = the float keys + the quantizer state (`*.step`,
`*.initialized`, `*.soft_k`, PACT `*.alpha`). Files are written and read only by `gaitcompress.checkpoints`;
`gaitcompress.models.load_checkpoint` refuses this kind on purpose (it needs the quantizers added here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gaitcompress import checkpoints
from gaitcompress.errors import GaitCompressError
from gaitcompress.models import create_model
from gaitcompress.quant.prepare import QConfig, quantize_model
from gaitcompress.recipe import from_dict, to_dict


def save_quantized(
    model: nn.Module,
    qcfg: QConfig,
    path: str | Path,
    recipe: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
) -> Path:
    """Write `{'model', 'spec', 'qconfig', 'kind': 'qat', 'recipe', 'metrics'}` atomically."""
    spec = getattr(model, "spec", None)
    if spec is None:
        raise GaitCompressError("the quantized model has no spec", "quantize a model built by create_model")
    state = {
        "model": model.state_dict(),
        "spec": to_dict(spec),
        "qconfig": to_dict(qcfg),
        "kind": "qat",
        "recipe": dict(recipe or {}),
        "metrics": dict(metrics or {}),
    }
    return checkpoints.atomic_save(state, path)


@checkpoints.KINDS.register("qat")
def model_from_qat(
    ckpt: Mapping[str, Any], path: str | Path, name: str | None = None, num_classes: int | None = None
) -> nn.Module:
    """The fake-quantized model of a loaded QAT checkpoint dict; the state dict loads strictly, so steps,
    initialised flags and k come back exactly as saved (`name`/`num_classes` are the spec's; kept for the kind API)."""
    if "qconfig" not in ckpt:
        raise GaitCompressError(f"{path}: a 'qat' checkpoint without its qconfig", "re-run `gaitcompress quantize`")
    spec = ckpt["spec"]
    model = create_model(spec["name"], **dict(spec.get("kwargs", {})))
    qmodel = quantize_model(model, from_dict(QConfig, ckpt["qconfig"], f"{path}: qconfig"))
    try:
        qmodel.load_state_dict(_renamed(ckpt["model"], qmodel.state_dict()))
    except RuntimeError as exc:
        raise GaitCompressError(f"{path}: weights do not fit the quantized {spec['name']} ({exc})") from exc
    return qmodel


_BEFORE_ADD = re.compile(r"^(.*)\.(residual_quant|main_quant)\.(.*)$")  # keys before the Add was a module
_MOVED = {"residual_quant": "downsample.2", "main_quant": "add.main_quant"}


def _renamed(state: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """QAT checkpoints written before the residual add became a module hold `block.residual_quant.*` and
    `block.main_quant.*`, now `block.downsample.2.*` and `block.add.main_quant.*` (same tensors)."""
    out = {}
    for key, value in state.items():
        match = _BEFORE_ADD.match(key)
        moved = f"{match[1]}.{_MOVED[match[2]]}.{match[3]}" if match else key
        out[moved if key not in own and moved in own else key] = value
    return out


def load_quantized(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the fake-quantized model of a QAT checkpoint (file or run folder); eval mode, on `device`."""
    path = checkpoints.resolve_checkpoint(path)
    kind = checkpoints.load(path).get("kind")
    if kind != "qat":
        raise GaitCompressError(
            f"{path} is not a QAT checkpoint (kind={kind!r})",
            "load FP32 checkpoints with gaitcompress.models.load_checkpoint; QAT ones come from `quantize`",
        )
    return checkpoints.load_model(path, device=device)
