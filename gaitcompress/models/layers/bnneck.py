"""BNNeck with cosine part classifiers (OpenGait's `SeparateBNNecks`, `parallel_BN1d=True, norm=True`).

The triplet loss reads the features before this neck; the classifier reads them after a batch norm
(Luo et al., "Bag of Tricks" BNNeck), which keeps the two losses from fighting over one space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BNNeck(nn.Module):
    """`[N, C, P]` → (normalised features `[N, C, P]`, cosine logits `[N, K, P]`).

    1. `bn1d = BatchNorm1d(C·P)` on the channel-major flattening `x.view(N, C·P)` (index c·P + p).
    2. Per part, L2-normalise the feature over C.
    3. `logits[n, k, p] = f̂[n, :, p] · ŵ[p, :, k]` with `ŵ = fc_bin / ‖fc_bin‖` over C,
       `fc_bin [P, C, K]`. Logits are cosines in [−1, 1], unscaled (the CE loss multiplies by 16).
    """

    def __init__(self, parts: int, channels: int, num_classes: int) -> None:
        super().__init__()
        self.parts = parts
        self.channels = channels
        self.num_classes = num_classes
        self.fc_bin = nn.Parameter(nn.init.xavier_uniform_(torch.empty(parts, channels, num_classes)))
        self.bn1d = nn.BatchNorm1d(channels * parts)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        n, c, p = x.shape
        x = self.bn1d(x.reshape(n, c * p)).view(n, c, p)  # [N, C·P] channel-major, back to [N, C, P]
        feature = F.normalize(x.permute(2, 0, 1), dim=-1)  # [P, N, C], unit norm per part
        logits = feature.matmul(F.normalize(self.fc_bin, dim=1))  # [P, N, C] @ [P, C, K] → [P, N, K]
        return feature.permute(1, 2, 0).contiguous(), logits.permute(1, 2, 0).contiguous()  # [N,C,P], [N,K,P]

    def extra_repr(self) -> str:
        return f"parts={self.parts}, channels={self.channels}, num_classes={self.num_classes}"
