"""The GaitCrafter generator: conditioner + 3D U-Net + diffusion, saved and rebuilt from its `spec`.

`GaitCrafter(x_t, t, cond) → ε̂` is the network; `generate(cond, seed)` runs DDIM (or DDPM) and returns
clips in [0, 1]. Like every gaitcompress model it carries `spec` (family, name, num_classes, parts, kwargs),
so a checkpoint written by the training engine (`'model'` + `'spec'`) rebuilds it with `load_generator`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gaitcompress.errors import GaitCompressError, did_you_mean
from gaitcompress.recipe import to_dict
from gaitcompress.synth.conditioning import Condition, Conditioner, LabelSpace
from gaitcompress.synth.diffusion import DiffusionConfig, GaussianDiffusion, guided
from gaitcompress.synth.unet3d import PRESETS, UNet3D, UNetConfig


@dataclass(frozen=True)
class GeneratorSpec:
    family: str
    name: str  # U-Net preset
    num_classes: int  # identities the generator knows
    parts: int = 0
    kwargs: dict[str, Any] = field(default_factory=dict)  # build_generator(**kwargs) rebuilds it


@dataclass
class Denoised:
    """One training draw: the ε-MSE, the clipped x̂_0 [N, 1, T, H, W], its steps t [N], rows that kept labels [N]."""

    mse: torch.Tensor
    x0_hat: torch.Tensor
    t: torch.Tensor
    kept: torch.Tensor


class GaitCrafter(nn.Module):
    """Identity/view/covariate-conditioned ε-predictor for clips [N, 1, T, H, W] in [−1, 1]."""

    def __init__(
        self,
        labels: LabelSpace,
        frames: int,
        height: int,
        width: int,
        unet: UNetConfig,
        diffusion: DiffusionConfig,
        spec: GeneratorSpec,
    ) -> None:
        super().__init__()
        self.labels, self.frames, self.height, self.width = labels, frames, height, width
        self.diffusion = GaussianDiffusion(diffusion)
        self.spec = spec
        emb_dim = 4 * unet.channels
        self.cond = Conditioner(
            labels, emb_dim, time_dim=unet.channels, height=height, width=width, in_embedding=unet.scale_shift
        )
        self.unet = UNet3D(unet, emb_dim)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition) -> torch.Tensor:
        """ε̂ for x_t [N, 1, T, H, W] at steps t [N]."""
        return self.unet(x_t + self.cond.input_map(cond), self.cond.embedding(t, cond))

    def denoising(self, x0: torch.Tensor, cond: Condition, mask: torch.Tensor | None = None) -> Denoised:
        """One DDPM training draw on clips x0 [N, 1, T, H, W] in [−1, 1], labels dropped at rate `cond_drop`.

        Returns the ε-MSE over the elements where `mask` (broadcastable to x0) is 1, and what an extra
        training term on the denoised clip needs (x̂_0, t, which rows kept their labels).
        """
        cond = cond.drop(self.diffusion.cfg.cond_drop)
        t, noise, x_t = self.diffusion.noised(x0)
        eps = self(x_t, t, cond)
        err = (eps - noise) ** 2
        mse = err.mean() if mask is None else (err * mask.expand_as(err)).sum() / mask.expand_as(err).sum().clamp(min=1)
        kept = cond.view > 0  # a dropped row has the null view (views are 1-based)
        return Denoised(mse, self.diffusion.predict_x0(x_t, t, eps), t, kept)

    @torch.no_grad()
    def generate(
        self,
        cond: Condition,
        seed: int = 0,
        method: str = "ddim",
        guidance: float | None = None,
        steps: int | None = None,
    ) -> torch.Tensor:
        """Sample clips for `cond` → float [N, T, H, W] in [0, 1] (not yet thresholded); `steps` for DDIM."""
        device = next(self.parameters()).device
        cond = cond.to(device)
        null = cond.null()
        w = self.diffusion.cfg.guidance if guidance is None else guidance
        eps = guided(lambda x, t: self(x, t, cond), lambda x, t: self(x, t, null), w)
        shape = (len(cond), 1, self.frames, self.height, self.width)
        gen = torch.Generator().manual_seed(seed)
        if method == "ddim":
            x = self.diffusion.ddim(eps, shape, gen, device, steps)
        elif method == "ddpm":
            x = self.diffusion.ddpm(eps, shape, gen, device)
        else:
            raise GaitCompressError(f"unknown sampler {method!r}", "use 'ddim' (fast) or 'ddpm'")
        return ((x[:, 0] + 1) / 2).clamp(0, 1)  # [N, 1, T, H, W] → [N, T, H, W]


def build_generator(
    ids: list[str],
    views: list[str],
    covariates: list[str],
    frames: int,
    height: int,
    width: int,
    preset: str = "small",
    unet: dict[str, Any] | None = None,
    diffusion: dict[str, Any] | None = None,
) -> GaitCrafter:
    """Build a generator for a label space and clip size; `unet` overrides fields of the preset."""
    if preset not in PRESETS:
        raise GaitCompressError(f"unknown GaitCrafter size preset {preset!r}", did_you_mean(preset, PRESETS))
    unet_cfg = dataclasses.replace(
        PRESETS[preset], **{k: tuple(v) if k == "mults" else v for k, v in (unet or {}).items()}
    )
    diff_cfg = DiffusionConfig(**(diffusion or {}))
    labels = LabelSpace(tuple(ids), tuple(views), tuple(covariates))
    kwargs = dict(
        ids=list(ids), views=list(views), covariates=list(covariates), frames=frames, height=height, width=width,
        preset=preset, unet=to_dict(unet_cfg), diffusion=to_dict(diff_cfg),
    )  # fmt: skip
    spec = GeneratorSpec(family="gaitcrafter", name=preset, num_classes=len(ids), kwargs=kwargs)
    return GaitCrafter(labels, frames, height, width, unet_cfg, diff_cfg, spec)


def load_generator(path: str | Path, map_location: str = "cpu") -> GaitCrafter:
    """Rebuild a generator from a training checkpoint (`'model'` + `'spec'`)."""
    path = Path(path)
    if not path.is_file():
        raise GaitCompressError(f"generator checkpoint not found: {path}", "train one with `gaitcompress synth train`")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    spec = ckpt.get("spec") if isinstance(ckpt, dict) else None
    if not spec or spec.get("family") != "gaitcrafter":
        raise GaitCompressError(
            f"{path} is not a GaitCrafter checkpoint (spec family {spec and spec.get('family')!r})",
            "pass a checkpoint written by `gaitcompress synth train`",
        )
    model = build_generator(**spec["kwargs"])
    model.load_state_dict(ckpt["model"])
    return model.eval()
