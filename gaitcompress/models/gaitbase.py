"""GaitBase (Fan et al., "OpenGait: Revisiting Gait Recognition Toward Better Practicality", CVPR 2023).

Mirrors OpenGait's `Baseline` with its GaitBase config: a per-frame ResNet-9 (BasicBlock, one block
per stage, channels 64/128/256/512, strides 1/2/2/1, 3×3 bias-free stem, no max-pool) → temporal max
→ 16 horizontal strips (mean + max) → per-part FC 512→256 → BNNeck with cosine classifiers. Module
names follow OpenGait's checkpoint keys (`Backbone.forward_block.layer1.0.conv1.weight`, `FCs.fc_bin`,
`BNNecks.bn1d.*`), so an OpenGait state dict loads as it is. Students shrink it with a width multiplier
(every channel count, and by default the embedding) and a depth multiplier (blocks per stage).

Cost at 64×44: ≈1.18 GMACs per frame for the full model, almost all in the backbone.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from gaitcompress.models.base import PartGaitModel
from gaitcompress.models.layers import Add, SetBlock
from gaitcompress.models.registry import register_model
from gaitcompress.recipe import from_dict

NormLayer = Callable[[int], nn.Module]
ActLayer = Callable[[], nn.Module]


def _relu() -> nn.Module:
    # not inplace: a forward-pre-hook must be able to keep the pre-activation it was handed
    return nn.ReLU(inplace=False)


# ---------------------------------------------------------------------------------------------- blocks


class BasicBlock(nn.Module):
    """ResNet basic block: conv3×3-BN-ReLU-conv3×3-BN (+ shortcut) → ReLU.

    Two activation modules, so hooks can tell them apart: `relu1` inside the block and `relu` on the
    block output (a forward-pre-hook on `relu` reads the block's pre-activation, what AB distillation uses).
    The residual add is a module (`add`, no parameters) that quantization swaps for its quantized twin, so this
    forward is the only one: a quantized block runs it too.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        norm_layer: NormLayer = nn.BatchNorm2d,
        act_layer: ActLayer = _relu,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = norm_layer(channels)
        self.relu1 = act_layer()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = norm_layer(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), norm_layer(channels)
            )
        self.add = Add()
        self.relu = act_layer()

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(self.add(out, shortcut))


class ResNet9(nn.Module):
    """Per-frame backbone `[B, 1, H, W]` → `[B, C4, H/4, W/4]` (strides 1/2/2/1; OpenGait's `ResNet9`)."""

    def __init__(
        self,
        channels: tuple[int, ...],
        layers: tuple[int, ...],
        strides: tuple[int, ...],
        in_channels: int = 1,
        norm_layer: NormLayer = nn.BatchNorm2d,
        act_layer: ActLayer = _relu,
    ) -> None:
        super().__init__()
        # OpenGait's BasicConv2d wraps the stem conv as `.conv` (key `conv1.conv.weight`)
        self.conv1 = nn.Sequential(OrderedDict(conv=nn.Conv2d(in_channels, channels[0], 3, 1, 1, bias=False)))
        self.bn1 = norm_layer(channels[0])
        self.relu = act_layer()
        prev = channels[0]
        for i, (c, n, s) in enumerate(zip(channels, layers, strides, strict=True), start=1):
            blocks = [BasicBlock(prev if j == 0 else c, c, s if j == 0 else 1, norm_layer, act_layer) for j in range(n)]
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
            prev = c
        self.num_stages = len(channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return x


# ----------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class GaitBaseConfig:
    channels: tuple[int, ...] = (64, 128, 256, 512)  # per-stage widths before the width multiplier
    layers: tuple[int, ...] = (1, 1, 1, 1)  # blocks per stage before the depth multiplier
    strides: tuple[int, ...] = (1, 2, 2, 1)
    width: float = 1.0  # multiplies every channel count (0.25 → 16/32/64/128)
    depth: float = 1.0  # multiplies blocks per stage (rounded, at least 1)
    embed_dim: int | None = None  # per-part FC output E; None → 256·width
    parts: int = 16  # horizontal strips P
    in_channels: int = 1


class GaitBase(PartGaitModel):
    """OpenGait's `Baseline` (GaitBase): ResNet-9 per frame → TP → HPP → SeparateFCs → BNNeck."""

    family = "gaitbase"

    def __init__(self, cfg: GaitBaseConfig, num_classes: int) -> None:
        channels = tuple(max(1, round(c * cfg.width)) for c in cfg.channels)
        layers = tuple(max(1, round(n * cfg.depth)) for n in cfg.layers)
        embed_dim = cfg.embed_dim or max(1, round(256 * cfg.width))
        backbone = SetBlock(ResNet9(channels, layers, cfg.strides, cfg.in_channels))
        super().__init__(backbone, channels[-1], embed_dim, cfg.parts, num_classes)
        self.cfg = cfg

    def tap_points(self) -> dict[str, str]:
        net = self.Backbone.forward_block
        taps = {"stem": "Backbone.forward_block.relu"}
        for i in range(1, net.num_stages + 1):
            last = len(getattr(net, f"layer{i}")) - 1
            taps[f"layer{i}"] = f"Backbone.forward_block.layer{i}.{last}.relu"
        return taps


def _create_gaitbase(name: str, num_classes: int, **kwargs) -> GaitBase:
    return GaitBase(from_dict(GaitBaseConfig, kwargs, f"model {name!r}"), num_classes)


# -------------------------------------------------------------------------------------------- variants


@register_model
def gaitbase(num_classes: int = 74, **kwargs) -> GaitBase:
    """GaitBase as OpenGait ships it (64/128/256/512, E = 256, P = 16)."""
    return _create_gaitbase("gaitbase", num_classes, **kwargs)


@register_model
def gaitbase_w05(num_classes: int = 74, **kwargs) -> GaitBase:
    """Half width: 32/64/128/256, E = 128."""
    return _create_gaitbase("gaitbase_w05", num_classes, **{"width": 0.5, **kwargs})


@register_model
def gaitbase_w025(num_classes: int = 74, **kwargs) -> GaitBase:
    """Quarter width: 16/32/64/128, E = 64 (the CPU teacher of the quick recipes)."""
    return _create_gaitbase("gaitbase_w025", num_classes, **{"width": 0.25, **kwargs})


@register_model
def gaitbase_w0125(num_classes: int = 74, **kwargs) -> GaitBase:
    """Eighth width: 8/16/32/64, E = 32 (the CPU student)."""
    return _create_gaitbase("gaitbase_w0125", num_classes, **{"width": 0.125, **kwargs})


@register_model
def gaitbase_d2(num_classes: int = 74, **kwargs) -> GaitBase:
    """Two blocks per stage (a ResNet-17-like backbone), full width."""
    return _create_gaitbase("gaitbase_d2", num_classes, **{"depth": 2.0, **kwargs})


@register_model
def gaitbase_w025_d2(num_classes: int = 74, **kwargs) -> GaitBase:
    """Quarter width, two blocks per stage: a deeper CPU-sized teacher."""
    return _create_gaitbase("gaitbase_w025_d2", num_classes, **{"width": 0.25, "depth": 2.0, **kwargs})
