"""CarGait inference: re-rank each probe's top K by the head's pair distance (a `Reranker` for any protocol)."""

from __future__ import annotations

import torch

from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation import Features
from gaitcompress.rerank.head import CarGaitHead, strips
from gaitcompress.rerank.topk import rerank_topk


class CarGaitReranker:
    """`reranker(dist [Np, Ng], probe, gallery) -> dist`: top-`k` rows re-ordered by `head` (eval mode, no grad).

    The head reads the features named by its spec (`parts` or `embeddings`); extract them with
    `extract_features(..., keep_parts=True)`.
    """

    def __init__(self, head: CarGaitHead, k: int = 10, pairs_per_call: int = 4096) -> None:
        self.head, self.k, self.pairs_per_call = head.eval(), k, pairs_per_call

    def _strips(self, features: Features) -> torch.Tensor:
        source = features.parts if self.head.features == "parts" else features.embeddings
        if source is None:
            raise GaitCompressError(
                "CarGait re-ranking needs the model's `parts` features",
                "extract them with extract_features(..., keep_parts=True)",
            )
        if source.shape[1:] != (self.head.dim, self.head.parts):
            raise GaitCompressError(
                f"the re-rank head expects {self.head.features} of shape [N, {self.head.dim}, {self.head.parts}], "
                f"got {list(source.shape)}",
                "train a head on this gait model (gaitcompress rerank train)",
            )
        return strips(source, self.head.features)  # [N, s, d]

    def __call__(self, dist: torch.Tensor, probe: Features, gallery: Features) -> torch.Tensor:
        fp, fg = self._strips(probe), self._strips(gallery)

        def score(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
            return self.head(fp[p], fg[g])  # [B]

        with torch.no_grad():
            return rerank_topk(dist, self.k, score, self.pairs_per_call)
