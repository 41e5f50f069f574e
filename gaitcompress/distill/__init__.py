"""GaitKD-style knowledge distillation: losses, taps, connectors, terms and the training module.

- `losses`: tensor losses registered in `DISTILL_LOSSES` (one file each, formula in the docstring);
- `taps.FeatureTaps`: forward hooks on module paths, resolved at setup, removed on exit;
- `connectors`: part-axis alignment and width connectors (training only);
- `terms`: `TermConfig` (one recipe line) → `DistillTerm` (routing + weight);
- `module.DistillModule`: the engine's `TrainModule` (student + frozen teachers + terms);
- `stage.run_distill`: recipe → run folder (the `gaitcompress distill` command).
"""

from gaitcompress.distill.losses import DISTILL_LOSSES
from gaitcompress.distill.module import DistillModule
from gaitcompress.distill.taps import FeatureTaps
from gaitcompress.distill.terms import DistillTerm, TermConfig

__all__ = ["DISTILL_LOSSES", "DistillModule", "DistillTerm", "FeatureTaps", "TermConfig"]
