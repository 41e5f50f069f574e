"""Pictures of a dataset: a PNG grid (one sequence per row, frames across) and an optional animated GIF."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from gaitcompress.data.index import DatasetIndex, SeqEntry
from gaitcompress.data.io import load_sequence
from gaitcompress.errors import GaitCompressError

_WANTED = [("nm-01", "090"), ("bg-01", "090"), ("cl-01", "090"), ("nm-01", "000"), ("nm-01", "054"), ("nm-01", "144")]


def pick_sequences(index: DatasetIndex, rows: int) -> list[SeqEntry]:
    """CASIA-B-style picks (one id under NM/BG/CL at 90°, then other views, then a second id) when present,
    else the first sequences of distinct ids."""
    entries = index.train + index.test
    by_key = {(e.meta.id, e.meta.type, e.meta.view): e for e in entries}
    ids = sorted({e.meta.id for e in entries})
    picks = [by_key[(sid, t, v)] for sid in ids[:2] for t, v in _WANTED if (sid, t, v) in by_key]
    seen = {e.meta for e in picks}
    for e in entries:
        if len(picks) >= rows:
            break
        if e.meta not in seen and e.meta.id not in {p.meta.id for p in picks}:
            picks.append(e)
    return picks[:rows]


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    img = Image.fromarray(tile)
    ImageDraw.Draw(img).text((2, 1), text, fill=160)
    return np.asarray(img)


def write_preview(
    index: DatasetIndex, out: str | Path, rows: int = 6, frames: int = 8, gif: str | Path | None = None
) -> list[Path]:
    """PNG grid of `rows` sequences × `frames` evenly spaced frames (+ a GIF of the whole clips); returns paths."""
    picks = pick_sequences(index, rows)
    if not picks:
        raise GaitCompressError(f"{index.root}: no sequences to show", "run `gaitcompress data check` on it")
    seqs = [load_sequence(e.path) for e in picks]
    h, w = seqs[0].shape[1:]
    label_w = 96
    grid = []
    for e, seq in zip(picks, seqs, strict=True):
        idx = np.linspace(0, len(seq) - 1, frames).round().astype(int)
        name = _label(np.zeros((h, label_w), np.uint8), f"{e.meta.id}\n{e.meta.type}\n{e.meta.view}")
        grid.append(np.concatenate([name, *[seq[i] for i in idx]], axis=1))
    written = [Path(out)]
    _save(Image.fromarray(np.concatenate(grid, axis=0)), written[0])
    if gif is not None:
        length = max(len(s) for s in seqs)
        clips = [np.concatenate([s[t % len(s)] for s in seqs], axis=1) for t in range(length)]  # frames side by side
        images = [Image.fromarray(c) for c in clips]
        tmp = Path(gif).with_name(f".{Path(gif).name}.tmp")
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
        os.replace(tmp, gif)
        written.append(Path(gif))
    return written


def _save(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    img.save(tmp, format="PNG")
    os.replace(tmp, path)
