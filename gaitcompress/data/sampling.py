"""Which frames of a sequence a clip takes, and which sequences a training batch takes (P×K, forever).

Frame sampling follows OpenGait's modes. A sequence shorter than the clip is repeat-padded the way
OpenGait does it: its frame indices are repeated ⌈F/n⌉ times and the clip is drawn from that longer list
(so every frame appears about equally often); only a sequence with zero frames is an error.

The P×K sampler draws batch b from `numpy.random.default_rng((seed, b))`, so the stream needs neither CUDA
nor a process group, is the same on every rank, and can resume at any batch. Under DDP rank r takes rows
r, r+W, r+2W, … of the global batch (W = world size): with K a multiple of W every rank sees all P ids.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from gaitcompress.errors import GaitCompressError

SAMPLING_MODES = ("fixed_unordered", "fixed_ordered", "unfixed", "all_ordered")


def sample_frames(n: int, mode: str, frames: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices into a sequence of `n` frames for a clip of `frames` frames (`all_ordered`: first `frames`)."""
    if n < 1:
        raise ValueError("a sequence with zero frames cannot be sampled")
    if mode == "all_ordered":
        return np.arange(min(n, frames))
    assert rng is not None, "training modes need a random generator"
    pool = np.tile(np.arange(n), math.ceil(frames / n))  # repeat-pad short sequences (OpenGait)
    if mode in ("fixed_unordered", "unfixed"):
        return rng.choice(pool, frames, replace=False)
    if mode == "fixed_ordered":
        start = int(rng.integers(0, len(pool) - frames + 1))
        return pool[start : start + frames]
    raise ValueError(f"unknown sampling mode {mode!r}")


class PKBatchSampler:
    """Infinite P×K batches of `(sequence index, sample seed, clip frames)` rows, this rank's share.

    `labels[i]` is the class of sequence i. Each batch takes P distinct classes and K sequences of each
    (without replacement when the class has ≥ K sequences). `frames_range` (lo, hi) draws one clip length per
    batch (OpenGait's `unfixed`); otherwise every clip has `frames` frames.
    """

    def __init__(
        self,
        labels: Sequence[int],
        p: int,
        k: int,
        seed: int,
        frames: int,
        frames_range: tuple[int, int] | None = None,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
    ) -> None:
        by_class: dict[int, list[int]] = {}
        for i, label in enumerate(labels):
            by_class.setdefault(int(label), []).append(i)
        self.classes = sorted(by_class)
        self.by_class = [np.array(by_class[c]) for c in self.classes]
        if len(self.classes) < p:
            raise GaitCompressError(
                f"a P×K batch needs P={p} training ids but only {len(self.classes)} have sequences",
                f"set data.batch_p to at most {len(self.classes)}",
            )
        if (p * k) % world_size or not 0 <= rank < world_size:
            raise GaitCompressError(
                f"batch P×K = {p}×{k} cannot be split over world size {world_size} (rank {rank})",
                "make batch_p × batch_k a multiple of the number of processes",
            )
        self.p, self.k, self.seed, self.frames, self.frames_range = p, k, seed, frames, frames_range
        self.rank, self.world_size, self.start = rank, world_size, start

    def global_batch(self, b: int) -> list[tuple[int, int, int]]:
        """All P·K rows of batch `b`, grouped by class (class-major)."""
        rng = np.random.default_rng((self.seed, b))
        frames = self.frames
        if self.frames_range is not None:
            frames = int(rng.integers(self.frames_range[0], self.frames_range[1] + 1))
        rows = []
        for c in rng.choice(len(self.classes), self.p, replace=False):
            members = self.by_class[c]
            picks = rng.choice(members, self.k, replace=len(members) < self.k)
            rows += [(int(i), int(s), frames) for i, s in zip(picks, rng.integers(0, 2**63 - 1, self.k), strict=True)]
        return rows

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        b = self.start
        while True:
            yield self.global_batch(b)[self.rank :: self.world_size]
            b += 1
