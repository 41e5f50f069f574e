"""Who walks: identity parameters, per-sequence session and nuisance draws, bag and coat shapes.

Lengths are in units of body height (the pretreatment rescales every frame to 64 rows, so only
proportions and motion survive it, as with real silhouettes). An identity is a point in a continuous
parameter space: body proportions, limb and torso widths, and per-joint angle curves given as a few
Fourier terms over the stride phase (population template + a subject-specific offset per coefficient).
A session (one recorded sequence) perturbs the gait a little, like a person walking on another day;
nuisance (phase, speed, render scale, view jitter, noise, occlusion) changes the image but not the person.
`difficulty` scales the session perturbation and all nuisance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

JOINTS = ("hip", "knee", "ankle", "shoulder", "elbow")
HARMONICS = 3  # Fourier terms per joint curve: a0 + Σ_{k≤3} a_k cos kφ + b_k sin kφ


def _bump(p: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Periodic Gaussian bump over the stride phase p ∈ [0, 1)."""
    d = (p - centre + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (d / width) ** 2)


def _fourier(curve: np.ndarray) -> np.ndarray:
    """First HARMONICS Fourier terms of a sampled periodic curve → [a0, a1, b1, a2, b2, a3, b3]."""
    spec = np.fft.rfft(curve) / len(curve)
    coef = [spec[0].real]
    for k in range(1, HARMONICS + 1):
        coef += [2 * spec[k].real, -2 * spec[k].imag]
    return np.array(coef)


def _template() -> np.ndarray:
    """Population joint-angle curves in degrees (heel strike of this leg at φ = 0), [len(JOINTS), 2·H+1].

    Shapes follow textbook sagittal gait curves: hip flexion +30°→−10°; knee with a loading bump (~15°)
    and a swing peak (~60°); small ankle motion; arm swinging opposite the same-side leg; a bent elbow.
    """
    p = np.arange(256) / 256
    curves = {
        "hip": 10 + 21 * np.cos(2 * np.pi * p) + 3 * np.cos(4 * np.pi * p + 0.3),
        "knee": 6 + 13 * _bump(p, 0.13, 0.06) + 52 * _bump(p, 0.72, 0.10),
        "ankle": 2 + 8 * _bump(p, 0.45, 0.12) - 14 * _bump(p, 0.63, 0.05),
        "shoulder": 4 - 17 * np.cos(2 * np.pi * p),
        "elbow": 22 - 9 * np.cos(2 * np.pi * p),
    }
    return np.stack([_fourier(curves[j]) for j in JOINTS])


TEMPLATE = _template()
# Between-subject spread of each Fourier coefficient (degrees), per joint; harmonic k gets σ/k.
_COEF_SIGMA = np.array([3.0, 4.0, 2.0, 4.0, 5.0])

# name: (population mean, coefficient of variation) — fractions of body height unless noted.
BODY = {
    "thigh": (0.245, 0.04),
    "shank": (0.245, 0.04),
    "foot": (0.13, 0.06),
    "torso": (0.29, 0.04),  # hip joint centre → shoulder joint height
    "neck": (0.035, 0.15),
    "upper_arm": (0.186, 0.05),
    "forearm": (0.25, 0.05),  # elbow → fingertips
    "shoulder_half": (0.12, 0.08),
    "hip_half": (0.055, 0.10),
    "chest_width": (0.105, 0.10),
    "chest_depth": (0.065, 0.14),
    "pelvis_width": (0.095, 0.10),
    "pelvis_depth": (0.07, 0.12),
    "head_width": (0.05, 0.07),
    "head_depth": (0.062, 0.07),
    "head_height": (0.07, 0.06),
    "thigh_r": (0.04, 0.14),
    "shank_r": (0.028, 0.12),
    "upper_arm_r": (0.024, 0.14),
    "forearm_r": (0.019, 0.12),
}
_BUILD = ("chest_width", "chest_depth", "pelvis_width", "pelvis_depth", "thigh_r", "shank_r", "upper_arm_r")

GAIT = {
    "period": (28.0, 0.10),  # frames per stride (two steps) at 25 fps
    "stride": (1.0, 0.15),  # scales hip and knee amplitude
    "arm_swing": (1.0, 0.25),  # scales shoulder and elbow amplitude
    "lean": (5.0, 0.6),  # forward trunk lean, degrees
    "head_tilt": (6.0, 0.8),  # forward head tilt, degrees
    "bob": (0.012, 0.4),  # vertical bob of the upper body on the pelvis (two per stride)
    "pelvis_rot": (6.0, 0.4),  # pelvis rotation about the vertical, degrees
    "abduction": (8.0, 0.4),  # arms held away from the trunk, degrees
}


@dataclass(frozen=True)
class Bag:
    kind: str  # backpack | shoulder | hand
    size: np.ndarray  # semi-axes (depth, width, height)
    side: int  # +1 left, −1 right


@dataclass(frozen=True)
class Coat:
    kind: str  # long (a skirt to the knee) | puffer (a thick short jacket)
    puff: float  # torso and sleeve widening factor
    length: float  # how far the hem reaches below the hip joint


@dataclass(frozen=True)
class Identity:
    body: dict[str, float]
    gait: dict[str, float]
    coef: np.ndarray  # [len(JOINTS), 2·HARMONICS+1] joint-angle Fourier coefficients, degrees
    asym: np.ndarray  # right-side scale of (leg amplitude, arm swing), and a right-leg phase lag in radians
    bag: Bag
    coat: Coat


@dataclass(frozen=True)
class Nuisance:
    phase: float  # stride phase of the first frame, radians
    view_jitter: float  # degrees added to the nominal camera azimuth
    px_height: float  # rendered body height in pixels before the pretreatment rescales it
    scale_jitter: float  # per-frame horizontal scale noise (segmentation wobble), relative
    erode: int  # −1 erode, 0 none, +1 dilate (segmentation too tight / too loose)
    flip_rate: float  # probability of flipping a boundary pixel
    occlusion: str  # none | pole | floor
    occlusion_pos: np.ndarray  # pole: start and end centre (fraction of width); floor: kept fraction of height
    occlusion_width: float


def _draw(rng: np.random.Generator, table: dict[str, tuple[float, float]], spread: float) -> dict[str, float]:
    z = np.clip(rng.standard_normal(len(table)), -2.5, 2.5)
    return {k: m * (1 + cv * spread * zi) for (k, (m, cv)), zi in zip(table.items(), z, strict=True)}


def sample_identity(seed: int, index: int) -> Identity:
    """Subject `index` of the set with `seed` (a pure function of both)."""
    rng = np.random.default_rng((seed, 1, index))
    body = _draw(rng, BODY, 1.0)
    build = float(np.clip(rng.standard_normal(), -2.0, 2.5)) * 0.12  # heavier/lighter: widths move together
    for k in _BUILD:
        body[k] *= 1 + build
    gait = _draw(rng, GAIT, 1.0)
    harm = np.array([1.0] + [1.0 / k for k in range(1, HARMONICS + 1) for _ in (0, 1)])  # σ/k per coefficient
    coef = TEMPLATE + rng.standard_normal(TEMPLATE.shape) * _COEF_SIGMA[:, None] * harm
    asym = np.array([1 + 0.08 * rng.standard_normal(), 1 + 0.12 * rng.standard_normal(), 0.08 * rng.standard_normal()])
    kind = ["backpack", "shoulder", "hand"][rng.integers(3)]
    base = {"backpack": (0.06, 0.11, 0.14), "shoulder": (0.07, 0.03, 0.07), "hand": (0.09, 0.035, 0.07)}[kind]
    bag = Bag(kind, np.array(base) * rng.uniform(0.8, 1.3, 3), int(rng.choice([-1, 1])))
    coat_kind = ["long", "puffer"][rng.integers(2)]
    if coat_kind == "long":
        coat = Coat("long", float(rng.uniform(1.1, 1.25)), float(rng.uniform(0.18, 0.3)))
    else:
        coat = Coat("puffer", float(rng.uniform(1.3, 1.5)), float(rng.uniform(0.06, 0.11)))
    return Identity(body, gait, coef, asym, bag, coat)


def sample_session(ident: Identity, rng: np.random.Generator, difficulty: float) -> Identity:
    """The same person on another recording: gait coefficients and style drift by a fraction of the spread."""
    d = difficulty
    coef = ident.coef + rng.standard_normal(ident.coef.shape) * _COEF_SIGMA[:, None] * 0.35 * d
    gait = {k: v * (1 + GAIT[k][1] * 0.3 * d * float(rng.standard_normal())) for k, v in ident.gait.items()}
    widths = {k: v * (1 + 0.03 * d * float(rng.standard_normal())) for k, v in ident.body.items() if k.endswith("_r")}
    body = {**ident.body, **widths}  # clothes of the day: limb widths vary a little, bones do not
    return replace(ident, coef=coef, gait=gait, body=body)


def sample_nuisance(rng: np.random.Generator, difficulty: float) -> Nuisance:
    """Image-level variation of one sequence."""
    d = difficulty
    erode = 0
    u = rng.random()
    if u < 0.15 * d:
        erode = -1
    elif u < 0.3 * d:
        erode = 1
    occlusion = "none"
    if rng.random() < 0.2 * d:
        occlusion = ["pole", "floor"][rng.integers(2)]
    pos = rng.uniform(-0.2, 1.2, 2) if occlusion == "pole" else rng.uniform(0.82, 0.95, 2)
    return Nuisance(
        phase=float(rng.uniform(0, 2 * np.pi)),
        view_jitter=float(rng.normal(0, 2.5 * d)),
        px_height=float(rng.uniform(64, 100)),
        scale_jitter=0.015 * d,
        erode=erode,
        flip_rate=0.06 * d,
        occlusion=occlusion,
        occlusion_pos=pos,
        occlusion_width=float(rng.uniform(0.06, 0.16)),
    )
