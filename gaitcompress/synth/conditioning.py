"""GaitCrafter's additive conditioning: identity code into the blocks, view and covariate maps onto the input.

- Identity: a one-hot (real id) or multi-hot (novel id) code `[N, K]`, projected by a bias-free linear layer
  and added to the timestep embedding, which every residual block projects and adds to its features.
  A zero code is the "no identity" condition used by classifier-free guidance.
- View and covariate (nm / bg / cl): each label goes through a small encoder (embedding → MLP → one H×W map),
  repeated over time and added to the noisy input clip `x_t [N, 1, T, H, W]`, as the paper adds its
  view/covariate tensors to the input. Index 0 of each table is the "null" label for guidance.
- With `in_embedding` (set when the U-Net uses scale-and-shift conditioning), view and covariate also get a
  learned vector each that joins the block embedding, so all three labels reach the FiLM path of every block.

`LabelSpace` fixes the label ↔ index mapping (sorted training ids, views, covariates) and is saved in the
generator's checkpoint so sampling uses the same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from gaitcompress.errors import GaitCompressError, did_you_mean
from gaitcompress.synth.unet3d import sinusoid


def covariate_of(seq_type: str) -> str:
    """OpenGait sequence type → covariate: 'nm-01' → 'nm', 'cl-02' → 'cl'; types without a dash stay whole."""
    return seq_type.split("-", 1)[0]


@dataclass(frozen=True)
class LabelSpace:
    """The ids, views and covariates a generator was trained on (all sorted)."""

    ids: tuple[str, ...]
    views: tuple[str, ...]
    covariates: tuple[str, ...]

    @classmethod
    def from_meta(cls, ids: Sequence[str], views: Sequence[str], types: Sequence[str]) -> LabelSpace:
        return cls(tuple(sorted(set(ids))), tuple(sorted(set(views))), tuple(sorted({covariate_of(t) for t in types})))

    def _index(self, table: tuple[str, ...], name: str, kind: str) -> int:
        try:
            return table.index(name)
        except ValueError:
            raise GaitCompressError(
                f"the generator was not trained on {kind} {name!r}", did_you_mean(name, table)
            ) from None

    def id_index(self, name: str) -> int:
        return self._index(self.ids, name, "id")

    def view_index(self, name: str) -> int:
        """1-based: 0 is the null view."""
        return self._index(self.views, name, "view") + 1

    def covariate_index(self, name: str) -> int:
        """1-based: 0 is the null covariate. Accepts a type ('bg-01') or a covariate ('bg')."""
        return self._index(self.covariates, covariate_of(name), "covariate") + 1


@dataclass
class Condition:
    """What one batch of clips is conditioned on.

    id_code    float [N, K]  one-hot / multi-hot identity weights (zeros = unconditional)
    view       long  [N]     1-based view index (0 = null)
    covariate  long  [N]     1-based covariate index (0 = null)
    """

    id_code: torch.Tensor
    view: torch.Tensor
    covariate: torch.Tensor

    def to(self, device: torch.device | str) -> Condition:
        return Condition(self.id_code.to(device), self.view.to(device), self.covariate.to(device))

    def __len__(self) -> int:
        return self.id_code.shape[0]

    def null(self) -> Condition:
        """The unconditional counterpart (zero id code, null view and covariate)."""
        return Condition(torch.zeros_like(self.id_code), torch.zeros_like(self.view), torch.zeros_like(self.covariate))

    def drop(self, p: float, generator: torch.Generator | None = None) -> Condition:
        """Classifier-free-guidance dropout: each row loses all its labels with probability p."""
        if p <= 0:
            return self
        keep = torch.rand(len(self), generator=generator, device=self.view.device) >= p  # [N] bool
        return Condition(self.id_code * keep[:, None].to(self.id_code.dtype), self.view * keep, self.covariate * keep)

    @staticmethod
    def cat(parts: Sequence[Condition]) -> Condition:
        return Condition(
            torch.cat([p.id_code for p in parts]),
            torch.cat([p.view for p in parts]),
            torch.cat([p.covariate for p in parts]),
        )


class LabelMap(nn.Module):
    """Small label encoder: index [N] → a learned H×W map [N, 1, 1, H, W] (broadcast over time)."""

    def __init__(self, num_labels: int, height: int, width: int, hidden: int = 32) -> None:
        super().__init__()
        self.shape = (height, width)
        self.embed = nn.Embedding(num_labels + 1, hidden)  # row 0: null label
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, height * width))

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.embed(index)).reshape(-1, 1, 1, *self.shape)  # [N, H·W] → [N, 1, 1, H, W]


class Conditioner(nn.Module):
    """Builds the block embedding (timestep + identity) and the input map (view + covariate)."""

    def __init__(
        self, labels: LabelSpace, emb_dim: int, time_dim: int, height: int, width: int, in_embedding: bool = False
    ) -> None:
        super().__init__()
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.identity = nn.Linear(len(labels.ids), emb_dim, bias=False)
        self.view = LabelMap(len(labels.views), height, width)
        self.covariate = LabelMap(len(labels.covariates), height, width)
        self.in_embedding = in_embedding
        if in_embedding:  # row 0: the null label
            self.view_vec = nn.Embedding(len(labels.views) + 1, emb_dim)
            self.covariate_vec = nn.Embedding(len(labels.covariates) + 1, emb_dim)

    def embedding(self, t: torch.Tensor, cond: Condition) -> torch.Tensor:
        """t [N] (diffusion step), cond → emb [N, E] that every residual block adds (or turns into FiLM)."""
        emb = self.time_mlp(sinusoid(t, self.time_dim)) + self.identity(cond.id_code)
        if self.in_embedding:
            emb = emb + self.view_vec(cond.view) + self.covariate_vec(cond.covariate)
        return emb

    def input_map(self, cond: Condition) -> torch.Tensor:
        """cond → [N, 1, 1, H, W], added to x_t and so repeated over all T frames."""
        return self.view(cond.view) + self.covariate(cond.covariate)
