"""`DataConfig`: the recipe's `data:` section, validated.

Either `root` points at an OpenGait-layout folder (`root/<id>/<type>/<view>/*.pkl` + partition JSON), or
`root` is left out and the SynthGait set described by `synth` is generated once into a cache folder
(`$GAITCOMPRESS_DATA/synthgait-<hash>`, default `./data/synthgait-<hash>`) and reused.

The partition follows the root. With `root` an existing folder, `partition` resolves as: a path that exists is
used; a bare file name (what `data.root=X` on the command line leaves of the recipe's partition, see
`gaitcompress.recipe.apply_overrides`) is looked up in the root; unset means `root/partition.json`. Failing that,
the root's only `*.json` is the partition; anything else is an error naming both keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gaitcompress.data.synthgait.config import SynthConfig
from gaitcompress.errors import GaitCompressError, did_you_mean

TRAIN_SAMPLING = ("fixed_unordered", "fixed_ordered", "unfixed")
PROTOCOLS = ("casiab", "gait3d", "oumvlp", "grew")
ON_BAD = ("error", "skip")


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentations; each is applied with its probability, identically to every frame of a sequence."""

    flip: float = 0.0  # horizontal flip
    erasing: float = 0.0  # random erasing of one rectangle (zeroed), area in `erasing_area` of the frame
    erasing_area: tuple[float, float] = (0.05, 0.2)
    rotate: float = 0.0  # rotation by an angle uniform in ±rotate_degrees about the frame centre
    rotate_degrees: float = 10.0
    perspective: float = 0.0  # perspective warp: each corner moves up to `perspective_distortion` × frame size
    perspective_distortion: float = 0.1

    def __post_init__(self) -> None:
        for name in ("flip", "erasing", "rotate", "perspective"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise GaitCompressError(f"data.augment.{name}={p} is not a probability", "use a value in [0, 1]")
        lo, hi = self.erasing_area
        if not 0.0 < lo <= hi < 1.0:
            raise GaitCompressError(f"data.augment.erasing_area={self.erasing_area}", "use 0 < lo <= hi < 1")

    @property
    def any(self) -> bool:
        return any(p > 0 for p in (self.flip, self.erasing, self.rotate, self.perspective))


@dataclass(frozen=True)
class MixConfig:
    """A generated dataset mixed into the training split (see `gaitcompress.data.mix`)."""

    root: str  # OpenGait-layout folder written by `gaitcompress synth sample`
    partition: str | None = None  # default root/partition.json
    ratio: float = 1.0  # generated sequences kept per real training sequence
    novel: bool = True  # include novel (syn…) identities as new classes
    seed: int = 0  # which generated sequences are kept


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "synthgait"  # a name for reports; "synthgait" with no root generates the set from `synth`
    root: str | None = None  # OpenGait layout folder: root/<id>/<type>/<view>/<file>.pkl|.npy|.npz
    partition: str | None = None  # JSON with TRAIN_SET, TEST_SET (+ PROBE_SET); default root/partition.json
    synth: SynthConfig | None = None  # SynthGait settings used when root is unset (default SynthConfig())
    input_size: tuple[int, int] = (64, 44)  # model input H×W after the 64×64→64×44 cut; e.g. (32, 22) downsamples
    train_sampling: str = "fixed_unordered"  # fixed_unordered | fixed_ordered | unfixed
    train_frames: int = 30  # frames per training clip (fixed_*)
    frames_range: tuple[int, int] = (25, 30)  # inclusive clip-length range per batch for `unfixed`
    test_max_frames: int = 720  # test clips keep their first frames up to this cap (all_ordered)
    batch_p: int = 8  # identities per training batch (P)
    batch_k: int = 8  # sequences per identity (K)
    test_batch: int = 16  # sequences per test batch (padded, with lengths)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    on_bad: str = "error"  # a bad file or folder: "error" stops with its name, "skip" counts and logs it
    workers: int = 0  # DataLoader worker processes (0 = load in the main process)
    protocol: str = "casiab"  # evaluation protocol: casiab | gait3d | oumvlp | grew
    max_train_seqs_per_id: int | None = None  # keep at most this many training sequences per id (seeded choice)
    mix: MixConfig | None = None  # generated sequences added to the training split (real ones limited first)
    val_ids: int = 0  # hold out the last N sorted training ids as the validation split (gaitcompress.data.holdout)

    def __post_init__(self) -> None:
        _choice("data.train_sampling", self.train_sampling, TRAIN_SAMPLING)
        _choice("data.protocol", self.protocol, PROTOCOLS)
        _choice("data.on_bad", self.on_bad, ON_BAD)
        if self.root is None and self.dataset != "synthgait":
            raise GaitCompressError(
                f"data.dataset={self.dataset!r} needs data.root", "set data.root to its OpenGait-layout folder"
            )
        h, w = self.input_size
        if h < 4 or w < 4:
            raise GaitCompressError(f"data.input_size={self.input_size} is too small", "e.g. [64, 44] or [32, 22]")
        lo, hi = self.frames_range
        if not 1 <= lo <= hi:
            raise GaitCompressError(f"data.frames_range={self.frames_range}", "write [lo, hi] with 1 <= lo <= hi")
        for name in ("train_frames", "test_max_frames", "batch_p", "batch_k", "test_batch"):
            if getattr(self, name) < 1:
                raise GaitCompressError(f"data.{name}={getattr(self, name)} must be ≥ 1", "use a positive integer")
        if self.workers < 0:
            raise GaitCompressError(f"data.workers={self.workers} is negative", "use 0 or more")
        if self.val_ids < 0:
            raise GaitCompressError(f"data.val_ids={self.val_ids} is negative", "use 0 (no validation split) or more")
        if self.max_train_seqs_per_id is not None and self.max_train_seqs_per_id < 1:
            raise GaitCompressError("data.max_train_seqs_per_id must be ≥ 1", "or leave it unset for all")
        if self.root is not None and Path(self.root).is_dir():
            object.__setattr__(self, "partition", find_partition(Path(self.root), self.partition))

    @property
    def synth_config(self) -> SynthConfig:
        """The SynthGait settings that apply when `root` is unset."""
        return self.synth or SynthConfig()


NOT_PARTITIONS = ("synthgait.json", "synth_manifest.json")  # JSON files the generators write beside partition.json


def find_partition(root: Path, partition: str | None) -> str | None:
    """The partition file of the dataset in `root` (module docstring); None means `root/partition.json`."""
    if partition is not None and Path(partition).is_file():
        return partition
    if partition is not None and Path(partition).name == partition and (root / partition).is_file():
        return str(root / partition)
    if partition is None and (root / "partition.json").is_file():
        return None
    found = sorted(p for p in root.glob("*.json") if p.name not in NOT_PARTITIONS)
    if len(found) == 1:
        return str(found[0])
    wanted = f"data.partition={partition}" if partition else "data.partition (unset: partition.json)"
    where = f"{wanted} is not a file, nor in data.root={root}"
    if found:
        raise GaitCompressError(
            f"{where}, which holds {len(found)} JSON files ({', '.join(p.name for p in found[:4])})",
            f"name the partition: data.partition={found[0]} (the JSON with TRAIN_SET and TEST_SET)",
            key="data.partition",
        )
    raise GaitCompressError(
        f"{where}, which holds no JSON file",
        "set data.partition to the partition JSON (TRAIN_SET, TEST_SET), or copy it into data.root",
        key="data.partition",
    )


def _choice(where: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise GaitCompressError(f"{where}: unknown value {value!r}", did_you_mean(value, choices))
