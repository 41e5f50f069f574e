"""Make a student tap comparable with a teacher tap: part-axis alignment, then a width connector.

Both are training-only: connectors live in the distillation module (saved in the checkpoint's `train_state`,
never in the deployed student), so a distilled student costs exactly what it costs trained alone.

Part alignment: OpenGait-style part tensors are `[N, C, P]`; when P differs (e.g. 16 vs 8 strips) both are
average-pooled over the part axis to the smaller count (`adaptive_avg_pool1d`), which merges neighbouring
strips, i.e. the coarser model's strips. Feature maps `[N', C, H, W]` / `[N, C, T, H, W]` are pooled the
same way to the smaller spatial size.

Connectors map the student's channels (dim 1) to the teacher's:
- `part_linear`: one linear map per part (`[N, Cs, P]` → `[N, Ct, P]`, GaitKD's aligned part-wise design);
- `linear`: one linear map shared by all parts (a 1×1 Conv1d);
- `conv1x1`: a 1×1 convolution for feature maps (2-D or 3-D);
- `auto` (the default): none when widths match, else `part_linear` for part tensors and `conv1x1` for maps;
- `none`: never (widths must match).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.errors import GaitCompressError
from gaitcompress.models.layers import SeparateFCs

CONNECTORS = ("auto", "none", "part_linear", "linear", "conv1x1")


def align_parts(x: Tensor, size: tuple[int, ...]) -> Tensor:
    """Average-pool every axis after the channels down to `size` (a no-op when it already matches)."""
    if tuple(x.shape[2:]) == tuple(size):
        return x
    pool = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[len(size)]
    return pool(x, size)


def common_size(student: Tensor, teacher: Tensor, where: str) -> tuple[int, ...]:
    """The element-wise smaller of the two shapes past the channel axis; leading axes must agree."""
    if student.dim() != teacher.dim() or student.shape[0] != teacher.shape[0] or student.dim() not in (2, 3, 4, 5):
        raise GaitCompressError(
            f"{where}: student tap {tuple(student.shape)} and teacher tap {tuple(teacher.shape)} cannot be aligned",
            "tap tensors of the same kind on both models ([N, C, P] outputs, or feature maps of the same rank)",
        )
    return tuple(min(a, b) for a, b in zip(student.shape[2:], teacher.shape[2:], strict=True))


def build_connector(kind: str, student: Tensor, teacher: Tensor, where: str) -> nn.Module | None:
    """A module mapping aligned student tensors to the teacher's width, or None when none is needed."""
    if kind not in CONNECTORS:
        raise GaitCompressError(f"{where}: unknown connector {kind!r}", "use one of: " + ", ".join(CONNECTORS))
    c_s, c_t = student.shape[1], teacher.shape[1]
    if kind == "none" or (kind == "auto" and c_s == c_t):
        if c_s != c_t:
            raise GaitCompressError(
                f"{where}: widths differ (student {c_s}, teacher {c_t}) and connector is 'none'",
                "set connector: auto (or part_linear / conv1x1) on this term",
            )
        return None
    if kind == "auto":
        kind = "part_linear" if student.dim() == 3 else "conv1x1"
    if kind in ("part_linear", "linear") and student.dim() != 3:
        raise GaitCompressError(
            f"{where}: connector {kind!r} needs [N, C, P] taps, got {tuple(student.shape)}", "use conv1x1"
        )
    if kind == "part_linear":
        return SeparateFCs(student.shape[2], c_s, c_t)
    if kind == "linear" or student.dim() == 3:
        return nn.Conv1d(c_s, c_t, 1, bias=False)
    if student.dim() == 2:
        return nn.Linear(c_s, c_t, bias=False)
    conv = nn.Conv2d if student.dim() == 4 else nn.Conv3d
    return conv(c_s, c_t, 1, bias=False)
