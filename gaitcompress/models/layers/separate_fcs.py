"""Per-part fully connected layer (OpenGait's `SeparateFCs`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SeparateFCs(nn.Module):
    """An independent linear map per part: `[N, Cin, P]` → `[N, Cout, P]`.

    The weight is one 3-D parameter `fc_bin [P, Cin, Cout]` (OpenGait's key name), so
    `out[n, :, p] = x[n, :, p] @ fc_bin[p]`, no bias. It is the same operator as a grouped 1×1
    `Conv1d(P·Cin, P·Cout, groups=P)`, which is how quantizers and exporters may treat it; its cost
    is N·P·Cin·Cout MACs.
    """

    def __init__(self, parts: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.parts = parts
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.fc_bin = nn.Parameter(nn.init.xavier_uniform_(torch.empty(parts, in_channels, out_channels)))

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(2, 0, 1)  # [N, Cin, P] → [P, N, Cin]
        out = x.matmul(self.fc_bin)  # [P, N, Cin] @ [P, Cin, Cout] → [P, N, Cout]
        return out.permute(1, 2, 0).contiguous()  # [N, Cout, P]

    def extra_repr(self) -> str:
        return f"parts={self.parts}, in_channels={self.in_channels}, out_channels={self.out_channels}"
