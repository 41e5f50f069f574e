"""The TrainModule that lets the shared engine train a GaitCrafter generator.

A batch from the data loader (`Batch`: sils [N, T, H, W] in [0, 1], meta id/type/view) becomes clips
x_0 = 2·sils − 1 of shape [N, 1, T, H, W] and a `Condition` (one-hot id, view, covariate of the type);
the loss terms are the DDPM ε-MSE, averaged over the valid (unpadded) frames, and, with an identity critic
(`gaitcompress.synth.critic`), the critic's identity term on the denoised clip.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gaitcompress.data.batch import Batch, SeqMeta
from gaitcompress.errors import GaitCompressError
from gaitcompress.synth.conditioning import Condition, LabelSpace
from gaitcompress.synth.critic import IdentityCritic
from gaitcompress.synth.generator import GaitCrafter


def condition_from_meta(labels: LabelSpace, meta: Sequence[SeqMeta]) -> Condition:
    """One-hot identity, view and covariate indices for each sequence's meta."""
    ids = torch.tensor([labels.id_index(m.id) for m in meta], dtype=torch.long)
    return Condition(
        id_code=nn.functional.one_hot(ids, len(labels.ids)).float(),
        view=torch.tensor([labels.view_index(m.view) for m in meta], dtype=torch.long),
        covariate=torch.tensor([labels.covariate_index(m.type) for m in meta], dtype=torch.long),
    )


class GaitCrafterModule(nn.Module):
    """`training_losses(batch) → {'diffusion': ε-MSE[, 'identity': critic term]}`; `deploy_model()` is the generator.

    The critic is a plain attribute, not a submodule: the engine's `.train()`, optimiser and checkpoints see
    only the generator.
    """

    def __init__(self, generator: GaitCrafter, critic: IdentityCritic | None = None) -> None:
        super().__init__()
        self.generator = generator
        self.critic = critic

    def training_losses(self, batch: Batch) -> dict[str, Tensor]:
        g = self.generator
        n, t, h, w = batch.sils.shape
        if (t, h, w) != (g.frames, g.height, g.width):
            raise GaitCompressError(
                f"batch clips are {t}×{h}×{w} but the generator makes {g.frames}×{g.height}×{g.width}",
                "make data frames/size in the recipe match synth.frames and the input size",
            )
        x0 = (2 * batch.sils - 1)[:, None]  # [N, T, H, W] in [0,1] → [N, 1, T, H, W] in [−1,1]
        valid = torch.arange(t, device=x0.device)[None] < batch.lengths[:, None]  # [N, T]
        cond = condition_from_meta(g.labels, batch.meta).to(x0.device)
        d = g.denoising(x0, cond, mask=valid[:, None, :, None, None])
        if self.critic is None:
            return {"diffusion": d.mse}
        return {"diffusion": d.mse, "identity": self.critic.loss(d.x0_hat, x0, d.t, d.kept, batch.lengths)}

    def deploy_model(self) -> nn.Module:
        return self.generator
