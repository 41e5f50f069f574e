"""The part-based head every gait family here shares (OpenGait's `Baseline` after its backbone).

A family supplies a backbone that maps silhouettes `[N, T, 1, H, W]` to per-frame maps
`[N, T, C, h, w]`; this class adds temporal max over valid frames (`TP`), horizontal pooling into P
strips (`HPP`), the per-part FC (`FCs`, OpenGait `embed_1`) and the BNNeck classifier (`BNNecks`).
Attribute names are OpenGait's, so GaitBase's `state_dict` loads OpenGait checkpoints unchanged.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from gaitcompress.models.layers import BNNeck, HorizontalPool, SeparateFCs, TemporalMaxPool
from gaitcompress.models.spec import ModelSpec


class PartGaitModel(nn.Module):
    """Backbone → TP → HPP → SeparateFCs → BNNeck, returning the shared output dict.

    `forward(sils [N, T, H, W], lengths [N] | None)` → `{'embeddings' [N, E, P], 'logits' [N, K, P],
    'parts' [N, C, P]}`: embeddings are pre-BNNeck (retrieval features), logits unscaled cosines.
    """

    family: ClassVar[str] = ""
    spec: ModelSpec  # set by gaitcompress.models.create_model

    def __init__(self, backbone: nn.Module, feat_channels: int, embed_dim: int, parts: int, num_classes: int) -> None:
        super().__init__()
        self.parts = parts
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.Backbone = backbone
        self.TP = TemporalMaxPool()
        self.HPP = HorizontalPool(parts)
        self.FCs = SeparateFCs(parts, feat_channels, embed_dim)
        self.BNNecks = BNNeck(parts, embed_dim, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """OpenGait's init: Xavier-uniform conv/linear weights, zero biases, BN γ ~ N(1, 0.02), β = 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward_features(self, sils: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Silhouettes `[N, T, H, W]` → per-frame feature maps `[N, T, C, h, w]`.

        A per-frame backbone ignores `lengths`; one that mixes time takes them to keep padding out.
        """
        return self.Backbone(sils.unsqueeze(2))  # [N, T, 1, H, W] → [N, T, C, h, w]

    def forward_head(self, feats: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        """Per-frame maps `[N, T, C, h, w]` → the output dict (temporal max over valid frames only)."""
        pooled = self.TP(feats, lengths)  # [N, C, h, w]
        parts = self.HPP(pooled)  # [N, C, P]
        embeddings = self.FCs(parts)  # [N, E, P]
        _, logits = self.BNNecks(embeddings)  # [N, K, P]
        return {"embeddings": embeddings, "logits": logits, "parts": parts}

    def forward(self, sils: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        return self.forward_head(self.forward_features(sils, lengths), lengths)

    def tap_points(self) -> dict[str, str]:
        """Stage name → module path whose forward-*pre*-hook input is that stage's pre-activation output.

        Distillation hooks these paths (it never edits the model). Hooks inside the backbone see
        per-frame maps `[N·T, C, h, w]` for 2-D stages.
        """
        raise NotImplementedError
