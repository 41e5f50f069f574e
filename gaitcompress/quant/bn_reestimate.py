"""BatchNorm re-estimation after QAT: running statistics recomputed under the quantization that deploys.

QAT's BatchNorm running mean and variance are exponential averages over batches seen while the weights and steps
moved, and in QGait's stage 2 under the soft quantizer θ_k, whose training-mode forward is not the hard rounding
the deployed (eval-mode) model runs. The deployed model then normalises with the statistics of a network that no
longer exists. Re-estimating them is standard QAT practice: reset every BatchNorm's running statistics, run a few
training batches with every quantizer in eval mode (hard rounding, as deployed) and only the BatchNorm layers in
training mode with a cumulative average (`momentum=None`), without gradients; while they accumulate, BatchNorm layers
normalise by each batch's statistics, as `torch.optim.swa_utils.update_bn` does. Weights, quantizer steps and the
BatchNorm affine parameters do not change; export folds the new statistics like any others.

    quant:
      bn_reestimate: 32   # training batches (P×K sequences each) after the last stage; 0 = off (the default)
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn

from gaitcompress.data.batch import Batch
from gaitcompress.progress import NULL, Tracker


def batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm of `model` that keeps running statistics (the ones eval mode reads)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def reestimate_bn(
    model: nn.Module, batches: Iterable[Batch], num_batches: int, device: torch.device | str = "cpu",
    tracker: Tracker = NULL,
) -> int:  # fmt: skip
    """Replace the running statistics of `model`'s BatchNorms by their average over `num_batches` of `batches`,
    computed with the rest of the model in eval mode; returns the number of batches used.

    Under DDP each rank averages its own batches, then the ranks' statistics are averaged, so every rank holds the
    same model. The model's train/eval mode and each BatchNorm's momentum are restored.
    """
    bns = batchnorms(model)
    if not bns or num_batches < 1:
        return 0
    was_training, momenta = model.training, [bn.momentum for bn in bns]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: every batch counts equally
        bn.train()
    used = 0
    try:
        with tracker.task("bn re-estimation", total=num_batches) as progress:
            for batch in batches:
                if used == num_batches:
                    break
                model(batch.sils.to(device), lengths=batch.lengths)
                used += 1
                progress(1)
    finally:
        for bn, momentum in zip(bns, momenta, strict=True):
            bn.momentum = momentum
        model.train(was_training)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        for bn in bns:
            for stat in (bn.running_mean, bn.running_var):
                dist.all_reduce(stat)
                stat /= dist.get_world_size()
    return used
