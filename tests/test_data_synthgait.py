"""SynthGait: determinism (same bytes), OpenGait layout and partition, cache reuse, loaders on it."""

import hashlib
import json
import pickle

import numpy as np
import pytest

from gaitcompress.data import DataConfig, build_test_loader, build_train_loader, num_classes
from gaitcompress.data.synthgait import SynthConfig
from gaitcompress.data.synthgait.writer import cache_dir, ensure_generated, generate, render_sequence
from gaitcompress.errors import GaitCompressError

TINY = SynthConfig(ids=3, train=2, frames=6, views=(0, 90), nm=2, bg=1, cl=1)


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def test_same_bytes_twice_whatever_the_processes(tmp_path):
    a = generate(TINY, tmp_path / "a", processes=1)
    b = generate(TINY, tmp_path / "b", processes=2)
    assert _digest(a) == _digest(b)
    other = SynthConfig(ids=3, train=2, frames=6, views=(0, 90), nm=2, bg=1, cl=1, seed=1)
    assert _digest(generate(other, tmp_path / "c", processes=1)) != _digest(a)


def test_layout_partition_and_arrays(tmp_path):
    root = generate(TINY, tmp_path / "sg", processes=1)
    assert json.loads((root / "partition.json").read_text()) == {"TRAIN_SET": ["001", "002"], "TEST_SET": ["003"]}
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.pkl"))
    assert len(files) == 3 * 4 * 2 and files[0] == "001/bg-01/000/000.pkl"
    assert {f.split("/")[1] for f in files} == {"nm-01", "nm-02", "bg-01", "cl-01"}
    arr = pickle.loads((root / "003/cl-01/090/090.pkl").read_bytes())
    assert arr.dtype == np.uint8 and arr.shape == (6, 64, 64)
    assert arr.max() == 255 and (arr > 0).any(axis=(1, 2)).all()  # every frame holds a silhouette
    assert len(np.unique(arr)) > 2  # bicubic resize leaves grey edges, as OpenGait's pretreatment


def test_covariates_change_the_silhouette():
    nm = render_sequence(TINY, 1, "nm-01", 90).astype(float)
    bg = render_sequence(TINY, 1, "bg-01", 90).astype(float)
    cl = render_sequence(TINY, 1, "cl-01", 90).astype(float)
    assert np.abs(nm - bg).mean() > 1 and np.abs(nm - cl).mean() > 1


def test_cache_is_reused_and_loaders_run_on_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GAITCOMPRESS_DATA", str(tmp_path))
    root = ensure_generated(TINY, processes=1)
    assert root == cache_dir(TINY) and root.name == f"synthgait-{TINY.digest()}"
    stamp = (root / "001/nm-01/000/000.pkl").stat().st_mtime_ns
    assert ensure_generated(TINY) == root and (root / "001/nm-01/000/000.pkl").stat().st_mtime_ns == stamp
    cfg = DataConfig(synth=TINY, input_size=(32, 22), train_frames=4, batch_p=2, batch_k=2, test_batch=8)
    assert num_classes(cfg) == 2
    batch = next(build_train_loader(cfg, seed=0))
    assert batch.sils.shape == (4, 4, 32, 22) and batch.sils.max() <= 1.0
    test = list(build_test_loader(cfg))
    assert sum(len(b) for b in test) == 8 and all((b.labels == -1).all() for b in test)


def test_different_set_in_the_same_folder_is_refused(tmp_path):
    generate(TINY, tmp_path / "sg", processes=1)
    with pytest.raises(GaitCompressError, match="different SynthGait set"):
        generate(SynthConfig(ids=3, train=1, frames=6, views=(0, 90), nm=2, bg=1, cl=1), tmp_path / "sg")
