"""Transforms (cut, scale, resize, seeded sequence-level augmentation) and DataConfig validation."""

import numpy as np
import pytest

from gaitcompress.data.config import AugmentConfig, DataConfig
from gaitcompress.data.transforms import augment, cut_and_scale, resize, to_input
from gaitcompress.errors import GaitCompressError
from gaitcompress.recipe import from_dict


def test_cut_drops_ten_columns_each_side_and_scales():
    frames = np.zeros((2, 64, 64), np.uint8)
    frames[:, :, 10:54] = 255
    x = cut_and_scale(frames)
    assert x.shape == (2, 64, 44) and x.dtype == np.float32 and x.min() == 1.0


def test_resize_area_keeps_mass_and_exact_halving():
    x = np.random.default_rng(0).random((3, 64, 44)).astype(np.float32)
    half = resize(x, (32, 22))
    assert half.shape == (3, 32, 22)
    assert np.allclose(half[0, 0, 0], x[0, :2, :2].mean())
    odd = resize(x, (40, 30))
    assert odd.shape == (3, 40, 30) and np.isclose(odd.mean(), x.mean(), atol=1e-5)
    assert to_input(np.full((1, 64, 64), 255, np.uint8), (16, 11)).min() == pytest.approx(1.0)


def test_augment_is_seeded_and_identical_on_every_frame():
    frame = np.zeros((32, 22), np.float32)
    frame[8:24, 8:14] = 1.0
    x = np.stack([frame] * 4)
    cfg = AugmentConfig(flip=1.0, erasing=1.0, rotate=1.0, perspective=1.0)
    a = augment(x, cfg, np.random.default_rng(3))
    b = augment(x, cfg, np.random.default_rng(3))
    assert np.array_equal(a, b) and a.shape == x.shape
    assert all(np.array_equal(a[0], a[t]) for t in range(4))
    assert not np.array_equal(a[0], frame)
    assert np.array_equal(augment(x, AugmentConfig(), np.random.default_rng(3)), x)  # all off by default


def test_data_config_validates_with_nearest_names():
    with pytest.raises(GaitCompressError, match="fixed_unordered"):
        DataConfig(train_sampling="fixed_unorderd")
    with pytest.raises(GaitCompressError, match="unknown key 'batch_q'"):
        from_dict(DataConfig, {"batch_q": 4}, "data")
    with pytest.raises(GaitCompressError, match="probability"):
        AugmentConfig(flip=2.0)
    with pytest.raises(GaitCompressError, match="frames_range"):
        DataConfig(frames_range=(10, 5))
    with pytest.raises(GaitCompressError, match="needs data.root"):
        DataConfig(dataset="casiab")
    cfg = from_dict(DataConfig, {"input_size": [32, 22], "synth": {"ids": 6, "train": 3}}, "data")
    assert cfg.input_size == (32, 22) and cfg.synth_config.ids == 6
