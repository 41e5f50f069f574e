"""Public entry points: training and test loaders over a validated index, built from a `DataConfig`.

`build_train_loader` yields P×K `Batch`es forever (iteration-based training, as OpenGait);
`build_test_loader` yields every sequence of a split (`test`, `val` = the ids `data.val_ids` holds out, or
`train`) exactly once, in (id, type, view) order, with all
its frames up to `test_max_frames` (zero-padded per batch, `lengths` set). Labels are class indices into
the sorted training ids (`train_ids`), −1 for ids that are not training ids.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Dataset

from gaitcompress.data.batch import Batch, SeqMeta, collate
from gaitcompress.data.config import DataConfig
from gaitcompress.data.holdout import hold_out  # data.val_ids: training ids moved to the validation split
from gaitcompress.data.index import DatasetIndex, SeqEntry, build_index
from gaitcompress.data.io import load_sequence
from gaitcompress.data.mix import mix_index  # generated sequences join the (per-id limited) real ones
from gaitcompress.data.sampling import PKBatchSampler, sample_frames
from gaitcompress.data.transforms import augment, to_input
from gaitcompress.progress import NULL, Tracker

log = logging.getLogger(__name__)
notices = logging.getLogger("gaitcompress.run")  # one line the CLI shows (workers lowered to the CPUs there are)
_LOWERED: set[tuple[int, int]] = set()  # (asked, used) already reported: once per process, not per evaluation


def resolve_root(cfg: DataConfig, tracker: Tracker = NULL) -> tuple[Path, Path | None]:
    """(dataset root, partition path or None for root/partition.json); generates SynthGait when root is unset."""
    if cfg.root is not None:
        return Path(cfg.root), Path(cfg.partition) if cfg.partition else None
    from gaitcompress.data.synthgait.writer import ensure_generated

    return ensure_generated(cfg.synth_config, tracker=tracker), None


def load_index(cfg: DataConfig, tracker: Tracker = NULL) -> DatasetIndex:
    """The validated index of the dataset `cfg` describes (cached per process), validation ids held out."""
    root, partition = resolve_root(cfg, tracker)
    index = hold_out(build_index(str(root), str(partition) if partition else None, cfg.on_bad), cfg.val_ids)
    if cfg.mix is None:
        return index
    return mix_index(index, _limit_per_id(index.train, cfg.max_train_seqs_per_id), cfg.mix)


def train_ids(cfg: DataConfig) -> list[str]:
    """Sorted training ids; a class index is a position in this list (OpenGait's order)."""
    return load_index(cfg).train_ids


def num_classes(cfg: DataConfig) -> int:
    """Number of training identities (the classifier width)."""
    return len(train_ids(cfg))


def probe_set(cfg: DataConfig) -> frozenset[SeqMeta] | None:
    """The partition's PROBE_SET (Gait3D style) as `SeqMeta`s, or None when it has none."""
    return load_index(cfg).probe


def _limit_per_id(entries: list[SeqEntry], limit: int | None) -> list[SeqEntry]:
    """At most `limit` sequences per id, chosen by a generator seeded from the id (same choice in every run)."""
    if limit is None:
        return entries
    by_id: dict[str, list[SeqEntry]] = {}
    for e in entries:
        by_id.setdefault(e.meta.id, []).append(e)
    kept = []
    for sid, group in by_id.items():
        rng = np.random.default_rng(zlib.crc32(sid.encode()))
        kept += [group[i] for i in sorted(rng.permutation(len(group))[:limit])]
    return kept


class SequenceDataset(Dataset):
    """Loads, samples, transforms one sequence; keys are `(index, seed, frames)` (train) or `index` (test)."""

    def __init__(self, entries: list[SeqEntry], labels: list[int], cfg: DataConfig, train: bool) -> None:
        self.entries, self.labels, self.cfg, self.train = entries, labels, cfg, train

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, key: int | tuple[int, int, int]) -> tuple[np.ndarray, int, SeqMeta]:
        i, seed, frames = key if isinstance(key, tuple) else (key, 0, self.cfg.test_max_frames)
        entry = self.entries[i]
        seq = load_sequence(entry.path)  # errors name the file, also inside a worker
        if self.train:
            rng = np.random.default_rng(seed)
            x = to_input(seq[sample_frames(len(seq), self.cfg.train_sampling, frames, rng)], self.cfg.input_size)
            if self.cfg.augment.any:
                x = augment(x, self.cfg.augment, rng)
        else:
            x = to_input(seq[sample_frames(len(seq), "all_ordered", frames)], self.cfg.input_size)
        return x, self.labels[i], entry.meta


def build_train_loader(
    cfg: DataConfig, seed: int, rank: int = 0, world_size: int = 1, start: int = 0
) -> Iterator[Batch]:
    """Infinite P×K training batches (this rank's rows of each global batch); `start` skips to batch `start`."""
    index = load_index(cfg)
    classes = {sid: c for c, sid in enumerate(index.train_ids)}
    entries = _limit_per_id(index.train, None if cfg.mix else cfg.max_train_seqs_per_id)  # mix: limited already
    labels = [classes[e.meta.id] for e in entries]
    short = sum(e.frames < cfg.train_frames for e in entries)
    if short:
        log.info("%d/%d training sequences have < %d frames (repeat-padded)", short, len(entries), cfg.train_frames)
    unfixed = cfg.train_sampling == "unfixed"
    sampler = PKBatchSampler(
        labels,
        cfg.batch_p,
        cfg.batch_k,
        seed,
        frames=cfg.train_frames,
        frames_range=cfg.frames_range if unfixed else None,
        rank=rank,
        world_size=world_size,
        start=start,
    )
    dataset = SequenceDataset(entries, labels, cfg, train=True)
    workers = _workers(cfg)
    loader = DataLoader(
        dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers, persistent_workers=workers > 0
    )
    return iter(loader)


def build_test_loader(cfg: DataConfig, split: str = "test") -> Iterable[Batch]:
    """Every sequence of `split` ('test', 'val' or 'train') once, ordered, `test_batch` per batch, frames ≤ the cap."""
    index = load_index(cfg)
    classes = {sid: c for c, sid in enumerate(index.train_ids)}
    entries = index.split(split)
    labels = [classes.get(e.meta.id, -1) for e in entries]
    dataset = SequenceDataset(entries, labels, cfg, train=False)
    return DataLoader(dataset, batch_size=cfg.test_batch, shuffle=False, collate_fn=collate, num_workers=_workers(cfg))


def _workers(cfg: DataConfig) -> int:
    """`data.workers`, at most the CPUs this process may use: more only oversubscribe them (and PyTorch warns)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    used = min(cfg.workers, cpus)
    if used < cfg.workers and (cfg.workers, used) not in _LOWERED:
        _LOWERED.add((cfg.workers, used))
        notices.info("data.workers=%d lowered to %d (the CPUs this process may use)", cfg.workers, used)
    return used
