"""Rounding operators with their training-time gradients (plain tensor maths, no modules).

Every quantizer in `gaitcompress.quant` maps `x / v` to an integer grid with one of three roundings:

- `hard`: `torch.round` — round half to even, exactly what ONNX `QuantizeLinear` and TensorRT do. Eval always uses it.
- `ste`: hard round forward, identity backward (straight-through estimator, QGait eq. 4).
- `soft`: QGait's θ_k (eq. 6) forward, its analytic derivative backward (eq. 7).
- `softgrad`: hard round forward, ∂θ_k/∂x backward — the other reading of QGait §3.2, whose analysis concerns only
  the gradient; training then sees exactly the deployed (hard) network.

The clamp to `[r1, r2]` happens *before* the rounding, so its own gradient (1 inside, 0 outside) gives the
"0 outside the range" half of eqs. 4 and 7 for free.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class _RoundSTE(torch.autograd.Function):
    """round(x) forward, ∂/∂x = 1 backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        return grad


def round_ste(x: Tensor) -> Tensor:
    """Round half to even, straight-through gradient."""
    return _RoundSTE.apply(x)


def soft_round_value(x: Tensor, k: float) -> Tensor:
    """θ_k(x) = ⌊x⌋ + ½·tanh(k·d)/tanh(k/2) + ½ with d = x − ⌊x⌋ − ½ (QGait eq. 6).

    θ_k(n) = n and θ_k(n + ½) = n + ½ for integers n; θ_k → round(x) as k → ∞ (for x off the half-integers).
    """
    floor = torch.floor(x)
    d = x - floor - 0.5
    return floor + 0.5 * torch.tanh(k * d) / math.tanh(k / 2) + 0.5


def soft_round_grad(x: Tensor, k: float) -> Tensor:
    """∂θ_k/∂x = k·sech²(k·d) / (2·tanh(k/2)) (the floor contributes nothing between integers)."""
    d = x - torch.floor(x) - 0.5
    return k / (2 * math.tanh(k / 2)) / torch.cosh(k * d).square()


class _SoftRound(torch.autograd.Function):
    """θ_k(x) forward, analytic ∂θ_k/∂x backward (k is a Python float, not a tensor: no gradient to k)."""

    @staticmethod
    def forward(ctx, x: Tensor, k: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.k = k
        return soft_round_value(x, k)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * soft_round_grad(x, ctx.k), None


class _RoundSoftGrad(torch.autograd.Function):
    """round(x) forward, ∂θ_k/∂x backward."""

    @staticmethod
    def forward(ctx, x: Tensor, k: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.k = k
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * soft_round_grad(x, ctx.k), None


def soft_round(x: Tensor, k: float) -> Tensor:
    """QGait's differentiable soft round θ_k with its analytic backward."""
    if k < 1:
        raise ValueError(f"soft quantizer needs k >= 1 (QGait eq. 6), got {k}")
    return _SoftRound.apply(x, float(k))


def round_mode(x: Tensor, mode: str, k: float = 1.0) -> Tensor:
    """Round `x` with `mode` in {'hard', 'ste', 'soft', 'softgrad'}."""
    if mode == "ste":
        return round_ste(x)
    if mode == "soft":
        return soft_round(x, k)
    if mode == "softgrad":
        return _RoundSoftGrad.apply(x, float(k))
    if mode == "hard":
        return torch.round(x)
    raise ValueError(f"unknown rounding mode {mode!r}; use 'ste', 'soft', 'softgrad' or 'hard'")


def grad_scale(x: Tensor, scale: float) -> Tensor:
    """Identity forward, gradient multiplied by `scale` backward (LSQ's step-size gradient scaling)."""
    return (x - x * scale).detach() + x * scale
