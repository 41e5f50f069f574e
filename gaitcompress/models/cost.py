"""Parameters and multiply-accumulates of a gait model at a given input, total and per layer.

Counted with `torch.utils.flop_counter.FlopCounterMode` on one sequence `[1, T, H, W]` (MACs = FLOPs/2):
convolutions, and the matrix products of the per-part FC (`SeparateFCs`, N·P·Cin·Cout) and the BNNeck
cosine classifier. Batch norm, pooling, activations and the L2 normalisation are not counted (they
are elementwise and fold away at deployment). `macs_per_frame` is the total divided by T; the
backbone is per frame and the head per sequence, so it slightly overstates a pure per-frame cost.
`layer_macs` is what BitOPs accounting weights by bit widths.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gaitcompress.models.layers import BNNeck, SeparateFCs

COUNTED_LAYERS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, SeparateFCs, BNNeck)


class LayerCost(NamedTuple):
    path: str  # module path, as named_modules() gives it
    type: str  # module class name
    macs: int  # per sequence of T frames
    params: int  # the layer's own parameters


@dataclass(frozen=True)
class ModelCost:
    params: int
    macs: int  # per sequence
    frames: int
    input_size: tuple[int, int]
    layers: tuple[LayerCost, ...]

    @property
    def macs_per_frame(self) -> float:
        return self.macs / self.frames


def _count(model: nn.Module, frames: int, input_size: tuple[int, int]) -> FlopCounterMode:
    # a copy runs the counting pass: lazily initialised state (LSQ steps initialise on their first forward,
    # BN running statistics) must not learn from this all-zero sequence
    probe = copy.deepcopy(model).eval()
    sils = torch.zeros(1, frames, *input_size, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        probe(sils)
    return counter


def layer_macs(model: nn.Module, frames: int = 30, input_size: tuple[int, int] = (64, 44)) -> list[LayerCost]:
    """Per-layer MACs of every Conv1d/2d/3d, Linear, per-part FC and BNNeck classifier, in module order."""
    return list(_layers(model, _count(model, frames, input_size)))


def _layers(model: nn.Module, counter: FlopCounterMode) -> list[LayerCost]:
    counts = counter.get_flop_counts()
    root = type(model).__name__
    rows = []
    for path, module in model.named_modules():
        if isinstance(module, COUNTED_LAYERS):
            flops = sum(counts.get(f"{root}.{path}", {}).values())
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerCost(path, type(module).__name__, int(flops // 2), params))
    return rows


def model_cost(model: nn.Module, frames: int = 30, input_size: tuple[int, int] = (64, 44)) -> ModelCost:
    """Params and MACs of `model` on one sequence of `frames` silhouettes of `input_size` (H, W)."""
    counter = _count(model, frames, input_size)
    return ModelCost(
        params=sum(p.numel() for p in model.parameters()),
        macs=int(counter.get_total_flops() // 2),
        frames=frames,
        input_size=tuple(input_size),
        layers=tuple(_layers(model, counter)),
    )


def layer_table(
    cost: ModelCost, extra_columns: Mapping[str, Callable[[LayerCost], object]] | None = None
) -> tuple[list[str], list[list[object]]]:
    """Header and rows of the per-layer cost table (`gaitcompress info` renders it).

    `extra_columns` maps a header to a function of the layer row, the hook through which BitOPs at a
    given bit width (or any other per-layer figure) join the table without another copy of it.
    """
    extra = dict(extra_columns or {})
    header = ["layer", "type", "params", "MACs", "MACs share", *extra]
    rows = [
        [row.path, row.type, row.params, row.macs, row.macs / max(cost.macs, 1), *(fn(row) for fn in extra.values())]
        for row in cost.layers
    ]
    return header, rows


def format_count(n: float) -> str:
    """1180524544 → '1.18 G' (k/M/G/T, three significant digits)."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.3g}"


def registered_costs(
    pattern: str = "*", frames: int = 30, input_size: tuple[int, int] = (64, 44), num_classes: int = 74
) -> list[tuple[str, ModelCost]]:
    """Cost of every registered variant matching `pattern` (built fresh with `num_classes` classes)."""
    from gaitcompress.models.registry import create_model, list_models

    return [(name, model_cost(create_model(name, num_classes), frames, input_size)) for name in list_models(pattern)]
