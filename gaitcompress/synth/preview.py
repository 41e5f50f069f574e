"""Preview images of silhouette clips: a PNG grid (one row per clip, one column per frame) and an animated GIF."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def _grid_rows(clips: np.ndarray, labels: Sequence[str], scale: int) -> list[np.ndarray]:
    """uint8 clips [N, T, H, W] → per-clip strips [H, T·(W+1)] with a 1-px separator."""
    n, t, h, w = clips.shape
    rows = []
    for clip in clips:
        strip = np.full((h, t * (w + 1)), 64, dtype=np.uint8)
        for j, frame in enumerate(clip):
            strip[:, j * (w + 1) : j * (w + 1) + w] = frame
        rows.append(np.kron(strip, np.ones((scale, scale), dtype=np.uint8)))
    return rows


def _to_uint8(clips: np.ndarray) -> np.ndarray:
    clips = np.asarray(clips)
    return clips if clips.dtype == np.uint8 else (np.clip(clips, 0, 1) * 255).round().astype(np.uint8)


def save_png(clips: np.ndarray, labels: Sequence[str], path: str | Path, scale: int = 1, label_w: int = 110) -> Path:
    """Write clips [N, T, H, W] (uint8 or float in [0, 1]) as one labelled grid PNG."""
    rows = _grid_rows(_to_uint8(clips), labels, scale)
    h = rows[0].shape[0]
    canvas = Image.new("L", (label_w + rows[0].shape[1], len(rows) * (h + 2)), 32)
    draw = ImageDraw.Draw(canvas)
    for i, (row, label) in enumerate(zip(rows, labels, strict=True)):
        canvas.paste(Image.fromarray(row), (label_w, i * (h + 2)))
        draw.text((4, i * (h + 2) + h // 2 - 5), label, fill=255)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


def save_gif(clips: np.ndarray, path: str | Path, scale: int = 2, fps: int = 10) -> Path:
    """Write clips [N, T, H, W] side by side as one animated GIF (frame j shows frame j of every clip)."""
    clips = _to_uint8(clips)
    n, t, h, w = clips.shape
    frames = []
    for j in range(t):
        row = np.concatenate([np.pad(c[j], ((0, 0), (0, 2)), constant_values=64) for c in clips], axis=1)
        frames.append(Image.fromarray(np.kron(row, np.ones((scale, scale), dtype=np.uint8))))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0)
    return path
