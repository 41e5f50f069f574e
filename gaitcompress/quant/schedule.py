"""Soft-quantizer k schedules for QGait's fine-tuning stage (QGait §4.3, Table 3a).

θ_k approaches round as k grows; QGait grows k during fine-tuning "until it reaches a predetermined threshold T",
and compares (Table 3a, Gait3D rank-1):

    FIXED   k = T throughout                         62.72 (T=3)   62.02 (T=5)
    GROW-1  +0.1 every 100 iterations up to T        64.88         65.48
    GROW-2  +0.2 every 100 iterations up to T        65.24         65.89   ← best; the default here (T = 5)
    GROW-3  +1 every 1000 iterations up to T         61.15         58.92

The paper does not state the starting k; eq. 6 requires k ≥ 1, so growth starts at k = 1. Quick CPU recipes run a
few dozen fine-tuning iterations, not 1–2K, so they keep GROW-2's increment and threshold and shorten `every`
(say so next to every number).
"""

from __future__ import annotations

from dataclasses import dataclass

from gaitcompress.errors import GaitCompressError, did_you_mean

SCHEDULES = ("grow", "fixed")


@dataclass(frozen=True)
class SoftKConfig:
    schedule: str = "grow"  # grow | fixed
    start: float = 1.0  # k at the first fine-tuning iteration (grow); eq. 6 needs k ≥ 1
    increment: float = 0.2  # grow: k += increment every `every` iterations ...
    every: int = 100
    threshold: float = 5.0  # ... up to T; `fixed` uses k = T throughout
    forward: str = "theta"  # theta: θ_k forward + ∂θ_k backward (eq. 6–7) | round: hard forward, ∂θ_k backward

    @property
    def mode(self) -> str:
        """The quantizer mode of the soft stage."""
        return "soft" if self.forward == "theta" else "softgrad"

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise GaitCompressError(
                f"quant.soft_k.schedule: unknown {self.schedule!r}", did_you_mean(self.schedule, SCHEDULES)
            )
        if self.start < 1 or self.threshold < 1:
            raise GaitCompressError("quant.soft_k: k must stay ≥ 1 (QGait eq. 6)", "set start and threshold ≥ 1")
        if self.forward not in ("theta", "round"):
            raise GaitCompressError(f"quant.soft_k.forward: unknown {self.forward!r}", "use theta or round")
        if self.every < 1:
            raise GaitCompressError("quant.soft_k.every must be ≥ 1", "e.g. every: 100")

    def k_at(self, iteration: int) -> float:
        """k for fine-tuning iteration `iteration` (0-based, counted from the start of the soft stage)."""
        if self.schedule == "fixed":
            return self.threshold
        return min(self.threshold, self.start + self.increment * (iteration // self.every))
