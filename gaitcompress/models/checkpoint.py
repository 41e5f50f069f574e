"""Old import path of `gaitcompress.models.weights` (FP32 checkpoint dicts → models), kept for existing callers."""

from gaitcompress.models.weights import (  # noqa: F401
    clean_state_dict,
    load_checkpoint,
    load_weights,
    model_from_checkpoint,
    read_checkpoint,
    save_opengait,
)
