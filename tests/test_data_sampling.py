"""Frame sampling modes and the P×K batch sampler (composition, determinism, DDP rank split)."""

import itertools

import numpy as np
import pytest

from gaitcompress.data.sampling import PKBatchSampler, sample_frames
from gaitcompress.errors import GaitCompressError


def test_fixed_unordered_takes_distinct_frames_in_random_order():
    idx = sample_frames(40, "fixed_unordered", 30, np.random.default_rng(0))
    assert len(idx) == 30 and len(set(idx.tolist())) == 30 and idx.max() < 40
    assert not np.array_equal(idx, np.sort(idx))


def test_fixed_ordered_is_a_contiguous_window():
    idx = sample_frames(40, "fixed_ordered", 10, np.random.default_rng(1))
    assert np.array_equal(np.diff(idx), np.ones(9))


def test_short_sequences_are_repeat_padded():
    idx = sample_frames(4, "fixed_unordered", 10, np.random.default_rng(0))
    counts = np.bincount(idx, minlength=4)
    assert len(idx) == 10 and counts.min() >= 2 and counts.max() <= 3  # every frame ~equally often
    ordered = sample_frames(4, "fixed_ordered", 10, np.random.default_rng(0))
    assert all((b - a) % 4 == 1 for a, b in itertools.pairwise(ordered))  # wraps around in order


def test_all_ordered_caps_and_keeps_order():
    assert sample_frames(5, "all_ordered", 720).tolist() == [0, 1, 2, 3, 4]
    assert sample_frames(800, "all_ordered", 720).tolist() == list(range(720))
    with pytest.raises(ValueError):
        sample_frames(0, "all_ordered", 10)


LABELS = [c for c in range(6) for _ in range(5)]  # 6 classes × 5 sequences


def test_pk_batches_have_p_ids_times_k_sequences_and_are_seeded():
    sampler = PKBatchSampler(LABELS, p=3, k=4, seed=7, frames=30)
    batches = list(itertools.islice(iter(sampler), 5))
    for rows in batches:
        classes = [LABELS[i] for i, _, _ in rows]
        assert len(rows) == 12 and len(set(classes)) == 3
        assert all(classes.count(c) == 4 for c in set(classes))
        assert all(frames == 30 for _, _, frames in rows)
        assert len({i for i, _, _ in rows}) == 12  # each class has ≥ K sequences: no repeats
    again = list(itertools.islice(iter(PKBatchSampler(LABELS, p=3, k=4, seed=7, frames=30)), 5))
    assert batches == again
    resumed = next(iter(PKBatchSampler(LABELS, p=3, k=4, seed=7, frames=30, start=3)))
    assert resumed == batches[3]


def test_pk_rank_split_partitions_the_global_batch():
    full = PKBatchSampler(LABELS, p=2, k=4, seed=0, frames=8).global_batch(0)
    shares = [next(iter(PKBatchSampler(LABELS, 2, 4, 0, 8, rank=r, world_size=2))) for r in range(2)]
    assert sorted(shares[0] + shares[1]) == sorted(full)
    for share in shares:  # with K a multiple of the world size every rank sees all P ids
        assert {LABELS[i] for i, _, _ in share} == {LABELS[i] for i, _, _ in full}
    with pytest.raises(GaitCompressError, match="world size 3"):
        PKBatchSampler(LABELS, 2, 4, 0, 8, rank=0, world_size=3)


def test_unfixed_draws_one_length_per_batch_in_range():
    sampler = PKBatchSampler(LABELS, 2, 2, seed=0, frames=30, frames_range=(5, 9))
    lengths = [{f for _, _, f in rows} for rows in itertools.islice(iter(sampler), 20)]
    assert all(len(s) == 1 for s in lengths)
    assert {s.pop() for s in lengths} <= set(range(5, 10))


def test_too_few_ids_for_p_is_a_clear_error():
    with pytest.raises(GaitCompressError, match="batch_p"):
        PKBatchSampler([0, 0, 1], p=3, k=2, seed=0, frames=4)
