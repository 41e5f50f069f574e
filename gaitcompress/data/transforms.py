"""Silhouette transforms: OpenGait's cut and scaling, resizing to the recipe's input size, seeded augmentations.

All augmentations draw their parameters once per sequence from the caller's `numpy.random.Generator` and
apply them to every frame alike, so a clip stays a consistent walk (OpenGait's sequence-level transforms).
Everything here is numpy/scipy on one thread: per-sample torch ops spin up intra-op threads that, on a
busy machine, cost far more than the work (measured 30× slower under load on 2 cores).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from gaitcompress.data.config import AugmentConfig


def cut_and_scale(frames: np.ndarray) -> np.ndarray:
    """uint8 `[T, S, S]` → float32 `[T, S, S·44/64]` in [0, 1].

    OpenGait's pretreatment centres the body in a square frame; its loader drops 10 of 64 columns on each
    side (scaled for other sizes). Frames that are not square are taken as already cut.
    """
    h, w = frames.shape[-2:]
    if h == w:
        side = round(w * 10 / 64)
        frames = frames[:, :, side : w - side]
    return frames.astype(np.float32) * np.float32(1 / 255)


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """`[n_out, n_in]` averaging weights: output cell i covers input span [i·n_in/n_out, (i+1)·n_in/n_out)."""
    edges = np.arange(n_out + 1) * n_in / n_out
    lo, hi = edges[:-1, None], edges[1:, None]
    pos = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pos + 1) - np.maximum(lo, pos), 0, None)
    return (overlap / (hi - lo)).astype(np.float32)


def _linear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """`[n_out, n_in]` linear-interpolation weights at pixel centres (for enlarging)."""
    x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    i0 = np.floor(x).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    m = np.zeros((n_out, n_in), np.float32)
    np.add.at(m, (np.arange(n_out), i0), 1 - (x - i0))
    np.add.at(m, (np.arange(n_out), i1), x - i0)
    return m


def resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`[T, H, W]` → `[T, h, w]`: area averaging when shrinking (thin limbs stay as grey), linear when enlarging.

    A torch tensor in gives a CPU torch tensor out (generated clips are resized with the loader's rule).
    """
    if not isinstance(x, np.ndarray):
        import torch

        return torch.from_numpy(resize(x.detach().float().cpu().numpy(), size))
    (h_in, w_in), (h, w) = x.shape[-2:], size
    if (h_in, w_in) == (h, w):
        return x
    if h_in % h == 0 and w_in % w == 0:  # integer factors: block means
        return x.reshape(x.shape[0], h, h_in // h, w, w_in // w).mean(axis=(2, 4), dtype=np.float32)
    rows = _area_matrix(h_in, h) if h <= h_in else _linear_matrix(h_in, h)
    cols = _area_matrix(w_in, w) if w <= w_in else _linear_matrix(w_in, w)
    return np.einsum("ih,thw,jw->tij", rows, x, cols, optimize=True).astype(np.float32)


def to_input(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
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


def _warp(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Resample `[T, H, W]` so output pixel p reads input at m·p (pixel coordinates about the frame centre)."""
    t, h, w = x.shape
    ys, xs = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    src = m @ np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)])  # [3, H·W]
    sx, sy = src[0] / src[2] + (w - 1) / 2, src[1] / src[2] + (h - 1) / 2
    out = np.empty_like(x)
    for i in range(t):  # the same coordinates for every frame
        out[i] = ndimage.map_coordinates(x[i], [sy, sx], order=1, cval=0.0).reshape(h, w)
    return out


def augment(x: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Apply each enabled augmentation with its probability; the same draw for every frame of `x [T, H, W]`."""
    t, h, w = x.shape
    if cfg.flip and rng.random() < cfg.flip:
        x = x[:, :, ::-1]
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
        x = x.copy()
        x[:, y0 : y0 + eh, x0 : x0 + ew] = 0.0
    return np.ascontiguousarray(x)
