"""The articulated body: joint-angle curves → 3D capsules and ellipsoids for every frame.

Body frame: x forward (walking direction), y to the walker's left, z up, origin at the hip-joint centre,
unit = body height. Legs and arms swing in their sagittal planes; the pelvis rotates about the vertical
and the shoulders counter-rotate; the upper body leans forward and bobs on the pelvis. Each primitive
carries per-frame positions, so the whole clip is built with array operations (no per-frame loop).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gaitcompress.data.synthgait.identity import HARMONICS, JOINTS, Identity


@dataclass
class Scene:
    """Per-frame primitives of one clip (T frames)."""

    capsules: list[tuple[np.ndarray, np.ndarray, float, float]] = field(default_factory=list)  # a, b [T,3]; ra, rb
    ellipsoids: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # centre [T,3], axes [T,3,3]

    def capsule(self, a: np.ndarray, b: np.ndarray, ra: float, rb: float | None = None) -> None:
        self.capsules.append((a, b, float(ra), float(ra if rb is None else rb)))

    def ellipsoid(self, centre: np.ndarray, rot: np.ndarray, semi: np.ndarray) -> None:
        """`rot [T,3,3]` orients semi-axes `semi [3]`: columns of rot·diag(semi) span the ellipsoid."""
        self.ellipsoids.append((centre, rot * np.asarray(semi, float)[None, None, :]))


def joint_angles(coef: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Fourier joint curves at `phase [T]` (radians) → degrees `[len(JOINTS), T]`."""
    k = np.arange(1, HARMONICS + 1)[:, None] * phase[None, :]  # [H, T]
    basis = np.concatenate([np.ones_like(phase)[None], np.stack([np.cos(k), np.sin(k)], 1).reshape(-1, len(phase))])
    return coef @ basis  # [J, 2H+1] @ [2H+1, T]


def rot_z(a: np.ndarray) -> np.ndarray:
    """Rotation about the vertical by angles `a [T]` → `[T,3,3]`."""
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, o], -1), np.stack([s, c, o], -1), np.stack([o, o, i], -1)], -2)


def rot_y(a: np.ndarray) -> np.ndarray:
    """Forward pitch by angles `a [T]`: a point above the origin moves to +x. → `[T,3,3]`."""
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, o, s], -1), np.stack([o, i, o], -1), np.stack([-s, o, c], -1)], -2)


def _apply(rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    """`rot [T,3,3]` · `v [T,3]` or `[3]`."""
    return np.einsum("tij,tj->ti", rot, np.broadcast_to(v, (rot.shape[0], 3)))


def _sagittal(angle_deg: np.ndarray) -> np.ndarray:
    """Unit vector hanging down, swung forward by `angle` → `[T,3]`."""
    a = np.radians(angle_deg)
    return np.stack([np.sin(a), np.zeros_like(a), -np.cos(a)], -1)


def _limb_dir(angle_deg: np.ndarray, abduction_deg: float, side: int) -> np.ndarray:
    """Arm direction: sagittal swing `angle`, tilted sideways away from the trunk by `abduction`."""
    a, g = np.radians(angle_deg), np.radians(abduction_deg)
    return np.stack([np.sin(a) * np.cos(g), np.full_like(a, side * np.sin(g)), -np.cos(a) * np.cos(g)], -1)


def build_scene(ident: Identity, phase: np.ndarray, bag: bool = False, coat: bool = False) -> Scene:
    """Primitives of `ident` at stride phases `phase [T]` (radians), optionally with its bag or coat."""
    b, g = ident.body, ident.gait
    t = len(phase)
    scene = Scene()
    puff = ident.coat.puff if coat else 1.0
    leg_amp, arm_amp, lag = ident.asym
    psi = -np.radians(g["pelvis_rot"]) * np.cos(phase)  # left hip forward when the left leg is forward (φ = 0)
    pelvis = rot_z(psi)
    shoulders = rot_y(np.full(t, np.radians(g["lean"]))) @ rot_z(-0.5 * psi)
    bob = np.zeros((t, 3))
    bob[:, 2] = g["bob"] * np.cos(2 * phase)

    # Legs: hip, knee, ankle angles per side; right leg half a stride later (+ a subject's lag).
    hands = {}
    for side, ph, amp in ((1, phase, 1.0), (-1, phase + np.pi + lag, leg_amp)):
        ang = joint_angles(ident.coef, ph)  # [J, T]
        hip_a = ang[JOINTS.index("hip")] * g["stride"] * amp
        knee_a = np.maximum(ang[JOINTS.index("knee")] * g["stride"] * amp, 0.0)
        ankle_a = ang[JOINTS.index("ankle")]
        hip = _apply(pelvis, np.array([0.0, side * b["hip_half"], 0.0]))
        knee = hip + _apply(pelvis, _sagittal(hip_a) * b["thigh"])
        shank_a = hip_a - knee_a
        ankle = knee + _apply(pelvis, _sagittal(shank_a) * b["shank"])
        fa = np.radians(shank_a + ankle_a)
        foot_dir = _apply(pelvis, np.stack([np.cos(fa), np.zeros(t), np.sin(fa)], -1))
        heel = ankle - 0.25 * b["foot"] * foot_dir - np.array([0, 0, 0.02])
        toe = heel + b["foot"] * foot_dir
        thigh_r = b["thigh_r"] * (1.1 if coat else 1.0)
        scene.capsule(hip, knee, thigh_r, 0.72 * thigh_r)
        scene.capsule(knee, ankle, b["shank_r"], 0.6 * b["shank_r"])
        scene.capsule(heel, toe, 0.022)

        # Arm on the same side swings against this leg: shoulder angle from the same phase.
        hand_bag = bag and ident.bag.kind == "hand" and ident.bag.side == side
        swing = g["arm_swing"] * (1.0 if side == 1 else arm_amp) * (0.3 if hand_bag else 1.0)
        sh_a = ang[JOINTS.index("shoulder")] * swing
        el_a = np.maximum(ang[JOINTS.index("elbow")] * (0.3 if hand_bag else np.sqrt(swing)), 0.0)
        shoulder = _apply(shoulders, np.array([0.0, side * b["shoulder_half"], b["torso"]])) + bob
        elbow = shoulder + _limb_dir(sh_a, g["abduction"], side) * b["upper_arm"]
        hand = elbow + _limb_dir(sh_a + el_a, g["abduction"] * 0.6, side) * b["forearm"]
        scene.capsule(shoulder, elbow, b["upper_arm_r"] * puff, 0.85 * b["upper_arm_r"] * puff)
        scene.capsule(elbow, hand, b["forearm_r"] * min(puff, 1.25), 0.8 * b["forearm_r"])
        hands[side] = hand

    # Trunk and head.
    scene.ellipsoid(_apply(pelvis, np.array([0, 0, 0.03])), pelvis, [b["pelvis_depth"], b["pelvis_width"], 0.085])
    chest_c = _apply(shoulders, np.array([0, 0, 0.6 * b["torso"]])) + bob
    chest_semi = np.array([b["chest_depth"] * puff, b["chest_width"] * puff, 0.42 * b["torso"]])
    scene.ellipsoid(chest_c, shoulders, chest_semi)
    neck_a = _apply(shoulders, np.array([0, 0, b["torso"] - 0.02])) + bob
    neck_b = _apply(shoulders, np.array([0, 0, b["torso"] + b["neck"]])) + bob
    scene.capsule(neck_a, neck_b, 0.022 * (1.3 if coat else 1.0))
    head_rot = rot_y(np.full(t, np.radians(g["lean"] + g["head_tilt"])))
    head_c = neck_b + _apply(head_rot, np.array([0.01, 0, 0.8 * b["head_height"]]))
    scene.ellipsoid(head_c, head_rot, [b["head_depth"], b["head_width"], b["head_height"]])

    if coat:
        hem = ident.coat.length
        skirt_c = _apply(pelvis, np.array([0.0, 0.0, 0.05 - hem / 2]))
        skirt = [b["pelvis_depth"] * 1.25 * puff, b["pelvis_width"] * 1.3 * puff, hem / 2 + 0.06]
        scene.ellipsoid(skirt_c, pelvis, skirt)
    if bag:
        size, side = ident.bag.size, ident.bag.side
        if ident.bag.kind == "backpack":
            back = np.array([-(b["chest_depth"] * puff + size[0] * 0.8), 0, 0.65 * b["torso"]])
            scene.ellipsoid(_apply(shoulders, back) + bob, shoulders, size)
        elif ident.bag.kind == "shoulder":
            sway = np.stack([0.02 * np.sin(phase), np.zeros(t), np.zeros(t)], -1)
            at = _apply(pelvis, np.array([0.01, side * (b["pelvis_width"] + size[1]), 0.02])) + sway
            scene.ellipsoid(at, pelvis, size)
            strap_top = _apply(shoulders, np.array([0, -side * b["shoulder_half"] * 0.8, b["torso"]])) + bob
            scene.capsule(strap_top, at, 0.008)
        else:
            scene.ellipsoid(hands[side] - np.array([0, 0, size[2] * 0.9]), rot_z(np.zeros(t)), size)
    return scene
