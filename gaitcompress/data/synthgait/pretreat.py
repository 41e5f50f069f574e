"""OpenGait's pretreatment, re-implemented from its description: silhouette images → uint8 [T, S, S].

Per frame: keep the rows that hold pixels, resize to height S keeping the aspect ratio (bicubic, which is
why stored values are 0..255 rather than binary), find the column where the cumulative pixel mass first
exceeds half (the horizontal centre), and cut S columns centred there, zero-padding where needed.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def normalise_frame(sil: np.ndarray, size: int = 64) -> np.ndarray:
    """One binary/uint8 frame `[H, W]` → uint8 `[size, size]`; the frame must hold pixels."""
    img = sil.astype(np.uint8) * 255 if sil.dtype == bool else sil
    rows = np.flatnonzero(img.any(axis=1))
    img = img[rows[0] : rows[-1] + 1]
    h, w = img.shape
    new_w = max(1, int(size * w / h))
    img = np.asarray(Image.fromarray(img).resize((new_w, size), Image.BICUBIC))
    mass = img.sum(axis=0, dtype=np.int64).cumsum()
    centre = int(np.argmax(mass > mass[-1] / 2))
    half = size // 2
    out = np.zeros((size, size), np.uint8)  # columns centre-half .. centre+half of img, zero outside it
    lo, hi = max(centre - half, 0), min(centre + half, new_w)
    out[:, lo - (centre - half) : hi - (centre - half)] = img[:, lo:hi]
    return out


def normalise(sils: np.ndarray, size: int = 64) -> np.ndarray:
    """Silhouettes `[T, H, W]` → uint8 `[T, size, size]` (every frame must hold pixels)."""
    return np.stack([normalise_frame(f, size) for f in sils])
