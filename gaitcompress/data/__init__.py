"""gaitcompress.data: OpenGait-layout reader, SynthGait, sampling, transforms, loaders (DESIGN.md §4)."""

from gaitcompress.data.batch import Batch, SeqMeta, collate
from gaitcompress.data.config import AugmentConfig, DataConfig
from gaitcompress.data.loader import build_test_loader, build_train_loader, num_classes, probe_set, train_ids
from gaitcompress.data.synthgait.config import SynthConfig

__all__ = [
    "AugmentConfig",
    "Batch",
    "DataConfig",
    "SeqMeta",
    "SynthConfig",
    "build_test_loader",
    "build_train_loader",
    "collate",
    "num_classes",
    "probe_set",
    "train_ids",
]
