"""Training losses as OpenGait's GaitBase uses them, and the recipe-declared `LossSet` that routes them.

Two tiers (torchdistill's): tensor losses — each a small module `forward(x, labels) -> (scalar, stats)`
that declares which model output it `reads` — and the `LossSet`, a weighted sum built from the recipe's
`loss:` section whose `repr` is its formula:

    loss:
      triplet: {weight: 1.0, margin: 0.2}
      ce: {weight: 1.0, scale: 16, label_smoothing: 0.1}

    1.0·triplet(embeddings) + 1.0·ce(logits)

`LossSet(outputs, labels)` returns the *weighted* terms by name (the engine sums and logs them) and
keeps the last call's detached statistics in `LossSet.stats` (`triplet_nonzero_frac`, `ce_acc`, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.errors import GaitCompressError, did_you_mean
from gaitcompress.registry import Registry

LOSSES: Registry[nn.Module] = Registry("loss")


def pairwise_euclidean(x: Tensor, y: Tensor) -> Tensor:
    """Per-part Euclidean distances `[P, N, C]`, `[P, M, C]` → `[P, N, M]` (OpenGait's `ComputeDistance`).

    d² = ‖x‖² + ‖y‖² − 2x·y, clamped at 0. The square root is taken only where d² > 0, so identical
    vectors give exactly 0 and a zero gradient instead of the NaN that √ has at 0.
    """
    d2 = (
        x.pow(2).sum(-1, keepdim=True) + y.pow(2).sum(-1).unsqueeze(-2) - 2 * x.matmul(y.transpose(-1, -2))
    ).clamp_min(0)
    positive = d2 > 0
    return torch.where(positive, d2.clamp_min(1e-12).sqrt(), torch.zeros_like(d2))


def gather_for_triplet(embeddings: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Concatenate every rank's batch so the triplet loss mines the global batch (OpenGait's all-gather).

    Under an initialised process group with more than one rank, `embeddings [n, C, P]` and `labels [n]`
    are all-gathered in rank order; this rank's slice is the original tensor, so gradients flow to the
    local embeddings only (other ranks' slices are constants here; each rank back-propagates its own).
    Every rank must hold the same batch size (the rank-aware P×K sampler guarantees it). Without a
    process group, or with one rank, the inputs come back unchanged.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return embeddings, labels
    world, rank = dist.get_world_size(), dist.get_rank()
    embs = [torch.empty_like(embeddings) for _ in range(world)]
    labs = [torch.empty_like(labels) for _ in range(world)]
    dist.all_gather(embs, embeddings.detach().contiguous())
    dist.all_gather(labs, labels.contiguous())
    embs[rank] = embeddings
    return torch.cat(embs), torch.cat(labs)  # [world·n, C, P], [world·n]


def _select_columns(mask: Tensor) -> tuple[Tensor, Tensor]:
    """For each row of a boolean `[N, N]` mask, the indices of its True columns, left-packed.

    Returns `idx [N, M]` and `valid [N, M]` with M the largest row count; rows with fewer entries are
    padded (with arbitrary indices, `valid` False). With a balanced P×K batch nothing is padded, so
    the triplet tensor is OpenGait's `[P, N, K, N−K]` rather than a cubic `[P, N, N, N]`.
    """
    counts = mask.sum(1)
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # True columns first
    m = int(counts.max()) if mask.numel() else 0
    valid = torch.arange(m, device=mask.device)[None, :] < counts[:, None]
    return order[:, :m], valid


@LOSSES.register("triplet")
class TripletLoss(nn.Module):
    """Batch-all triplet loss per part (OpenGait `TripletLoss` with `AvgNonZeroReducer`).

    For part p, anchor a, positive i (same label, the anchor itself included) and negative j:
    ℓ_paij = max(0, d_p(a, i) − d_p(a, j) + margin), d_p the Euclidean distance of part p's embeddings.
    Per part, the loss is the mean over the non-zero ℓ (0 when none is); the result is the mean over
    parts. Input `embeddings [N, C, P]`, `labels [N]`; with `gather` (default) and a process group, the
    global batch is mined (`gather_for_triplet`) and the gradient scaled by the world size.
    Stats: `nonzero_frac` (share of valid triplets still violating the margin), `mean_dist`.
    """

    reads = "embeddings"

    def __init__(self, margin: float = 0.2, gather: bool = True) -> None:
        super().__init__()
        self.margin = margin
        self.gather = gather

    def forward(self, embeddings: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        local = embeddings.shape[0]
        if self.gather:
            embeddings, labels = gather_for_triplet(embeddings, labels)
        world = embeddings.shape[0] // max(local, 1)
        x = embeddings.float().permute(2, 0, 1)  # [N, C, P] → [P, N, C]
        dist_ = pairwise_euclidean(x, x)  # [P, N, N]
        p, n, _ = dist_.shape
        same = labels[:, None] == labels[None, :]  # [N, N], diagonal included
        pos_idx, pos_valid = _select_columns(same)  # [N, K]
        neg_idx, neg_valid = _select_columns(~same)  # [N, M]
        d_ap = dist_.gather(2, pos_idx.expand(p, n, -1))  # [P, N, K]
        d_an = dist_.gather(2, neg_idx.expand(p, n, -1))  # [P, N, M]
        valid = pos_valid[:, :, None] & neg_valid[:, None, :]  # [N, K, M]
        terms = F.relu(d_ap[..., :, None] - d_an[..., None, :] + self.margin) * valid  # [P, N, K, M]
        terms = terms.flatten(1)  # [P, N·K·M]
        nonzero = (terms > 0).sum(1)  # [P]
        per_part = terms.sum(1) / nonzero.clamp_min(1)  # mean over non-zero terms; 0 when there are none
        stats = {
            "nonzero_frac": (nonzero.sum() / (valid.sum() * p).clamp_min(1)).detach(),
            "mean_dist": dist_.mean().detach(),
        }
        loss = per_part.mean()
        if world > 1:
            # DDP averages gradients over ranks, and each rank's local slice gets the gradient of the global
            # loss; scaling the gradient (not the value, which stays comparable to one process) by the world
            # size makes the averaged update equal the single-process one on the global batch (OpenGait
            # multiplies the loss itself by the world size).
            loss = loss + (world - 1) * (loss - loss.detach())
        return loss, stats

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


@LOSSES.register("ce")
class PartCrossEntropy(nn.Module):
    """Cross-entropy of scaled cosine logits per part, label-smoothed, averaged over samples and parts.

    `loss = mean_{n,p} CE_ls(scale · logits[n, :, p], labels[n])` (OpenGait `CrossEntropyLoss` with
    `scale=16`, `label_smooth=True` → smoothing 0.1). Input `logits [N, K, P]` (unscaled cosines),
    `labels [N]`. Stats: `acc`, the share of (sample, part) pairs whose arg-max is the label.
    """

    reads = "logits"

    def __init__(self, scale: float = 16.0, label_smoothing: float = 0.1) -> None:
        super().__init__()
        self.scale = scale
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        logits = logits.float()
        target = labels[:, None].expand(-1, logits.shape[-1])  # [N, P]
        loss = F.cross_entropy(self.scale * logits, target, label_smoothing=self.label_smoothing)
        acc = (logits.argmax(1) == target).float().mean()
        return loss, {"acc": acc.detach()}

    def extra_repr(self) -> str:
        return f"scale={self.scale}, label_smoothing={self.label_smoothing}"


class LossSet(nn.Module):
    """A weighted set of named loss terms, each routed to the model output key it reads.

    `forward(outputs, labels) -> {name: weight · loss}`; the statistics of the last call (detached,
    prefixed by the term name) are in `self.stats`.
    """

    def __init__(self, terms: Mapping[str, tuple[float, nn.Module, str]]) -> None:
        super().__init__()
        if not terms:
            raise GaitCompressError("the loss set is empty", "declare at least one term, e.g. `loss: {ce: {}}`")
        self.losses = nn.ModuleDict({name: module for name, (_, module, _) in terms.items()})
        self.weights = {name: float(weight) for name, (weight, _, _) in terms.items()}
        self.inputs = {name: key for name, (_, _, key) in terms.items()}
        self.stats: dict[str, Tensor] = {}

    @classmethod
    def from_config(cls, section: Mapping[str, Any], where: str = "recipe: loss") -> LossSet:
        """Build from a recipe's `loss:` section: `{name: {weight: w, input: key?, **loss kwargs}}`.

        `name` is a registered loss; `weight` defaults to 1; `input` overrides the output key the
        loss reads. Unknown names and kwargs raise with the nearest valid ones.
        """
        if not isinstance(section, Mapping):
            raise GaitCompressError(f"{where}: expected a mapping of loss terms", "write `triplet: {weight: 1.0}`")
        terms: dict[str, tuple[float, nn.Module, str]] = {}
        for name, options in section.items():
            options = dict(options or {})
            if not isinstance(options, dict):
                raise GaitCompressError(f"{where}.{name}: expected a mapping", "write `{weight: 1.0, ...}`")
            weight = options.pop("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise GaitCompressError(f"{where}.{name}.weight: {weight!r} is not a number", "write e.g. weight: 1.0")
            key = options.pop("input", None)
            try:
                module = LOSSES.build(name, **options)
            except GaitCompressError as exc:
                raise GaitCompressError(f"{where}: {exc.message}", exc.hint) from None
            terms[name] = (float(weight), module, key or module.reads)
        return cls(terms)

    def forward(self, outputs: Mapping[str, Tensor], labels: Tensor) -> dict[str, Tensor]:
        losses: dict[str, Tensor] = {}
        stats: dict[str, Tensor] = {}
        for name, module in self.losses.items():
            key = self.inputs[name]
            if key not in outputs:
                raise GaitCompressError(
                    f"loss {name!r} reads model output {key!r}, which the model does not return",
                    did_you_mean(key, outputs),
                )
            value, extra = module(outputs[key], labels)
            losses[name] = self.weights[name] * value
            stats.update({f"{name}_{k}": v for k, v in extra.items()})
        self.stats = stats
        return losses

    def __repr__(self) -> str:
        return " + ".join(f"{self.weights[n]}·{n}({self.inputs[n]})" for n in self.losses)
