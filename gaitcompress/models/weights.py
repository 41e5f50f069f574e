"""Rebuild gait models from gaitcompress or OpenGait checkpoint dicts (the `fp32` kind); save in OpenGait's layout.

Files are opened only by `gaitcompress.checkpoints` (safe load, atomic save); this module turns a loaded dict into a
model and registers that as the `fp32` checkpoint kind. Two layouts are accepted:
- gaitcompress: `{'model': state_dict, 'spec': {family, name, num_classes, parts, kwargs}, ...}` — the
  model is rebuilt from its spec;
- OpenGait: `{'model': state_dict, 'optimizer', 'scheduler', 'iteration'}` (or a bare state dict) — the
  variant comes from `name` (default `gaitbase`), classes and parts from `BNNecks.fc_bin [P, E, K]`.
`module.` prefixes (DataParallel/DDP) and stray teacher weights (keys under `teacher*`) are dropped.
Every mismatch is a `GaitCompressError` naming the key and both shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gaitcompress import checkpoints
from gaitcompress.errors import GaitCompressError
from gaitcompress.models.registry import create_model

CLASSIFIER_KEY = "BNNecks.fc_bin"  # [P, E, K]: parts, embedding width, classes
STEM_KEY = "Backbone.forward_block.conv1.conv.weight"  # [C0, 1, 3, 3]: GaitBase's stem


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint dict with a `model` state dict: gaitcompress and OpenGait files as they are, a bare state dict
    wrapped as `{"model": ...}`."""
    obj = checkpoints.load(path)
    return obj if isinstance(obj.get("model"), Mapping) else {"model": checkpoints.model_state(obj, path)}


def clean_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Strip `module.` prefixes and drop teacher weights a distillation run may have left in."""
    out = {}
    for key, value in state_dict.items():
        while key.startswith("module."):
            key = key[len("module.") :]
        if key.split(".", 1)[0].startswith("teacher"):
            continue
        out[key] = value
    return out


def load_weights(model: nn.Module, state_dict: Mapping[str, Tensor], source: str = "checkpoint") -> nn.Module:
    """Strictly load `state_dict` into `model`, explaining any mismatch by key and shapes."""
    state_dict = clean_state_dict(state_dict)
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    if missing or unexpected:  # another family or depth: say so before any shape detail
        name = getattr(getattr(model, "spec", None), "name", type(model).__name__)
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        raise GaitCompressError(
            f"{source} does not fit model {name!r}: " + "; ".join(parts),
            "pass the variant it was trained as (name=...), e.g. one from `gaitcompress.models.list_models()`",
        )
    for key, value in state_dict.items():
        if tuple(value.shape) != tuple(own[key].shape):
            what, hint = _explain(key, tuple(value.shape), tuple(own[key].shape))
            raise GaitCompressError(
                f"{source}: {what} mismatch at {key!r}: checkpoint {list(value.shape)}, model {list(own[key].shape)}",
                hint,
            )
    model.load_state_dict(state_dict, strict=True)
    return model


def _explain(key: str, ckpt: tuple[int, ...], model: tuple[int, ...]) -> tuple[str, str]:
    """Name what a shape mismatch means (part count, class count, or width) and how to fix it."""
    if key.endswith("fc_bin") and len(ckpt) == 3 and len(model) == 3:
        if ckpt[0] != model[0]:
            return f"part count ({ckpt[0]} vs {model[0]})", "build the model with the checkpoint's parts (parts=...)"
        if key.endswith(CLASSIFIER_KEY) and ckpt[2] != model[2]:
            return f"class count ({ckpt[2]} vs {model[2]})", (
                f"the checkpoint was trained on {ckpt[2]} identities, the data has {model[2]} training ids: use the "
                "data it was trained on (data.root=... / data.synth.train=...), or train a model on this data first"
            )
    return "shape", "the checkpoint was trained with another width/depth: pass its variant name (name=...)"


def _gaitbase_shape(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """Width multiplier and blocks per stage of a GaitBase-layout state dict ({} for OpenGait's own GaitBase).

    Lets an OpenGait-layout student (`save_opengait` of `gaitbase_w025`, say) load without naming its variant.
    """
    stem = state.get(STEM_KEY)  # [C0, 1, 3, 3]
    if stem is None:
        return {}
    blocks: dict[int, set[int]] = {}
    for key in state:
        match = re.fullmatch(r"Backbone\.forward_block\.layer(\d+)\.(\d+)\.conv1\.weight", key)
        if match:
            blocks.setdefault(int(match[1]), set()).add(int(match[2]))
    shape: dict[str, Any] = {}
    if stem.shape[0] != 64:
        shape["width"] = stem.shape[0] / 64
    layers = tuple(len(blocks[i]) for i in sorted(blocks))
    if layers and layers != (1,) * len(layers):
        shape["layers"] = layers
    return shape


@checkpoints.KINDS.register("fp32")
def model_from_checkpoint(
    ckpt: Mapping[str, Any], path: str | Path, name: str | None = None, num_classes: int | None = None
) -> nn.Module:
    """The FP32 model of a loaded checkpoint dict (`path` names it in errors).

    `name` picks the variant for OpenGait checkpoints (default: `gaitbase` with the width and blocks per stage read
    from the weights); for gaitcompress ones it must agree with the stored spec. `num_classes`, when given, must
    agree with the checkpoint.
    """
    state = clean_state_dict(checkpoints.model_state(ckpt, path))
    spec = ckpt.get("spec")
    if isinstance(spec, Mapping):
        if name is not None and name != spec["name"]:
            raise GaitCompressError(
                f"{path} holds a {spec['family']!r} model ({spec['name']!r}), not {name!r}",
                "omit the model name to rebuild it from the checkpoint's own spec",
            )
        kwargs = dict(spec.get("kwargs", {}))
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        model = create_model(spec["name"], **kwargs)
    else:
        kwargs: dict[str, Any] = {"num_classes": num_classes}
        classifier = state.get(CLASSIFIER_KEY)
        if classifier is not None and classifier.dim() == 3:  # [P, E, K]
            parts, embed_dim, classes = classifier.shape
            kwargs.update(parts=int(parts), embed_dim=int(embed_dim), num_classes=num_classes or int(classes))
        if name is None:
            kwargs.update(_gaitbase_shape(state))
        model = create_model(name or "gaitbase", **kwargs)
    return load_weights(model, state, str(path))


def load_checkpoint(
    path: str | Path,
    name: str | None = None,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    key: str | None = None,
) -> nn.Module:
    """The FP32 model of a gaitcompress or OpenGait checkpoint (file or run folder), in eval mode on `device`.

    `gaitcompress.checkpoints.load_model` loads any kind; this one refuses a QAT checkpoint, for callers that need
    a float model (a teacher, the model to quantize). `key` is the recipe key that named `path`, for that error.
    """
    path = checkpoints.resolve_checkpoint(path)
    ckpt = read_checkpoint(path)
    if ckpt.get("kind") == "qat":
        raise _qat_given(path, ckpt, key)
    checkpoints.check_finite(ckpt["model"], path)
    return model_from_checkpoint(ckpt, path, name, num_classes).to(device).eval()


def _qat_given(path: Path, ckpt: Mapping[str, Any], key: str | None) -> GaitCompressError:
    """A QAT checkpoint where an FP32 one belongs: name the FP32 model its recipe started from, and its export."""
    origin = ((ckpt.get("recipe") or {}).get("quant") or {}).get("checkpoint")
    start = f" ({key}={origin})" if origin and key else f" ({origin})" if origin else ""
    return GaitCompressError(
        f"{path} is a QAT checkpoint (kind qat): {key or 'this step'} needs an FP32 one",
        f"point {key or 'it'} at the FP32 model it came from{start}, "
        f"or export this one: gaitcompress export {path} --format int8",
    )


def save_opengait(model: nn.Module, path: str | Path) -> Path:
    """Write `{'model': state_dict}` (OpenGait's layout, loadable by OpenGait for GaitBase) atomically."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    return checkpoints.atomic_save({"model": model.state_dict()}, path)
