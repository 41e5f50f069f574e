"""Silhouette transforms: OpenGait's cut and scaling, resizing to the recipe's input size, seeded augmentations.

All augmentations draw their parameters once per sequence from the caller's `numpy.random.Generator` and
apply them to every frame alike, so a clip stays a consistent walk (OpenGait's sequence-level transforms).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from gaitcompress.data.config import AugmentConfig


def cut_and_scale(frames: np.ndarray) -> torch.Tensor:
    """uint8 `[T, S, S]` → float32 `[T, S, S·44/64]` in [0, 1].

    OpenGait's pretreatment centres the body in a square frame; its loader drops 10 of 64 columns on each
    side (scaled for other sizes). Frames that are not square are taken as already cut.
    """
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0)  # [T, H, W]
    h, w = x.shape[-2:]
    if h == w:
        side = round(w * 10 / 64)
        x = x[:, :, side : w - side]
    return x


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`[T, H, W]` → `[T, h, w]`: area averaging when shrinking (keeps thin limbs as grey), bilinear otherwise."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] <= x.shape[-2] and size[1] <= x.shape[-1]
    mode = {"mode": "area"} if shrink else {"mode": "bilinear", "align_corners": False, "antialias": True}
    return F.interpolate(x[:, None], size=size, **mode)[:, 0]  # [T, 1, h, w] → [T, h, w]


def to_input(frames: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Stored uint8 frames → model input float32 `[T, *size]` in [0, 1]."""
    return resize(cut_and_scale(frames), size)


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3×3 matrix mapping 4 points `src [4,2]` to `dst [4,2]` (direct linear transform, h33 = 1)."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(src, dst, strict=True)):
        a[2 * i] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * i + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        b[2 * i], b[2 * i + 1] = u, v
    return np.append(np.linalg.solve(a, b), 1.0).reshape(3, 3)


def _warp(x: torch.Tensor, m: np.ndarray) -> torch.Tensor:
    """Resample `[T, H, W]` so output pixel p reads input at m·p (m in pixel-centred coordinates)."""
    t, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2, indexing="ij")
    pts = torch.stack([xs.flatten(), ys.flatten(), torch.ones(h * w)], 0).double()  # [3, H·W]
    src = torch.from_numpy(m) @ pts
    sx, sy = src[0] / src[2], src[1] / src[2]
    grid = torch.stack([sx / ((w - 1) / 2 or 1), sy / ((h - 1) / 2 or 1)], -1).float().view(1, h, w, 2)
    out = F.grid_sample(x[:, None], grid.expand(t, h, w, 2), mode="bilinear", align_corners=True)
    return out[:, 0]  # [T, 1, H, W] → [T, H, W]


def augment(x: torch.Tensor, cfg: AugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """Apply each enabled augmentation with its probability; the same draw for every frame of `x [T, H, W]`."""
    t, h, w = x.shape
    if cfg.flip and rng.random() < cfg.flip:
        x = x.flip(-1)
    m = np.eye(3)
    if cfg.rotate and rng.random() < cfg.rotate:
        a = math.radians(rng.uniform(-cfg.rotate_degrees, cfg.rotate_degrees))
        m = m @ np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    if cfg.perspective and rng.random() < cfg.perspective:
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * [(w - 1) / 2, (h - 1) / 2]
        moved = corners + rng.uniform(-1, 1, (4, 2)) * cfg.perspective_distortion * [w, h]
        m = m @ _homography(corners, moved)
    if not np.allclose(m, np.eye(3)):
        x = _warp(x, m)
    if cfg.erasing and rng.random() < cfg.erasing:
        area = rng.uniform(*cfg.erasing_area) * h * w
        aspect = math.exp(rng.uniform(math.log(0.3), math.log(1 / 0.3)))
        eh, ew = min(h, max(1, round(math.sqrt(area * aspect)))), min(w, max(1, round(math.sqrt(area / aspect))))
        y0, x0 = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
        x = x.clone()
        x[:, y0 : y0 + eh, x0 : x0 + ew] = 0.0
    return x
