"""A DeepGaitV2-like pseudo-3D teacher (Fan et al., "Exploring Deep Models for Practical Gait Recognition").

DeepGaitV2-P3D deepens GaitBase (blocks 1/4/4/1 instead of 1/1/1/1) and lets later stages mix time:
each pseudo-3D block is a per-frame 3×3 conv followed by a temporal 3×1×1 conv added residually, so
the receptive field spans neighbouring frames at a fraction of a full 3×3×3 conv's cost. The head is
GaitBase's (temporal max → 16 strips → per-part FC → BNNeck), so it returns the same output dict and
pairs with any GaitBase student. Written from the paper's description; its keys are our own, not
OpenGait's. All convs are `Conv3d` on `[N, C, T, H, W]` (a 1×3×3 kernel is exactly a per-frame 3×3
conv), so forward hooks inside the backbone see 5-D maps.

Temporal convs zero-pad at the sequence ends. In a padded batch, each temporal conv's input is zeroed
past the row's length, so valid frames see exactly the zero padding they would see alone (in eval mode
a padded row gives the same embeddings as the unpadded sequence). Quarter width (`deepgait_p3d_w025`,
16/32/64/128) is the CPU-sized teacher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gaitcompress.models.base import PartGaitModel
from gaitcompress.models.registry import register_model
from gaitcompress.recipe import from_dict

NormLayer = Callable[[int], nn.Module]
ActLayer = Callable[[], nn.Module]


def _relu() -> nn.Module:
    return nn.ReLU(inplace=False)  # not inplace: hooks keep the pre-activations they are handed


def _spatial(cin: int, cout: int, stride: int = 1) -> nn.Conv3d:
    """Per-frame 3×3 conv as a 1×3×3 `Conv3d`."""
    return nn.Conv3d(cin, cout, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)


# ---------------------------------------------------------------------------------------------- blocks


class P3DBlock(nn.Module):
    """Residual block `[N, C, T, H, W]` → `[N, C', T, H/s, W/s]`.

    out = relu1(bn1(spatial 3×3, stride s))
    out = relu_t(out + bn_t(temporal 3×1×1 (out)))     (only when `temporal`; else a 2-D BasicBlock)
    out = relu(bn2(spatial 3×3 (out)) + shortcut(x))   (a forward-pre-hook on `relu` reads the pre-activation)
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        temporal: bool = True,
        norm_layer: NormLayer = nn.BatchNorm3d,
        act_layer: ActLayer = _relu,
    ) -> None:
        super().__init__()
        self.conv1 = _spatial(in_channels, channels, stride)
        self.bn1 = norm_layer(channels)
        self.relu1 = act_layer()
        self.temporal = None
        if temporal:
            self.temporal = nn.Conv3d(channels, channels, (3, 1, 1), 1, (1, 0, 0), bias=False)
            self.bn_t = norm_layer(channels)
            self.relu_t = act_layer()
        self.conv2 = _spatial(channels, channels)
        self.bn2 = norm_layer(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, channels, 1, (1, stride, stride), bias=False), norm_layer(channels)
            )
        self.relu = act_layer()

    def forward(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        """`valid [N, 1, T, 1, 1]` (1 for real frames, 0 for padding) or None when all frames are real."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        if self.temporal is not None:
            mixed = self.temporal(out if valid is None else out * valid)  # padding enters as the zeros it replaces
            out = self.relu_t(out + self.bn_t(mixed))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class P3DBackbone(nn.Module):
    """`[N, T, 1, H, W]` → `[N, T, C4, H/4, W/4]`: 3×3 stem, then stages of P3D blocks (strides 1/2/2/1)."""

    def __init__(
        self,
        channels: tuple[int, ...],
        layers: tuple[int, ...],
        strides: tuple[int, ...],
        temporal: tuple[bool, ...],
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = _spatial(in_channels, channels[0])
        self.bn1 = nn.BatchNorm3d(channels[0])
        self.relu = _relu()
        prev = channels[0]
        for i, (c, n, s, t) in enumerate(zip(channels, layers, strides, temporal, strict=True), start=1):
            blocks = [P3DBlock(prev if j == 0 else c, c, s if j == 0 else 1, t) for j in range(n)]
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
            prev = c
        self.num_stages = len(channels)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        x = x.transpose(1, 2)  # [N, T, C, H, W] → [N, C, T, H, W]
        valid = None
        if lengths is not None:
            frames = torch.arange(x.shape[2], device=x.device)
            valid = (frames[None, :] < lengths.to(x.device)[:, None]).to(x.dtype)  # [N, T]
            valid = valid[:, None, :, None, None]  # [N, 1, T, 1, 1]
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(1, self.num_stages + 1):
            for block in getattr(self, f"layer{i}"):
                x = block(x, valid)
        return x.transpose(1, 2)  # [N, T, C4, h, w]


# ----------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class DeepGaitP3DConfig:
    channels: tuple[int, ...] = (64, 128, 256, 512)  # per-stage widths before the width multiplier
    layers: tuple[int, ...] = (1, 4, 4, 1)  # blocks per stage (DeepGaitV2's) before the depth multiplier
    strides: tuple[int, ...] = (1, 2, 2, 1)
    temporal: tuple[bool, ...] = (False, True, True, True)  # stage 1 stays 2-D, as in DeepGaitV2
    width: float = 1.0
    depth: float = 1.0
    embed_dim: int | None = None  # per-part FC output E; None → 256·width
    parts: int = 16
    in_channels: int = 1


class DeepGaitP3D(PartGaitModel):
    """DeepGaitV2-like P3D backbone with GaitBase's part head."""

    family = "deepgait_p3d"

    def __init__(self, cfg: DeepGaitP3DConfig, num_classes: int) -> None:
        channels = tuple(max(1, round(c * cfg.width)) for c in cfg.channels)
        layers = tuple(max(1, round(n * cfg.depth)) for n in cfg.layers)
        embed_dim = cfg.embed_dim or max(1, round(256 * cfg.width))
        backbone = P3DBackbone(channels, layers, cfg.strides, cfg.temporal, cfg.in_channels)
        super().__init__(backbone, channels[-1], embed_dim, cfg.parts, num_classes)
        self.cfg = cfg

    def forward_features(self, sils: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.Backbone(sils.unsqueeze(2), lengths)  # [N, T, 1, H, W] → [N, T, C, h, w]

    def tap_points(self) -> dict[str, str]:
        taps = {"stem": "Backbone.relu"}
        for i in range(1, self.Backbone.num_stages + 1):
            taps[f"layer{i}"] = f"Backbone.layer{i}.{len(getattr(self.Backbone, f'layer{i}')) - 1}.relu"
        return taps


def _create_deepgait_p3d(name: str, num_classes: int, **kwargs) -> DeepGaitP3D:
    return DeepGaitP3D(from_dict(DeepGaitP3DConfig, kwargs, f"model {name!r}"), num_classes)


# -------------------------------------------------------------------------------------------- variants


@register_model
def deepgait_p3d(num_classes: int = 74, **kwargs) -> DeepGaitP3D:
    """Full width 64/128/256/512, blocks 1/4/4/1, E = 256: a GPU teacher."""
    return _create_deepgait_p3d("deepgait_p3d", num_classes, **kwargs)


@register_model
def deepgait_p3d_w05(num_classes: int = 74, **kwargs) -> DeepGaitP3D:
    """Half width 32/64/128/256, E = 128."""
    return _create_deepgait_p3d("deepgait_p3d_w05", num_classes, **{"width": 0.5, **kwargs})


@register_model
def deepgait_p3d_w025(num_classes: int = 74, **kwargs) -> DeepGaitP3D:
    """Quarter width 16/32/64/128, E = 64: the CPU-sized P3D teacher."""
    return _create_deepgait_p3d("deepgait_p3d_w025", num_classes, **{"width": 0.25, **kwargs})
