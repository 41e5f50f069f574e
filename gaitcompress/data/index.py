"""The dataset index: every sequence of an OpenGait-layout folder, validated once in the main process.

Layout: `root/<id>/<type>/<view>/<file>` with exactly one `.pkl`/`.npy`/`.npz` per view folder, and a
partition JSON `{"TRAIN_SET": [ids], "TEST_SET": [ids], "PROBE_SET": ["id-type-view", ...]}` (PROBE_SET is
optional, Gait3D style). Building the index loads and checks every file, so a bad file stops the run here,
with its name, instead of deep inside a loader worker. With `on_bad="skip"` each bad item is logged and
counted in the summary instead; id folders the partition does not name are ignored and counted.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaitcompress.data.batch import SeqMeta
from gaitcompress.data.io import SUFFIXES, load_sequence
from gaitcompress.errors import GaitCompressError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeqEntry:
    """One validated sequence: where it is, what it is, how many frames it has."""

    meta: SeqMeta
    path: Path
    frames: int


@dataclass
class DatasetIndex:
    root: Path
    partition: Path
    train: list[SeqEntry]  # sorted by (id, type, view)
    test: list[SeqEntry]
    probe: frozenset[SeqMeta] | None  # PROBE_SET entries, when the partition has one
    skipped: Counter = field(default_factory=Counter)  # reason → count (on_bad="skip")
    ignored_ids: list[str] = field(default_factory=list)  # id folders the partition does not name
    val: list[SeqEntry] = field(default_factory=list)  # training ids held out by data.val_ids (never trained on)

    @property
    def train_ids(self) -> list[str]:
        """Sorted training ids that have sequences; class index = position in this list."""
        return sorted({e.meta.id for e in self.train})

    def summary(self, clip_frames: int = 30) -> dict[str, str]:
        """Counts for `data check`: ids, sequences and frames per split, skips, ignored folders, short clips."""
        out = {"root": str(self.root), "partition": str(self.partition)}
        for name, entries in (("train", self.train), ("val", self.val), ("test", self.test)):
            if name == "val" and not entries:
                continue
            frames = np.array([e.frames for e in entries] or [0])
            out[name] = (
                f"{len({e.meta.id for e in entries})} ids, {len(entries)} sequences, "
                f"{len({e.meta.type for e in entries})} types, {len({e.meta.view for e in entries})} views, "
                f"frames {frames.min()}/{int(np.median(frames))}/{frames.max()} (min/median/max)"
            )
        out[f"train sequences < {clip_frames} frames (repeat-padded)"] = str(
            sum(e.frames < clip_frames for e in self.train)
        )
        out["probes (PROBE_SET)"] = str(len(self.probe)) if self.probe is not None else "none"
        out["skipped (on_bad=skip)"] = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())) or "none"
        out["id folders not in the partition (ignored)"] = str(len(self.ignored_ids))
        return out

    def split(self, name: str) -> list[SeqEntry]:
        splits = {"train": self.train, "val": self.val, "test": self.test}
        if name not in splits:
            raise GaitCompressError(f"unknown split {name!r}", "use 'train', 'val' or 'test'")
        if name == "val" and not self.val:
            raise GaitCompressError(
                f"{self.partition}: no validation split", "hold out training ids with data.val_ids=N (e.g. 10)"
            )
        return splits[name]


class _Problems:
    """Raise on the first problem (on_bad='error') or log and count it (on_bad='skip')."""

    def __init__(self, on_bad: str) -> None:
        self.on_bad = on_bad
        self.counts: Counter = Counter()

    def report(self, reason: str, err: GaitCompressError) -> None:
        if self.on_bad == "error":
            raise GaitCompressError(err.message, (err.hint or "") + " (or set data.on_bad=skip to skip it)")
        self.counts[reason] += 1
        log.warning("skipping: %s", err)


def read_partition(path: Path) -> tuple[list[str], list[str], list[str] | None]:
    """(TRAIN_SET, TEST_SET, PROBE_SET or None) from a partition JSON, checked."""
    if not path.is_file():
        raise GaitCompressError(
            f"partition file not found: {path}", "set data.partition to the partition JSON", key="data.partition"
        )
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GaitCompressError(f"{path}: not valid JSON ({exc})", "fix the partition file") from exc
    sets = []
    for key in ("TRAIN_SET", "TEST_SET", "PROBE_SET"):
        value = doc.get(key) if isinstance(doc, dict) else None
        if value is None and key == "PROBE_SET":
            sets.append(None)
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise GaitCompressError(f"{path}: {key} must be a list of strings", f'write "{key}": ["001", ...]')
        sets.append(value)
    overlap = set(sets[0]) & set(sets[1])
    if overlap:
        raise GaitCompressError(
            f"{path}: ids in both TRAIN_SET and TEST_SET: {sorted(overlap)[:5]}", "each id belongs to one split"
        )
    return sets[0], sets[1], sets[2]


def _parse_probe(entry: str, path: Path) -> SeqMeta:
    """'id-type-view' (the type may itself hold dashes, e.g. '001-nm-05-090')."""
    parts = entry.split("-")
    if len(parts) < 3:
        raise GaitCompressError(f"{path}: PROBE_SET entry {entry!r} is not 'id-type-view'", "fix the entry")
    return SeqMeta(parts[0], "-".join(parts[1:-1]), parts[-1])


def _scan_id(root: Path, sid: str, problems: _Problems) -> list[SeqEntry]:
    entries = []
    for type_dir in sorted(p for p in (root / sid).iterdir() if p.is_dir()):
        for view_dir in sorted(p for p in type_dir.iterdir() if p.is_dir()):
            files = sorted(p for p in view_dir.iterdir() if p.suffix.lower() in SUFFIXES)
            if len(files) != 1:
                what = "no .pkl/.npy/.npz file" if not files else f"{len(files)} data files {[f.name for f in files]}"
                problems.report(
                    "bad folder", GaitCompressError(f"{view_dir}: {what}", "keep exactly one sequence file per view")
                )
                continue
            try:
                frames = load_sequence(files[0]).shape[0]
            except GaitCompressError as err:
                problems.report("bad file", err)
                continue
            entries.append(SeqEntry(SeqMeta(sid, type_dir.name, view_dir.name), files[0], frames))
    if not entries:
        problems.report("id without sequences", GaitCompressError(f"{root / sid}: no sequences", "remove the id"))
    return entries


@functools.lru_cache(maxsize=8)
def build_index(root: str | Path, partition: str | Path | None = None, on_bad: str = "error") -> DatasetIndex:
    """Scan, validate and split `root` (cached per arguments for this process)."""
    root = Path(root)
    if not root.is_dir():
        raise GaitCompressError(f"dataset root not found: {root}", "set data.root to an OpenGait-layout folder")
    part_path = Path(partition) if partition else root / "partition.json"
    train_ids, test_ids, probe = read_partition(part_path)
    problems = _Problems(on_bad)
    folders = {p.name for p in root.iterdir() if p.is_dir()}
    splits: dict[str, list[SeqEntry]] = {"train": [], "test": []}
    for split, ids in (("train", train_ids), ("test", test_ids)):
        for sid in sorted(set(ids)):
            if sid not in folders:
                problems.report(
                    "partition id without folder",
                    GaitCompressError(
                        f"{part_path}: {split} id {sid!r} has no folder {root / sid}",
                        "fix data.root or data.partition so they describe the same dataset",
                    ),
                )
                continue
            splits[split] += _scan_id(root, sid, problems)
    probe_set = None
    if probe is not None:
        have = {e.meta for e in splits["test"]}
        probe_set = set()
        for entry in probe:
            meta = _parse_probe(entry, part_path)
            if meta not in have:
                problems.report(
                    "probe without sequence",
                    GaitCompressError(f"{part_path}: PROBE_SET entry {entry!r} has no test sequence", "fix the entry"),
                )
                continue
            probe_set.add(meta)
        probe_set = frozenset(probe_set)
    ignored = sorted(folders - set(train_ids) - set(test_ids))
    if ignored:
        log.info("%s: %d id folders are not in %s and are ignored", root, len(ignored), part_path.name)
    return DatasetIndex(root, part_path, splits["train"], splits["test"], probe_set, problems.counts, ignored)
