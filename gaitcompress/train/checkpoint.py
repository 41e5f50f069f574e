"""Old import path of `gaitcompress.checkpoints` (the one checkpoint module), kept for existing callers."""

from gaitcompress.checkpoints import (  # noqa: F401
    CKPT_DIR,
    FINAL,
    CheckpointDir,
    atomic_save,
    atomic_write_text,
    load,
    resolve_checkpoint,
    rng_state,
    seed_everything,
    set_rng_state,
)
