"""Mix a generated (GaitCrafter) dataset into a real training set: the `data.mix` recipe option.

    data:
      max_train_seqs_per_id: 2        # few real sequences per id (applies to the real part only)
      mix: {root: runs/synth/samples, ratio: 1.0, novel: true}

The loader calls `mix_index` when `data.mix` is set, so every stage (teacher, student, QAT) trains on the
union and `train_ids` / `num_classes` include the novel ids. Generated sequences of a real id are more samples
of that class; novel ids (`syn…`) are new classes. `ratio` is the number of generated sequences kept per real
training sequence (after the per-id limit), chosen by a seeded permutation; 0 keeps none. Only the training
split changes: the test split and probe set are the real dataset's. A generated id that is a real *test* id
would leak test identities into training and is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from gaitcompress.data.index import DatasetIndex, SeqEntry, build_index
from gaitcompress.errors import GaitCompressError


def mix_index(index: DatasetIndex, real_train: Sequence[SeqEntry], mix: Any) -> DatasetIndex:
    """A copy of `index` whose training split is `real_train` plus the selected generated sequences.

    `mix` is the data config's mix section: `root`, `partition` (optional), `ratio`, `novel`, `seed`.
    """
    gen = build_index(str(mix.root), str(mix.partition) if mix.partition else None, "error")
    held_ids = {e.meta.id for e in [*index.test, *index.val]}  # validation ids are as unseen as test ids
    leaked = sorted({e.meta.id for e in gen.train} & held_ids)
    if leaked:
        raise GaitCompressError(
            f"{mix.root}: generated ids {leaked[:5]} are test ids (or validation ids) of {index.root}",
            "generate only training ids and novel (syn…) ids for data.mix",
        )
    real_ids = set(index.train_ids)
    pool = [e for e in gen.train if mix.novel or e.meta.id in real_ids]
    if mix.ratio < 0:
        raise GaitCompressError(f"data.mix.ratio={mix.ratio} is negative", "use 0 or more generated per real")
    keep = min(len(pool), round(mix.ratio * len(real_train)))
    chosen = np.random.default_rng(mix.seed).permutation(len(pool))[:keep]
    extra = [pool[i] for i in sorted(chosen.tolist())]
    train = sorted([*real_train, *extra], key=lambda e: (e.meta.id, e.meta.type, e.meta.view, str(e.path)))
    return dataclasses.replace(index, train=train)
