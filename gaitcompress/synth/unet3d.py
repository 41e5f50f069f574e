"""A small pixel-space 3D U-Net for silhouette clips (GaitCrafter, arXiv 2508.13300 §3.1).

The network predicts the diffusion noise ε for a noisy clip `x_t [N, 1, T, H, W]` given an embedding
vector `emb [N, E]` (timestep + identity, built by `conditioning.Conditioner`) that every residual
block projects and adds to its features — GaitCrafter's "identity added in the U-Net blocks".

Layout: stem → levels of (residual blocks + attention), spatial stride-2 downsampling between levels
(time is never downsampled: a 16–30 frame gait cycle is short) → middle → mirrored up path with one skip
per level → zero-initialised output conv. Convolutions are factorised "(2+1)D" (a 1×3×3 spatial conv and
a 3×1×1 temporal conv), and attention is factorised too: spatial attention over the H·W tokens of each
frame, temporal attention over the T tokens of each pixel (with a sinusoidal frame-position code).
Spatial attention is quadratic in H·W, so presets enable it only at the low-resolution levels.
Odd sizes (e.g. 32×22 → 16×11 → 8×6) are fine: upsampling goes to the skip's exact size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    channels: int = 32  # width of the first level
    mults: tuple[int, ...] = (1, 2, 4)  # width multiplier per level (the paper uses 1, 2, 4, 8)
    blocks: int = 1  # residual blocks per level (down path; the up path mirrors it)
    spatial_attn_from: int = 2  # spatial attention at levels >= this index (and in the middle)
    temporal_attn: bool = True  # temporal attention at every level
    heads: int = 4
    groups: int = 8  # GroupNorm groups (must divide every width)
    dropout: float = 0.0
    scale_shift: bool = False  # embedding as scale-and-shift of the normalised features (FiLM / AdaGN), not a bias


PRESETS: dict[str, UNetConfig] = {
    # CPU unit tests: a forward pass in milliseconds.
    "tiny": UNetConfig(channels=8, mults=(1, 2), blocks=1, spatial_attn_from=1, heads=2, groups=4),
    # CPU experiments at 16 × 32 × 22.
    "small": UNetConfig(channels=16, mults=(1, 2, 4), blocks=1, spatial_attn_from=2, heads=4, groups=8),
    "base": UNetConfig(channels=32, mults=(1, 2, 4), blocks=1, spatial_attn_from=2, heads=4, groups=8),
    # GPU, the paper's 30 × 64 × 44 clips and 1/2/4/8 channel multipliers.
    "paper": UNetConfig(channels=64, mults=(1, 2, 4, 8), blocks=2, spatial_attn_from=1, heads=8, groups=32),
}


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoidal code: positions [N] (float) → [N, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    args = positions.float()[:, None] * freqs[None]  # [N, half]
    return torch.cat([args.sin(), args.cos()], dim=1)


def _zero(module: nn.Module) -> nn.Module:
    """Zero a layer's parameters so a residual branch starts as the identity."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class TemporalConv(nn.Module):
    """A 3×1×1 convolution over time, run as a 2-D (3×1) conv on [N, C, T, H·W] (oneDNN-fast on CPU)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        return self.conv(x.reshape(n, c, t, h * w)).reshape(n, c, t, h, w)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-(1×3×3 conv) + projected embedding, then GroupNorm-SiLU-(1×3×3, 3×1×1 conv), residual.

    The embedding enters either additively (a per-channel bias after conv1, GaitCrafter's injection) or, with
    `scale_shift`, as FiLM on the second normalisation (ADM's AdaGN): GroupNorm(h)·(1 + s) + b with [s, b]
    projected from the embedding — a multiplicative path that lets the labels gate features instead of only
    offsetting them.
    """

    def __init__(
        self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float, scale_shift: bool = False
    ) -> None:
        super().__init__()
        self.scale_shift = scale_shift
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv3d(c_in, c_out, (1, 3, 3), padding=(0, 1, 1))
        self.emb = nn.Linear(emb_dim, 2 * c_out if scale_shift else c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv3d(c_out, c_out, (1, 3, 3), padding=(0, 1, 1))
        self.conv_t = _zero(TemporalConv(c_out))
        self.skip = nn.Conv3d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        e = self.emb(self.act(emb))[:, :, None, None, None]  # [N, C or 2C] → [N, C or 2C, 1, 1, 1]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.norm2(h) * (1 + scale) + shift
        else:
            h = self.norm2(h + e)
        h = self.conv2(self.drop(self.act(h)))
        h = h + self.conv_t(h)  # temporal mixing as a residual, identity at init
        return self.skip(x) + h


class _FactorisedAttention(nn.Module):
    """Norm + qkv + zero-initialised output projection; subclasses choose the axis attended over."""

    def __init__(self, channels: int, heads: int, groups: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = _zero(nn.Linear(channels, channels))


class SpatialAttention(_FactorisedAttention):
    """Self-attention over the H·W positions of each frame separately."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        tokens = self.norm(x).permute(0, 2, 3, 4, 1).reshape(n * t, h * w, c)  # [N·T, H·W, C]
        return x + _attend(tokens, self.qkv, self.proj, self.heads).reshape(n, t, h, w, c).permute(0, 4, 1, 2, 3)


class TemporalAttention(_FactorisedAttention):
    """Self-attention over the T frames at each pixel; a sinusoidal frame code gives the order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        tokens = self.norm(x).permute(0, 3, 4, 2, 1).reshape(n * h * w, t, c)  # [N·H·W, T, C]
        tokens = tokens + sinusoid(torch.arange(t, device=x.device), c).to(tokens.dtype)[None]
        out = _attend(tokens, self.qkv, self.proj, self.heads)  # [N·H·W, T, C]
        return x + out.reshape(n, h, w, t, c).permute(0, 4, 3, 1, 2)


def _attend(tokens: torch.Tensor, qkv: nn.Linear, proj: nn.Linear, heads: int) -> torch.Tensor:
    """Multi-head self-attention on tokens [B, L, C] → [B, L, C]."""
    b, length, c = tokens.shape
    q, k, v = qkv(tokens).reshape(b, length, 3, heads, c // heads).permute(2, 0, 3, 1, 4)  # 3 × [B, h, L, d]
    out = F.scaled_dot_product_attention(q, k, v)  # [B, h, L, d]
    return proj(out.transpose(1, 2).reshape(b, length, c))


class Level(nn.Module):
    """Residual blocks, each followed by the level's attention layers."""

    def __init__(self, c_in: int, c_out: int, n_blocks: int, emb_dim: int, cfg: UNetConfig, spatial: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleList()
        for i in range(n_blocks):
            self.blocks.append(
                ResBlock(c_in if i == 0 else c_out, c_out, emb_dim, cfg.groups, cfg.dropout, cfg.scale_shift)
            )
            layers: list[nn.Module] = []
            if spatial:
                layers.append(SpatialAttention(c_out, cfg.heads, cfg.groups))
            if cfg.temporal_attn:
                layers.append(TemporalAttention(c_out, cfg.heads, cfg.groups))
            self.attn.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for block, attn in zip(self.blocks, self.attn, strict=True):
            x = attn(block(x, emb))
        return x


class UNet3D(nn.Module):
    """ε-prediction network: (x_t [N, C_in, T, H, W], emb [N, E]) → ε̂ [N, C_in, T, H, W]."""

    def __init__(self, cfg: UNetConfig, emb_dim: int, in_channels: int = 1) -> None:
        super().__init__()
        self.cfg = cfg
        widths = [cfg.channels * m for m in cfg.mults]
        self.stem = nn.Conv3d(in_channels, widths[0], (1, 3, 3), padding=(0, 1, 1))
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c = widths[0]
        for i, w in enumerate(widths):
            self.down.append(Level(c, w, cfg.blocks, emb_dim, cfg, spatial=i >= cfg.spatial_attn_from))
            c = w
            if i < len(widths) - 1:
                self.downsample.append(nn.Conv3d(w, w, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)))
        self.mid = Level(c, c, 2, emb_dim, cfg, spatial=True)
        self.up = nn.ModuleList()
        for i in reversed(range(len(widths))):
            spatial = i >= cfg.spatial_attn_from
            self.up.append(Level(c + widths[i], widths[i], cfg.blocks, emb_dim, cfg, spatial=spatial))
            c = widths[i]
        self.out_norm = nn.GroupNorm(cfg.groups, c)
        self.out = _zero(nn.Conv3d(c, in_channels, (1, 3, 3), padding=(0, 1, 1)))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        skips = []
        for i, level in enumerate(self.down):
            h = level(h, emb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid(h, emb)
        for level in self.up:
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = F.interpolate(h, size=skip.shape[2:], mode="nearest")  # to the skip's exact T × H × W
            h = level(torch.cat([h, skip], dim=1), emb)
        return self.out(F.silu(self.out_norm(h)))
