"""The `TrainModule` contract the engine runs, and the plain supervised one.

A TrainModule is an `nn.Module` with
- `training_losses(batch) -> dict[str, Tensor]`: scalar terms, already weighted; the engine sums and logs them by name;
- `deploy_model() -> nn.Module`: the model that is evaluated and saved as the checkpoint's `'model'`;
- optionally `no_weight_decay() -> set[str]` on it or on any sub-module (names relative to that sub-module), for
  parameters such as quantizer steps that weight decay must not shrink;
- optionally `training_stats() -> dict[str, Tensor]`: detached diagnostics of the last step (e.g. CE accuracy), logged
  next to the loss terms but not summed.
Its `state_dict()` is the checkpoint's `'train_state'`: whatever a later stage adds as registered sub-modules or
buffers (connectors, quantizer steps, the soft-quantizer k) is saved and restored with it. Teachers are held outside
the registered children (e.g. in a plain attribute list) so they are neither trained nor saved.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn


@runtime_checkable
class TrainModule(Protocol):
    def training_losses(self, batch: Any) -> dict[str, Tensor]: ...

    def deploy_model(self) -> nn.Module: ...


class SupervisedModule(nn.Module):
    """A gait model trained with a loss set on its own outputs (OpenGait's triplet + CE)."""

    def __init__(self, model: nn.Module, loss_set: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.loss_set = loss_set

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        out = self.model(batch.sils, lengths=batch.lengths)
        return self.loss_set(out, batch.labels)

    def deploy_model(self) -> nn.Module:
        return self.model

    def training_stats(self) -> dict[str, Tensor]:
        return dict(getattr(self.loss_set, "stats", {}))
