"""OpenGait-layout reader: restricted unpickler, every bad-input case, index and loaders."""

import json
import logging
import os
import pickle

import numpy as np
import pytest

from gaitcompress.data import DataConfig, SeqMeta, build_test_loader, build_train_loader, num_classes, train_ids
from gaitcompress.data.index import build_index
from gaitcompress.data.io import load_sequence
from gaitcompress.errors import GaitCompressError


def _seq(frames=6, seed=0):
    return (np.random.default_rng(seed).random((frames, 64, 64)) > 0.5).astype(np.uint8) * 255


TYPES, VIEWS = ("nm-01", "nm-02"), ("000", "090")


def make_dataset(root, train=("001", "002", "003"), test=("004", "005"), types=TYPES, views=VIEWS):
    for i, sid in enumerate(train + test):
        for t in types:
            for v in views:
                d = root / sid / t / v
                d.mkdir(parents=True)
                with open(d / f"{v}.pkl", "wb") as f:
                    pickle.dump(_seq(seed=i), f)
    (root / "partition.json").write_text(json.dumps({"TRAIN_SET": list(train), "TEST_SET": list(test)}))
    build_index.cache_clear()
    return root


def _pkl(root):
    return root / "001" / "nm-01" / "000" / "000.pkl"


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_code_and_names_file(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(GaitCompressError, match=r"evil\.pkl.*refusing to unpickle posix\.system"):
        load_sequence(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickle_npy_npz_roundtrip(tmp_path, protocol):
    arr = _seq()
    (tmp_path / "a.pkl").write_bytes(pickle.dumps(arr, protocol=protocol))
    np.save(tmp_path / "a.npy", arr)
    np.savez(tmp_path / "a.npz", sils=arr)
    np.save(tmp_path / "b.npy", arr > 0)  # bool and float [0, 1] silhouettes map to 0..255
    np.save(tmp_path / "f.npy", arr.astype(np.float32) / 255)
    for name in ("a.pkl", "a.npy", "a.npz", "b.npy", "f.npy"):
        assert np.array_equal(load_sequence(tmp_path / name), arr)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty file"),
        (pickle.dumps(_seq())[:200], "truncated or corrupt"),
        (pickle.dumps(np.zeros((3, 64, 64), np.complex64)), "dtype complex64"),
        (pickle.dumps(np.zeros((64, 64), np.uint8)), r"shape \(64, 64\)"),
        (pickle.dumps(np.zeros((0, 64, 64), np.uint8)), "zero frames"),
        (pickle.dumps(np.full((3, 64, 64), np.nan, np.float32)), "NaN"),
        (pickle.dumps({"sils": 1}), "holds a dict"),
    ],
)
def test_bad_file_errors_name_the_file_or_skip(tmp_path, content, match, caplog):
    root = make_dataset(tmp_path / "ds")
    _pkl(root).write_bytes(content)
    with pytest.raises(GaitCompressError, match=match) as err:
        build_index(str(root))
    assert "000.pkl" in str(err.value) and "on_bad=skip" in str(err.value)
    with caplog.at_level(logging.WARNING):
        index = build_index(str(root), None, "skip")
    assert index.skipped["bad file"] == 1 and len(index.train) == 3 * 4 - 1
    assert "000.pkl" in caplog.text


def test_partition_id_without_folder_and_extra_folder(tmp_path):
    root = make_dataset(tmp_path / "ds")
    (root / "partition.json").write_text(json.dumps({"TRAIN_SET": ["001", "002", "003", "009"], "TEST_SET": ["004"]}))
    with pytest.raises(GaitCompressError, match="'009' has no folder"):
        build_index(str(root))
    index = build_index(str(root), None, "skip")
    assert index.skipped["partition id without folder"] == 1
    assert index.ignored_ids == ["005"]  # a folder the partition does not name: ignored, counted
    assert index.train_ids == ["001", "002", "003"]


def test_view_folder_without_file(tmp_path):
    root = make_dataset(tmp_path / "ds")
    _pkl(root).unlink()
    with pytest.raises(GaitCompressError, match="no .pkl/.npy/.npz file"):
        build_index(str(root))


def test_loaders_labels_shapes_and_each_test_sequence_once(tmp_path):
    root = make_dataset(tmp_path / "ds")
    cfg = DataConfig(dataset="tiny", root=str(root), input_size=(32, 22), train_frames=8, batch_p=2, batch_k=2)
    assert train_ids(cfg) == ["001", "002", "003"] and num_classes(cfg) == 3
    batch = next(build_train_loader(cfg, seed=0))
    assert batch.sils.shape == (4, 8, 32, 22) and batch.lengths.tolist() == [8] * 4  # 6 frames repeat-padded to 8
    assert set(batch.labels.tolist()) <= {0, 1, 2}
    assert all(train_ids(cfg)[lab] == m.id for lab, m in zip(batch.labels.tolist(), batch.meta, strict=True))
    seen = [m for b in build_test_loader(cfg) for m in b.meta]
    assert len(seen) == len(set(seen)) == 2 * 2 * 2
    labels = [lab for b in build_test_loader(cfg) for lab in b.labels.tolist()]
    assert labels == [-1] * 8
    train_split = [lab for b in build_test_loader(cfg, split="train") for lab in b.labels.tolist()]
    assert sorted(set(train_split)) == [0, 1, 2]


def test_loader_worker_error_names_file(tmp_path):
    root = make_dataset(tmp_path / "ds")
    cfg = DataConfig(dataset="tiny", root=str(root), test_batch=2, workers=1)
    loader = build_test_loader(cfg)
    (root / "004" / "nm-01" / "090" / "090.pkl").write_bytes(b"garbage")  # broken after the index was built
    with pytest.raises(GaitCompressError, match="004/nm-01/090/090.pkl"):
        list(loader)


def test_probe_set_entries_with_dashed_types(tmp_path):
    root = make_dataset(tmp_path / "ds")
    part = {"TRAIN_SET": ["001", "002", "003"], "TEST_SET": ["004", "005"], "PROBE_SET": ["004-nm-02-090"]}
    (root / "partition.json").write_text(json.dumps(part))
    assert build_index(str(root)).probe == frozenset({SeqMeta("004", "nm-02", "090")})
    part["PROBE_SET"].append("005-nm-09-000")
    (root / "partition.json").write_text(json.dumps(part))
    build_index.cache_clear()
    with pytest.raises(GaitCompressError, match="'005-nm-09-000' has no test sequence"):
        build_index(str(root))


def test_max_train_seqs_per_id_is_a_stable_subset(tmp_path):
    root = make_dataset(tmp_path / "ds")
    cfg = DataConfig(dataset="tiny", root=str(root), train_frames=2, batch_p=3, batch_k=2, max_train_seqs_per_id=1)
    loader = build_train_loader(cfg, seed=0)
    seen = {m for _ in range(5) for m in next(loader).meta}
    assert len(seen) == 3 and len({m.id for m in seen}) == 3  # one sequence per id, drawn again and again
    again = build_train_loader(cfg, seed=1)
    assert {m for _ in range(5) for m in next(again).meta} == seen
