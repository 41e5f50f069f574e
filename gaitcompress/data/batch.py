"""The one batch type every stage consumes, and the collate function that builds it.

A `Batch` holds variable-length silhouette sequences zero-padded to the longest one in the batch;
`lengths` says how many frames of each row are real, so models pool over valid frames only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class SeqMeta:
    """Which sequence a batch row came from (OpenGait's `id/type/view` folder names)."""

    id: str
    type: str
    view: str


@dataclass
class Batch:
    """Silhouette sequences with labels and valid lengths.

    sils    float32 [N, T, H, W] in [0, 1], rows zero-padded past their length
    labels  long [N]  class index (position in the sorted training ids), −1 for ids not in training
    lengths long [N]  valid frames per row (1 ≤ lengths[i] ≤ T)
    meta    list[SeqMeta] of length N
    """

    sils: torch.Tensor
    labels: torch.Tensor
    lengths: torch.Tensor
    meta: list[SeqMeta]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A batch with its tensors on `device` (meta is shared)."""
        return Batch(
            sils=self.sils.to(device, non_blocking=non_blocking),
            labels=self.labels.to(device, non_blocking=non_blocking),
            lengths=self.lengths.to(device, non_blocking=non_blocking),
            meta=self.meta,
        )

    def __len__(self) -> int:
        return len(self.meta)


def collate(items: Sequence[tuple[np.ndarray | torch.Tensor, int, SeqMeta]]) -> Batch:
    """Stack `(sils [T_i, H, W] float32, label, meta)` items into a `Batch`, zero-padding to max T_i.

    The padding is done in numpy: torch copies spin up intra-op threads, which on a busy 2-core machine
    cost more than the copy.
    """
    if not items:
        raise ValueError("collate needs at least one item")
    seqs = [s.numpy() if isinstance(s, torch.Tensor) else np.asarray(s) for s, _, _ in items]
    lengths = [s.shape[0] for s in seqs]
    h, w = seqs[0].shape[1:]
    sils = np.zeros((len(seqs), max(lengths), h, w), np.float32)  # [N, T_max, H, W]
    for i, s in enumerate(seqs):
        sils[i, : s.shape[0]] = s
    return Batch(
        sils=torch.from_numpy(sils),
        labels=torch.tensor([int(label) for _, label, _ in items], dtype=torch.long),
        lengths=torch.tensor(lengths, dtype=torch.long),
        meta=[m for _, _, m in items],
    )
