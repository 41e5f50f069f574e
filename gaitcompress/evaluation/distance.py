"""Pairwise distances between part-based gait embeddings, computed block by block.

Embeddings are `[N, C, P]` (channels × parts, OpenGait's `embed_1`). Both metrics compare part p of
one sequence with part p of the other and average over parts, as OpenGait's evaluator does:

- `euc`: d(x, y) = 1/P · Σ_p ‖x_p − y_p‖₂, with ‖a − b‖² = ‖a‖² + ‖b‖² − 2·a·b clamped at 0.
- `cos`: d(x, y) = 1 − 1/P · Σ_p cos(x_p, y_p).

Memory: the output is `Np · Ng · 4` bytes (400 MB for 10k × 10k). On top of it, one block pair holds a
few `[P, block, block]` float32 temporaries (≈ 4 · P · block² · 4 bytes: 64 MB for P = 16, block = 512)
plus `[P, block, C]` copies of the two blocks; the inputs are never copied whole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gaitcompress.errors import GaitCompressError

METRICS = ("euc", "cos")


def _prepare(x: torch.Tensor, metric: str) -> torch.Tensor:
    """[n, C, P] block → [P, n, C] float32 (unit-norm per part for `cos`)."""
    x = x.float().permute(2, 0, 1)  # [P, n, C]
    return F.normalize(x, dim=-1) if metric == "cos" else x


def _block_distance(x: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    """[P, a, C] × [P, b, C] → [a, b], the part-averaged distance."""
    if metric == "cos":
        return 1.0 - torch.bmm(x, y.transpose(1, 2)).mean(0)  # [P, a, b] → [a, b]
    # batched cdist uses ‖x‖² + ‖y‖² − 2·x·y (clamped) for large blocks; measured 2–3× faster than spelling
    # that out with bmm + element-wise ops, which dominate when C is small
    return torch.cdist(x, y).mean(0)  # [P, a, b] → [a, b]


def pairwise_distance(
    probe: torch.Tensor, gallery: torch.Tensor, metric: str = "euc", block: int = 512
) -> torch.Tensor:
    """Distances `[Np, Ng]` (float32, CPU-or-input device) between `probe [Np,C,P]` and `gallery [Ng,C,P]`.

    `block` rows of each side are compared at a time, bounding the temporaries (see the module docstring);
    the result does not depend on `block`.
    """
    if metric not in METRICS:
        raise GaitCompressError(f"unknown distance metric {metric!r}", f"use one of {', '.join(METRICS)}")
    if probe.dim() != 3 or gallery.dim() != 3 or probe.shape[1:] != gallery.shape[1:]:
        raise GaitCompressError(
            f"embeddings must be [N, C, P] with equal C, P; got {tuple(probe.shape)} and {tuple(gallery.shape)}",
            "pass the model's `embeddings` output",
        )
    if block < 1:
        raise GaitCompressError(f"block must be positive, got {block}")
    out = torch.empty(probe.shape[0], gallery.shape[0], dtype=torch.float32, device=probe.device)
    with torch.no_grad():
        for g0 in range(0, gallery.shape[0], block):
            y = _prepare(gallery[g0 : g0 + block], metric)
            for p0 in range(0, probe.shape[0], block):
                x = _prepare(probe[p0 : p0 + block], metric)
                out[p0 : p0 + block, g0 : g0 + block] = _block_distance(x, y, metric)
    return out
