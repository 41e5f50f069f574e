"""Camera and rasteriser: 3D primitives → binary silhouettes, plus the segmentation nuisance.

The camera circles the walker at azimuth `view` (0° = the walker comes towards it, 90° = side view,
180° = walks away, as CASIA-B's views), with weak perspective (scale D / (D − depth), D = 3 body heights).
A capsule projects to a tapered 2D capsule; an ellipsoid {c + L·x : |x| ≤ 1} projects to the ellipse with
shape matrix P·L·Lᵀ·Pᵀ. Each primitive is tested only inside its bounding box over the clip, for all
frames at once: an array `[T, h, w]` per primitive.
"""

from __future__ import annotations

import numpy as np

from gaitcompress.data.synthgait.body import Scene
from gaitcompress.data.synthgait.identity import Nuisance

CAMERA_DISTANCE = 3.0  # body heights (≈ 5 m for a 1.7 m walker)


def _camera(view_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(toward-camera direction c, image-plane rows P [2,3] = (right, up))."""
    v = np.radians(view_deg)
    toward = np.array([np.cos(v), np.sin(v), 0.0])
    plane = np.array([[-np.sin(v), np.cos(v), 0.0], [0.0, 0.0, 1.0]])
    return toward, plane


def render(scene: Scene, view_deg: float, nuisance: Nuisance, rng: np.random.Generator) -> np.ndarray:
    """Binary silhouettes `bool [T, H, W]` of `scene` seen from `view_deg`, with segmentation nuisance."""
    toward, plane = _camera(view_deg)
    ppu = nuisance.px_height  # pixels per body height
    t = scene.capsules[0][0].shape[0]
    wobble = 1 + nuisance.scale_jitter * rng.standard_normal(t)  # [T] horizontal scale noise
    stretch = np.array([1.0, -1.0])  # image rows grow downwards

    def to_px(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = CAMERA_DISTANCE / (CAMERA_DISTANCE - p @ toward)  # [T] perspective scale
        uv = (p @ plane.T) * s[:, None] * ppu * stretch  # [T, 2] (col, row) in pixels about the hip centre
        uv[:, 0] *= wobble
        return uv, s * ppu

    caps = []
    for a, b, ra, rb in scene.capsules:
        (pa, sa), (pb, sb) = to_px(a), to_px(b)
        caps.append((pa, pb, ra * sa, rb * sb))
    ells = []
    for c, axes in scene.ellipsoids:
        pc, sc = to_px(c)
        proj = np.einsum("ij,tjk->tik", plane, axes) * sc[:, None, None] * stretch[None, :, None]  # [T, 2, 3]
        proj[:, 0] *= wobble[:, None]
        shape = proj @ proj.transpose(0, 2, 1)  # [T, 2, 2] ellipse shape matrix
        ells.append((pc, shape))

    lo = np.min([np.minimum(pa, pb) - np.maximum(ra, rb)[:, None] for pa, pb, ra, rb in caps], axis=(0, 1))
    hi = np.max([np.maximum(pa, pb) + np.maximum(ra, rb)[:, None] for pa, pb, ra, rb in caps], axis=(0, 1))
    for pc, shape in ells:
        half = np.sqrt(np.stack([shape[:, 0, 0], shape[:, 1, 1]], -1))
        lo, hi = np.minimum(lo, (pc - half).min(0)), np.maximum(hi, (pc + half).max(0))
    origin = np.floor(lo) - 2
    width, height = (np.ceil(hi) + 2 - origin).astype(int)
    canvas = np.zeros((t, height, width), bool)

    for pa, pb, ra, rb in caps:
        pa, pb = (pa - origin).astype(np.float32), (pb - origin).astype(np.float32)
        ra, rb = ra.astype(np.float32), rb.astype(np.float32)
        r = np.maximum(ra, rb)
        c0, r0 = np.floor(np.minimum(pa, pb).min(0) - r.max()).astype(int)
        c1, r1 = np.ceil(np.maximum(pa, pb).max(0) + r.max()).astype(int) + 1
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, width), min(r1, height)
        xs = (np.arange(c0, c1, dtype=np.float32) + 0.5)[None, None, :]  # [1, 1, w]
        ys = (np.arange(r0, r1, dtype=np.float32) + 0.5)[None, :, None]  # [1, h, 1]
        ax, ay = pa[:, 0, None, None], pa[:, 1, None, None]
        dx, dy = (pb[:, 0] - pa[:, 0])[:, None, None], (pb[:, 1] - pa[:, 1])[:, None, None]
        length2 = dx * dx + dy * dy + 1e-6
        u = np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0.0, 1.0)  # [T, h, w] position along the axis
        ex, ey = ax + u * dx - xs, ay + u * dy - ys
        rad = ra[:, None, None] + u * (rb - ra)[:, None, None]
        canvas[:, r0:r1, c0:c1] |= ex * ex + ey * ey <= rad * rad
    for pc, shape in ells:
        pc = pc - origin
        inv = np.linalg.inv(shape)  # [T, 2, 2]
        half = np.sqrt(np.stack([shape[:, 0, 0], shape[:, 1, 1]], -1)).max(0)
        c0, r0 = np.floor(pc.min(0) - half).astype(int)
        c1, r1 = np.ceil(pc.max(0) + half).astype(int) + 1
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, width), min(r1, height)
        qx = (np.arange(c0, c1, dtype=np.float32) + 0.5)[None, None, :] - pc[:, 0, None, None]
        qy = (np.arange(r0, r1, dtype=np.float32) + 0.5)[None, :, None] - pc[:, 1, None, None]
        a, b, d = (inv[:, i, j, None, None] for i, j in ((0, 0), (0, 1), (1, 1)))
        canvas[:, r0:r1, c0:c1] |= a * qx * qx + 2 * b * qx * qy + d * qy * qy <= 1.0
    return _segmentation_noise(canvas, nuisance, rng)


def _morph(sil: np.ndarray, grow: bool) -> np.ndarray:
    """Per-frame 3×3 binary dilation (`grow`) or erosion of `[T, H, W]`, as 9 shifted views (scipy is 5× slower)."""
    pad = np.pad(sil, ((0, 0), (1, 1), (1, 1)))  # outside the canvas is background, as scipy.ndimage
    h, w = sil.shape[1:]
    out = pad[:, 1 : h + 1, 1 : w + 1].copy()
    for dy in range(3):
        for dx in range(3):
            view = pad[:, dy : dy + h, dx : dx + w]
            out = out | view if grow else out & view
    return out


def _segmentation_noise(sil: np.ndarray, n: Nuisance, rng: np.random.Generator) -> np.ndarray:
    """Erosion/dilation, boundary pixel flips and a partial occluder, as a background subtractor makes them."""
    if n.erode:
        sil = _morph(sil, grow=n.erode > 0)
    if n.flip_rate > 0:
        edge = _morph(sil, grow=True) & ~_morph(sil, grow=False)
        sil = sil ^ (edge & (rng.random(sil.shape) < n.flip_rate))
    t, h, w = sil.shape
    if n.occlusion == "pole":  # a thin upright object the walker passes: its column moves across the clip
        centre = np.linspace(n.occlusion_pos[0], n.occlusion_pos[1], t) * w
        half = max(1.0, n.occlusion_width * w / 2)
        cols = np.arange(w)[None, :]
        sil = sil & ~(np.abs(cols - centre[:, None]) < half)[:, None, :]
    elif n.occlusion == "floor":  # something low in front of the feet hides the bottom rows
        sil = sil.copy()
        sil[:, int(n.occlusion_pos[0] * h) :, :] = False
    return sil
