"""Temporal max pooling over the valid frames of padded sequences (OpenGait's `TP = max`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TemporalMaxPool(nn.Module):
    """Max over time of `x [N, T, ...]`, ignoring frames at or past each row's length.

    Rows are zero-padded past their length (the `Batch` contract); a plain max would let the
    padding win wherever all real activations are negative, so padded frames are set to −∞ first.
    `lengths=None` means every frame is valid (one sequence per row, or equal lengths).
    Returns `[N, ...]`.
    """

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if lengths is None:
            return x.amax(dim=1)
        t = x.shape[1]
        valid = torch.arange(t, device=x.device)[None, :] < lengths.to(x.device)[:, None]  # [N, T]
        valid = valid.reshape(valid.shape + (1,) * (x.dim() - 2))  # [N, T, 1, ...] to broadcast
        return x.masked_fill(~valid, float("-inf")).amax(dim=1)
