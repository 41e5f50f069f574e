"""SynthGait's Gait3D-shaped layout (the `many` preset): partition with PROBE_SET, protocol, determinism."""

import hashlib
import json
from dataclasses import replace

import pytest

from gaitcompress.data import DataConfig, probe_set
from gaitcompress.data.synthgait.config import PRESETS, SynthConfig, preset
from gaitcompress.data.synthgait.writer import generate
from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation import evaluate
from gaitcompress.evaluation.gei import gei_features

# a tiny instance of the `many` preset: the same layout, 8 subjects, 2 walks × 2 cameras, 4 frames
TINY_MANY = replace(preset("many"), ids=8, train=5, frames=4, views_per_walk=2)


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def test_many_preset_shape_and_the_default_hash_is_unchanged():
    many = preset("many")
    assert many.train >= 1000 and many.ids - many.train >= 200
    assert len(many.sequences(1)) == 6 and many.id_name(1) == "0001"
    assert SynthConfig().digest() == "69b75129b8"  # the default set's cache key (bench/results/synthgait-default)
    assert PRESETS["default"] == SynthConfig()
    with pytest.raises(GaitCompressError, match="unknown preset"):
        preset("mnay")


def test_partition_probe_set_and_gait3d_protocol(tmp_path):
    root = generate(TINY_MANY, tmp_path / "many", processes=1)
    part = json.loads((root / "partition.json").read_text())
    assert part["TRAIN_SET"] == ["001", "002", "003", "004", "005"] and part["TEST_SET"] == ["006", "007", "008"]
    assert part["PROBE_SET"] == [TINY_MANY.probe_key(s) for s in (6, 7, 8)]
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.pkl"))
    assert len(files) == 8 * 4
    for s in range(1, 9):  # each walk: one covariate, distinct cameras; the probe is walk 1's lowest view
        seqs = TINY_MANY.sequences(s)
        for walk in ("01", "02"):
            walk_seqs = [(t, v) for t, v in seqs if t.endswith(walk)]
            assert len({t for t, _ in walk_seqs}) == 1 and len({v for _, v in walk_seqs}) == 2
        assert TINY_MANY.probe_key(s) == f"{s:03d}-{seqs[0][0]}-{min(v for t, v in seqs if t == seqs[0][0]):03d}"
    cfg = DataConfig(dataset="many", root=str(root), input_size=(32, 22), protocol="gait3d", test_batch=8)
    assert {f"{m.id}-{m.type}-{m.view}" for m in probe_set(cfg)} == set(part["PROBE_SET"])
    result = evaluate(gei_features(cfg), "gait3d", probe_set=probe_set(cfg))
    assert result.counts == {"probes": 3, "gallery": 3 * 4 - 3, "skipped": 0}
    assert {"R1", "R5", "R10", "mAP", "mINP"} <= result.metrics.keys()


def test_same_bytes_for_a_seed_whatever_the_processes(tmp_path):
    a = generate(TINY_MANY, tmp_path / "a", processes=1)
    b = generate(TINY_MANY, tmp_path / "b", processes=2)
    assert _digest(a) == _digest(b)
    other = replace(TINY_MANY, seed=1)
    assert other.sequences(1) != TINY_MANY.sequences(1) or other.digest() != TINY_MANY.digest()
    assert _digest(generate(other, tmp_path / "c", processes=1)) != _digest(a)


def test_layout_settings_are_checked():
    with pytest.raises(GaitCompressError, match="layout"):
        SynthConfig(layout="grew")
    with pytest.raises(GaitCompressError, match="views_per_walk"):
        replace(TINY_MANY, views_per_walk=99)
    with pytest.raises(GaitCompressError, match="p_bg"):
        replace(TINY_MANY, p_bg=0.7, p_cl=0.5)
