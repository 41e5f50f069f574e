"""Read intermediate tensors of a model through forward hooks, without editing the model (torchdistill-style).

A tap path names a sub-module as `named_modules()` spells it (`backbone.layer3.0.relu`). What is captured:
- an activation module (ReLU & co.): its *input*, i.e. the pre-activation, the tensor boundary losses need
  (a module called several times in one forward — torchvision's BasicBlock reuses one ReLU — keeps its last
  call, which in a residual block is the block's output before the final activation);
- any other module: its output.

Paths are resolved when the taps are built, so a typo fails at setup with the nearest valid path instead of
as a missing key deep inside training. Hooks exist only inside the `with` block and are removed on exit, so a
model leaving training carries none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from gaitcompress.errors import GaitCompressError, did_you_mean

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Hardswish, nn.ELU, nn.PReLU)


class FeatureTaps:
    """Hooks on `paths` of `model`; `with taps as feats:` fills `feats[path]` during the forwards inside it."""

    def __init__(self, model: nn.Module, paths: Sequence[str], owner: str = "model") -> None:
        modules = dict(model.named_modules())
        for path in paths:
            if path not in modules:
                raise GaitCompressError(
                    f"{owner} has no module {path!r} to tap",
                    did_you_mean(path, [name for name in modules if name]),
                )
        self.modules = {path: modules[path] for path in dict.fromkeys(paths)}
        self.features: dict[str, Tensor] = {}

    def __enter__(self) -> dict[str, Tensor]:
        self.features.clear()
        self._handles = [self._hook(path, module) for path, module in self.modules.items()]
        return self.features

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, path: str, module: nn.Module) -> Any:
        if isinstance(module, ACTIVATIONS):

            def pre_hook(_m: nn.Module, args: tuple[Any, ...]) -> None:
                self.features[path] = args[0]

            return module.register_forward_pre_hook(pre_hook)

        def hook(_m: nn.Module, _args: tuple[Any, ...], output: Any) -> None:
            self.features[path] = output

        return module.register_forward_hook(hook)
