"""`data.mix`: generated sequences join the (per-id limited) real training split through the real data reader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gaitcompress.data import DataConfig, build_test_loader, build_train_loader, train_ids
from gaitcompress.data.batch import SeqMeta
from gaitcompress.data.config import MixConfig
from gaitcompress.errors import GaitCompressError
from gaitcompress.synth.sample import write_dataset


def _write(root, ids, types, train, test, value=255):
    meta = [SeqMeta(i, t, v) for i in ids for t in types for v in ("000", "090")]
    frames = np.zeros((len(meta), 6, 64, 64), np.uint8)
    frames[:, :, 20:50, 25:39] = value
    write_dataset(root, frames, meta)
    (root / "partition.json").write_text(json.dumps({"TRAIN_SET": train, "TEST_SET": test}))
    return meta


@pytest.fixture()
def real(tmp_path):
    root = tmp_path / "real"
    _write(root, ["001", "002", "003"], ["nm-01", "nm-02", "cl-01"], ["001", "002"], ["003"])
    return root


def _cfg(real, **kw):
    return DataConfig(root=str(real), input_size=(16, 11), train_frames=4, batch_p=2, batch_k=2, **kw)


def test_mix_adds_generated_and_novel_ids_and_limits_only_real(real, tmp_path):
    gen = tmp_path / "gen"
    _write(gen, ["001", "syn0000"], ["cl-syn01", "bg-syn01"], ["001", "syn0000"], [])
    cfg = _cfg(real, max_train_seqs_per_id=1, mix=MixConfig(root=str(gen), ratio=2.0))
    assert train_ids(cfg) == ["001", "002", "syn0000"]
    entries = list(build_test_loader(cfg, split="train"))
    metas = [m for b in entries for m in b.meta]
    real_kept = [m for m in metas if "syn" not in m.type]
    assert len(real_kept) == 2  # one real sequence per id (001, 002)
    assert len(metas) - len(real_kept) == 4  # ratio 2 × 2 real sequences
    batch = next(build_train_loader(cfg, seed=0))
    assert batch.sils.shape == (4, 4, 16, 11) and int(batch.labels.max()) <= 2
    test = [m for b in build_test_loader(cfg) for m in b.meta]
    assert {m.id for m in test} == {"003"}  # the test split stays real


def test_mix_without_novel_ids_and_with_ratio_zero(real, tmp_path):
    gen = tmp_path / "gen"
    _write(gen, ["001", "syn0000"], ["cl-syn01"], ["001", "syn0000"], [])
    no_novel = _cfg(real, mix=MixConfig(root=str(gen), novel=False, ratio=10))
    assert train_ids(no_novel) == ["001", "002"]
    none = _cfg(real, mix=MixConfig(root=str(gen), ratio=0))
    assert sum(len(b) for b in build_test_loader(none, split="train")) == 12


def test_mix_refuses_generated_test_ids(real, tmp_path):
    gen = tmp_path / "gen"
    _write(gen, ["003"], ["nm-syn01"], ["003"], [])
    with pytest.raises(GaitCompressError, match="test ids"):
        train_ids(_cfg(real, mix=MixConfig(root=str(gen))))
