"""Gaussian diffusion for silhouette clips: DDPM ε-prediction training, DDPM and DDIM sampling.

Forward process (Ho et al. 2020): x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε, ε ~ N(0, I), clips x_0 in [−1, 1].
Training minimises ‖ε − ε_θ(x_t, t, c)‖² with t uniform in [0, T). Schedules: `cosine` (Nichol & Dhariwal
2021, ᾱ(t) = cos²(((t/T)+s)/(1+s)·π/2), β capped at 0.999) or `linear` (β from 1e-4 to 0.02).

Samplers predict x̂_0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t and clip it to [−1, 1] (silhouettes are bounded, which
removes most saturation artefacts), then
- DDPM: ancestral steps through all T with the posterior q(x_{t−1} | x_t, x̂_0);
- DDIM (Song et al. 2021): a strided subsequence of S steps,
  x_{t'} = √ᾱ_{t'}·x̂_0 + √(1−ᾱ_{t'}−σ²)·ε̂ + σ·z, σ = η·√((1−ᾱ_{t'})/(1−ᾱ_t)·(1−ᾱ_t/ᾱ_{t'})); η = 0 is deterministic.
Classifier-free guidance (Ho & Salimans 2022): ε̂ = ε̂_uncond + w·(ε̂_cond − ε̂_uncond); w = 1 is plain conditioning.
All randomness comes from one `torch.Generator`, so a seed fixes the samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from gaitcompress.errors import GaitCompressError

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t [N,...], t [N] long) → ε̂ [N,...]


@dataclass(frozen=True)
class DiffusionConfig:
    steps: int = 1000  # T, training diffusion steps
    schedule: str = "cosine"  # cosine | linear
    sample_steps: int = 50  # DDIM steps S
    eta: float = 0.0  # DDIM stochasticity (0 = deterministic)
    cond_drop: float = 0.1  # probability of dropping all labels in training (classifier-free guidance)
    guidance: float = 1.0  # guidance weight w at sampling (1 = no guidance)


def beta_schedule(name: str, steps: int) -> torch.Tensor:
    """β_t for t = 0..steps−1 (float64)."""
    if name == "linear":
        return torch.linspace(1e-4, 0.02, steps, dtype=torch.float64) * (1000 / steps)
    if name == "cosine":
        s = 0.008
        x = torch.linspace(0, steps, steps + 1, dtype=torch.float64)
        abar = torch.cos(((x / steps) + s) / (1 + s) * math.pi / 2) ** 2
        abar = abar / abar[0]
        return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)
    raise GaitCompressError(f"unknown noise schedule {name!r}", "use 'cosine' or 'linear'")


class GaussianDiffusion:
    """The fixed forward process and the samplers; holds no parameters."""

    def __init__(self, cfg: DiffusionConfig) -> None:
        self.cfg = cfg
        betas = beta_schedule(cfg.schedule, cfg.steps)
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1 - betas, dim=0)  # ᾱ_t, float64 [T]

    def _abar(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """ᾱ_t gathered per row and shaped to broadcast over `like` [N, ...]."""
        a = self.alphas_cumprod.to(like.device)[t].to(like.dtype)
        return a.reshape(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε."""
        a = self._abar(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def noised(
        self, x0: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A training draw: t uniform in [0, T), ε ~ N(0, I) and x_t → (t [N], ε, x_t)."""
        t = torch.randint(0, self.cfg.steps, (x0.shape[0],), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        return t, noise, self.q_sample(x0, t, noise)

    def predict_x0(self, x: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x̂_0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t, clipped to [−1, 1]."""
        a = self._abar(t, x)
        return ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)

    def _x0_eps(self, x: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clipped x̂_0 and the ε consistent with it."""
        a = self._abar(t, x)
        x0 = self.predict_x0(x, t, eps)
        return x0, (x - a.sqrt() * x0) / (1 - a).sqrt()

    @torch.no_grad()
    def ddim(
        self,
        eps_fn: EpsFn,
        shape: tuple[int, ...],
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        steps: int | None = None,
    ) -> torch.Tensor:
        """DDIM with `steps` (default `cfg.sample_steps`) strided steps, η = `cfg.eta` → x̂_0 in [−1, 1]."""
        s = max(1, min(steps or self.cfg.sample_steps, self.cfg.steps))
        ts = torch.linspace(self.cfg.steps - 1, 0, s).round().long().unique_consecutive()
        x = torch.randn(shape, generator=generator).to(device)
        abar = self.alphas_cumprod
        for i, t in enumerate(ts.tolist()):
            tt = torch.full((shape[0],), t, dtype=torch.long, device=device)
            x0, eps = self._x0_eps(x, tt, eps_fn(x, tt))
            if i == len(ts) - 1:
                return x0
            a_t, a_n = abar[t], abar[ts[i + 1]]
            sigma = self.cfg.eta * math.sqrt((1 - a_n) / (1 - a_t) * (1 - a_t / a_n))
            x = a_n.sqrt().item() * x0 + math.sqrt(max(1 - a_n.item() - sigma**2, 0.0)) * eps
            if sigma > 0:
                x = x + sigma * torch.randn(shape, generator=generator).to(device)
        return x

    @torch.no_grad()
    def ddpm(
        self, eps_fn: EpsFn, shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """Ancestral DDPM sampling through all T steps → x̂_0 in [−1, 1]."""
        x = torch.randn(shape, generator=generator).to(device)
        abar, betas = self.alphas_cumprod, self.betas
        for t in reversed(range(self.cfg.steps)):
            tt = torch.full((shape[0],), t, dtype=torch.long, device=device)
            x0, _ = self._x0_eps(x, tt, eps_fn(x, tt))
            if t == 0:
                return x0
            a_t, a_p = abar[t].item(), abar[t - 1].item()
            beta = betas[t].item()
            # posterior mean μ̃ = [√ᾱ_{t−1}·β_t·x̂_0 + √(1−β_t)·(1−ᾱ_{t−1})·x_t] / (1−ᾱ_t), variance β̃_t
            mean = (math.sqrt(a_p) * beta * x0 + math.sqrt(1 - beta) * (1 - a_p) * x) / (1 - a_t)
            var = beta * (1 - a_p) / (1 - a_t)
            x = mean + math.sqrt(var) * torch.randn(shape, generator=generator).to(device)
        return x


def guided(eps_cond: EpsFn, eps_uncond: EpsFn, weight: float) -> EpsFn:
    """Classifier-free guidance: ε̂_u + w·(ε̂_c − ε̂_u); w = 1 skips the unconditional pass, w = 0 the conditional."""
    if weight == 1.0:
        return eps_cond
    if weight == 0.0:
        return eps_uncond

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        e_u = eps_uncond(x, t)
        return e_u + weight * (eps_cond(x, t) - e_u)

    return fn
