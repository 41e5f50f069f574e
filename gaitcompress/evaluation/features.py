"""Extracted test-set features: what every protocol and re-ranker consumes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gaitcompress.data.batch import SeqMeta
from gaitcompress.errors import GaitCompressError


@dataclass
class Features:
    """Per-sequence retrieval features.

    embeddings  float32 [N, C, P]  (the model's `embeddings`, pre-BNNeck)
    meta        list[SeqMeta] of length N  (id / type / view of each sequence)
    parts       float32 [N, C', P] strip features before the per-part FC, or None (kept for re-ranking)
    """

    embeddings: torch.Tensor
    meta: list[SeqMeta]
    parts: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.embeddings.dim() != 3:
            raise GaitCompressError(f"embeddings must be [N, C, P], got shape {tuple(self.embeddings.shape)}")
        if len(self.meta) != self.embeddings.shape[0]:
            raise GaitCompressError(f"{self.embeddings.shape[0]} embeddings but {len(self.meta)} meta entries")
        if self.parts is not None and self.parts.shape[0] != self.embeddings.shape[0]:
            raise GaitCompressError(f"{self.embeddings.shape[0]} embeddings but {self.parts.shape[0]} parts rows")

    def __len__(self) -> int:
        return len(self.meta)

    def subset(self, index: Sequence[int] | torch.Tensor) -> Features:
        """The rows at `index` (in that order)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        return Features(
            embeddings=self.embeddings[idx],
            meta=[self.meta[i] for i in idx.tolist()],
            parts=None if self.parts is None else self.parts[idx],
        )

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.meta]

    @property
    def types(self) -> list[str]:
        return [m.type for m in self.meta]

    @property
    def views(self) -> list[str]:
        return [m.view for m in self.meta]
