"""Settings of one SynthGait set; every field changes the bytes written, so all of them enter the cache hash.

Two layouts:

- `casiab` (the default set): every subject walks every type (nm/bg/cl) past every view, as CASIA-B;
- `gait3d` (the `many` preset): many subjects, few sequences each, as Gait3D / OU-MVLP — each subject walks
  `walks` times, each walk with one covariate drawn per walk (normal, bag with probability `p_bg`, coat with
  `p_cl`) and seen by `views_per_walk` distinct cameras drawn from `views`. Walk w is written as type
  `nm-0w`/`bg-0w`/`cl-0w`. The partition's `PROBE_SET` holds one sequence per test subject (its first walk,
  lowest view: `probe_key`), the gallery is every other test sequence, as Gait3D's protocol.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from gaitcompress.errors import GaitCompressError, did_you_mean

GENERATOR_VERSION = "synthgait/1"  # bump whenever the generator's output changes for the same settings
CASIAB_VIEWS = tuple(range(0, 181, 18))  # 000, 018, ..., 180
LAYOUTS = ("casiab", "gait3d")
COVARIATES = ("nm", "bg", "cl")
_GAIT3D_FIELDS = ("layout", "walks", "views_per_walk", "p_bg", "p_cl")  # hashed only when layout != casiab


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
    layout: str = "casiab"  # casiab: every type × every view | gait3d: per subject, a few walks × random views
    walks: int = 2  # gait3d: walks (sessions) per subject
    views_per_walk: int = 3  # gait3d: distinct cameras per walk, drawn from `views`
    p_bg: float = 0.2  # gait3d: probability that a walk carries the subject's bag
    p_cl: float = 0.2  # gait3d: probability that a walk wears the subject's coat

    def __post_init__(self) -> None:
        if not 1 <= self.train < self.ids:
            raise GaitCompressError(
                f"synth: train={self.train} must be from 1 to ids − 1 (ids={self.ids}): every split needs a subject",
                f"e.g. train={max(1, self.ids * 3 // 5)}",
                key="train",
            )
        if self.frames < 1 or self.size < 16 or self.nm < 1:
            raise GaitCompressError("synth: frames ≥ 1, size ≥ 16 and nm ≥ 1 are needed", "fix the synth section")
        if not self.views or any(not 0 <= v <= 359 for v in self.views) or len(set(self.views)) != len(self.views):
            raise GaitCompressError(f"synth: views {self.views} must be distinct degrees in 0..359", "e.g. [0, 90]")
        if not 0.0 <= self.difficulty <= 3.0:
            raise GaitCompressError(f"synth: difficulty={self.difficulty} is outside 0..3", "1.0 is the default")
        if self.layout not in LAYOUTS:
            raise GaitCompressError(f"synth: layout={self.layout!r}", f"use one of {', '.join(LAYOUTS)}")
        if self.layout == "gait3d":
            per_walk_ok = 1 <= self.views_per_walk <= len(self.views)
            if self.walks < 1 or not per_walk_ok or self.walks * self.views_per_walk < 2:
                raise GaitCompressError(
                    f"synth: walks={self.walks}, views_per_walk={self.views_per_walk} with {len(self.views)} views",
                    "every subject needs ≥ 2 sequences (a probe and a gallery match); views_per_walk ≤ len(views)",
                )
            if self.walks > 99 or min(self.p_bg, self.p_cl) < 0 or self.p_bg + self.p_cl > 1:
                raise GaitCompressError("synth: walks ≤ 99 and p_bg, p_cl ≥ 0 with p_bg + p_cl ≤ 1", "e.g. 0.2, 0.2")

    @property
    def types(self) -> list[str]:
        """Sequence types in CASIA-B naming (gait3d layout: every covariate of every walk; each walk uses one)."""
        if self.layout == "gait3d":
            return [f"{c}-{w:02d}" for c in COVARIATES for w in range(1, self.walks + 1)]
        return (
            [f"nm-{i:02d}" for i in range(1, self.nm + 1)]
            + [f"bg-{i:02d}" for i in range(1, self.bg + 1)]
            + [f"cl-{i:02d}" for i in range(1, self.cl + 1)]
        )

    @property
    def view_names(self) -> list[str]:
        return [f"{v:03d}" for v in self.views]

    def id_name(self, subject: int) -> str:
        """Subject number (1-based) → folder name: 3 digits as CASIA-B, more when there are more subjects."""
        return f"{subject:0{max(3, len(str(self.ids)))}d}"

    @property
    def id_names(self) -> list[str]:
        return [self.id_name(i) for i in range(1, self.ids + 1)]

    def sequences(self, subject: int) -> list[tuple[str, int]]:
        """(type, view in degrees) of every sequence subject `subject` walks, a pure function of (seed, subject)."""
        if self.layout == "casiab":
            return [(t, v) for t in self.types for v in self.views]
        rng = np.random.default_rng((self.seed, 3, subject))
        out = []
        for walk in range(1, self.walks + 1):
            cov = COVARIATES[rng.choice(3, p=[1 - self.p_bg - self.p_cl, self.p_bg, self.p_cl])]
            views = sorted(int(v) for v in rng.choice(self.views, self.views_per_walk, replace=False))
            out += [(f"{cov}-{walk:02d}", v) for v in views]
        return out

    def probe_key(self, subject: int) -> str:
        """Gait3D layout: the subject's probe, 'id-type-view' (its first walk seen from its lowest view)."""
        type_, view = self.sequences(subject)[0]
        return f"{self.id_name(subject)}-{type_}-{view:03d}"

    def digest(self) -> str:
        """Short hash of the settings and generator version: the cache key of a generated set.

        The gait3d-layout fields enter it only for that layout, so the default set keeps the hash it always had.
        """
        doc = {"version": GENERATOR_VERSION, **dataclasses.asdict(self)}
        if self.layout == "casiab":
            for name in _GAIT3D_FIELDS:
                doc.pop(name)
        return hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:10]


MANY_VIEWS = tuple(range(0, 360, 15))  # 24 cameras all around the walker (Gait3D's cameras see every direction)
PRESETS = {
    "default": SynthConfig(),
    # Gait3D / OU-MVLP shaped: 1,000 training + 200 test subjects, 2 walks × 3 random cameras each (6 sequences)
    "many": SynthConfig(ids=1200, train=1000, layout="gait3d", views=MANY_VIEWS, walks=2, views_per_walk=3),
}


def preset(name: str) -> SynthConfig:
    """A named SynthGait set (`default`, `many`)."""
    if name not in PRESETS:
        raise GaitCompressError(f"synth: unknown preset {name!r}", did_you_mean(name, tuple(PRESETS)))
    return PRESETS[name]
