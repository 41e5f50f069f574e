"""The validation split: training identities held out of training, for every choice a study makes.

    data: {val_ids: 10}      # the last 10 sorted training ids are validation ids, not trained on
    eval: {split: val}       # score them (default `test`: the partition's test ids)

`hold_out` moves every sequence of the last `n` sorted training ids (the class order, so the same ids in every
run and on every machine) from the index's training split to its `val` split. Training, classes and calibration
then see only the remaining ids; `eval.split: val` scores the held-out ones with the recipe's protocol (CASIA-B
style NM/BG/CL probes against the NM gallery for SynthGait), exactly as the test ids are scored. The test split is
untouched, so a model chosen on `val` is scored once on `test`. Applies to SynthGait and OpenGait-layout roots
alike; `data.val_ids: 0` (the default) changes nothing.
"""

from __future__ import annotations

import dataclasses

from gaitcompress.data.index import DatasetIndex
from gaitcompress.errors import GaitCompressError


def hold_out(index: DatasetIndex, n: int) -> DatasetIndex:
    """A copy of `index` whose last `n` sorted training ids form its `val` split instead of training."""
    if n == 0:
        return index
    ids = index.train_ids
    if n >= len(ids):
        raise GaitCompressError(
            f"data.val_ids={n} holds out every one of the {len(ids)} training ids of {index.partition}",
            f"use fewer validation ids, e.g. data.val_ids={max(1, len(ids) // 3)}",
        )
    val_ids = set(ids[-n:])
    return dataclasses.replace(
        index,
        train=[e for e in index.train if e.meta.id not in val_ids],
        val=[e for e in index.train if e.meta.id in val_ids],
    )
