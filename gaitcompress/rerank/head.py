"""CarGait's re-ranking head (Cohen et al., ICCV 2025, seed 001): strip-wise cross-attention between a probe and a
candidate, and the distance of the pair in the new embedding space.

For strip features F_p, F_c ∈ R^{s×d} (the gait model's `parts`, or its `embeddings`, as `[s, d]`):

    E_p = MHA(Q=F_p, K=V=F_c) + F_p          E_c = MHA(Q=F_c, K=V=F_p) + F_c
    d(p, c) = 1/s · Σ_i ‖E_p[i] − E_c[i]‖₂

Choices the paper leaves open (docs/rerank.md): one attention module serves both directions, so d(p, c) = d(c, p);
queries, keys and values are layer-normalised (pre-norm) while the residual keeps the raw strips; the attention's
output projection starts at zero, so an untrained head returns exactly the part-averaged Euclidean distance of its
input strips (with `embeddings` as strips: the first-stage distance itself) and training starts from stage 1's order.
The MLP classifier of the paper's regulariser lives in the training module, not here: it costs nothing at inference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

FEATURE_SOURCES = ("parts", "embeddings")


@dataclass(frozen=True)
class HeadSpec:
    """Enough to rebuild a head from a checkpoint (mirrors the gait models' `spec`)."""

    family: str = "cargait"
    name: str = "cargait"
    num_classes: int = 0  # the head has no classifier; kept for the shared spec shape
    parts: int = 16  # strips s
    kwargs: dict[str, Any] = field(default_factory=dict)  # dim, heads, features


class CarGaitHead(nn.Module):
    """`forward(probe [B, s, d], candidate [B, s, d])` → distances `[B]`; `embed` also returns E_p, E_c."""

    def __init__(self, dim: int, parts: int, heads: int = 4, features: str = "parts", dropout: float = 0.0) -> None:
        super().__init__()
        if features not in FEATURE_SOURCES:
            raise ValueError(f"features must be one of {FEATURE_SOURCES}, got {features!r}")
        if dim % heads:
            raise ValueError(f"strip dimension {dim} is not divisible by {heads} heads")
        self.dim, self.parts, self.features = dim, parts, features
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)
        self.spec = HeadSpec(parts=parts, kwargs={"dim": dim, "heads": heads, "features": features})

    def cross(self, query: Tensor, context: Tensor) -> Tensor:
        """E = MHA(Q=query, K=V=context) + query, all `[B, s, d]`."""
        q, kv = self.norm(query), self.norm(context)
        attended, _ = self.attn(q, kv, kv, need_weights=False)  # [B, s, d]
        return attended + query

    def embed(self, probe: Tensor, candidate: Tensor) -> tuple[Tensor, Tensor]:
        """(E_p, E_c), each `[B, s, d]`."""
        return self.cross(probe, candidate), self.cross(candidate, probe)

    def forward(self, probe: Tensor, candidate: Tensor) -> Tensor:
        e_p, e_c = self.embed(probe, candidate)
        return strip_distance(e_p, e_c)


def strip_distance(a: Tensor, b: Tensor) -> Tensor:
    """Mean over strips of the Euclidean distance: `[B, s, d]` × 2 → `[B]`.

    Written as sqrt(Σ diff² + tiny) rather than `norm` so the gradient at identical strips is finite, and with
    plain ops so the ONNX export needs no special operator.
    """
    diff = a - b
    return (diff * diff).sum(-1).clamp_min(1e-12).sqrt().mean(-1)


def strips(output: dict[str, Tensor] | Any, features: str) -> Tensor:
    """Model output (dict) or a `[N, d, s]` tensor → strips `[N, s, d]` as the head reads them."""
    x = output[features] if isinstance(output, dict) else output
    return x.float().transpose(1, 2).contiguous()  # [N, d, s] → [N, s, d]


def build_head(spec: HeadSpec | dict[str, Any]) -> CarGaitHead:
    """A head from its spec (a `HeadSpec` or its dict form from a checkpoint)."""
    if isinstance(spec, dict):
        spec = HeadSpec(**spec)
    return CarGaitHead(parts=spec.parts, **spec.kwargs)
