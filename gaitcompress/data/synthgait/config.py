"""Settings of one SynthGait set; every field changes the bytes written, so all of them enter the cache hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from gaitcompress.errors import GaitCompressError

GENERATOR_VERSION = "synthgait/1"  # bump whenever the generator's output changes for the same settings
CASIAB_VIEWS = tuple(range(0, 181, 18))  # 000, 018, ..., 180


@dataclass(frozen=True)
class SynthConfig:
    ids: int = 50  # subjects: ids 001..N, the first `train` of them form TRAIN_SET, the rest TEST_SET
    train: int = 30  # training subjects (CASIA-B: 74 of 124)
    frames: int = 30  # frames per sequence (about one stride cycle at 25 fps, like OpenGait's 30-frame clips)
    seed: int = 0  # everything (identities, nuisance) is a function of this seed
    difficulty: float = 1.0  # 0 = clean, easy; 1 = default; 2 = noisier sessions, closer identities
    views: tuple[int, ...] = CASIAB_VIEWS  # camera azimuths in degrees (0 = walking towards the camera)
    nm: int = 6  # nm-01..nm-06 (normal walking)
    bg: int = 2  # bg-01..bg-02 (carrying a bag)
    cl: int = 2  # cl-01..cl-02 (wearing a coat)
    size: int = 64  # output frame size (OpenGait's pretreatment writes 64×64)

    def __post_init__(self) -> None:
        if not 1 <= self.train < self.ids:
            raise GaitCompressError(
                f"synth: train={self.train} must be in 1..ids-1 (ids={self.ids})", "leave at least one test subject"
            )
        if self.ids > 999:
            raise GaitCompressError(f"synth: ids={self.ids} is more than 999", "ids are written as 3 digits")
        if self.frames < 1 or self.size < 16 or self.nm < 1:
            raise GaitCompressError("synth: frames ≥ 1, size ≥ 16 and nm ≥ 1 are needed", "fix the synth section")
        if not self.views or any(not 0 <= v <= 359 for v in self.views) or len(set(self.views)) != len(self.views):
            raise GaitCompressError(f"synth: views {self.views} must be distinct degrees in 0..359", "e.g. [0, 90]")
        if not 0.0 <= self.difficulty <= 3.0:
            raise GaitCompressError(f"synth: difficulty={self.difficulty} is outside 0..3", "1.0 is the default")

    @property
    def types(self) -> list[str]:
        """Sequence types in CASIA-B naming."""
        return (
            [f"nm-{i:02d}" for i in range(1, self.nm + 1)]
            + [f"bg-{i:02d}" for i in range(1, self.bg + 1)]
            + [f"cl-{i:02d}" for i in range(1, self.cl + 1)]
        )

    @property
    def view_names(self) -> list[str]:
        return [f"{v:03d}" for v in self.views]

    @property
    def id_names(self) -> list[str]:
        return [f"{i:03d}" for i in range(1, self.ids + 1)]

    def digest(self) -> str:
        """Short hash of the settings and generator version: the cache key of a generated set."""
        doc = {"version": GENERATOR_VERSION, **dataclasses.asdict(self)}
        return hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:10]
