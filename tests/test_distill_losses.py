"""Distillation losses: zero at agreement, hand-computed tiny cases, gradients reach the student only, shapes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gaitcompress.distill.losses import DISTILL_LOSSES
from gaitcompress.errors import GaitCompressError

N, C, K, P = 8, 6, 5, 4
LABELS = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
LOGIT_LOSSES = ["part_logit_kd", "kd_vanilla", "dkd"]
FEATURE_LOSSES = ["feat_mse", "idd", "face_instance", "face_relation", "rkd"]


def _inputs(name: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shape = (N, K, P) if name in LOGIT_LOSSES else (N, C, P)
    s = torch.randn(shape, generator=g)
    t = torch.randn(shape, generator=g)
    if name in LOGIT_LOSSES:  # cosine logits live in [-1, 1]
        s, t = s.tanh(), t.tanh()
    return s, t


@pytest.mark.parametrize("name", LOGIT_LOSSES + FEATURE_LOSSES)
def test_zero_when_student_equals_teacher(name: str) -> None:
    _, t = _inputs(name)
    loss = DISTILL_LOSSES.build(name)(t.clone(), t, LABELS)
    assert loss.dim() == 0
    assert abs(float(loss)) < 1e-5


@pytest.mark.parametrize("name", [*LOGIT_LOSSES, *FEATURE_LOSSES, "ab"])
def test_gradient_reaches_student_only(name: str) -> None:
    s, t = _inputs(name)
    s.requires_grad_(True)
    t.requires_grad_(True)
    loss = DISTILL_LOSSES.build(name)(s, t.detach(), LABELS)
    assert float(loss.detach()) > 0
    loss.backward()
    assert s.grad is not None and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0
    assert t.grad is None


def test_part_logit_kd_matches_hand_computation() -> None:
    s = torch.tensor([[[0.1], [0.5]]])  # [N=1, K=2, P=1]
    t = torch.tensor([[[0.4], [0.2]]])
    p_t = F.softmax(torch.tensor([0.4, 0.2]) * 16 / 4, 0)
    p_s = F.softmax(torch.tensor([0.1, 0.5]) * 16 / 4, 0)
    expected = 16 * float((p_t * (p_t / p_s).log()).sum())
    got = DISTILL_LOSSES.build("part_logit_kd")(s, t)
    assert math.isclose(float(got), expected, rel_tol=1e-5)


def test_part_logit_kd_is_mean_over_parts_unlike_vanilla() -> None:
    s, t = _inputs("part_logit_kd")
    per_part = [DISTILL_LOSSES.build("part_logit_kd")(s[..., p : p + 1], t[..., p : p + 1]) for p in range(P)]
    assert torch.allclose(DISTILL_LOSSES.build("part_logit_kd")(s, t), torch.stack(per_part).mean())
    # Vanilla KD averages logits over parts first: a per-part disagreement that cancels is invisible to it.
    t2 = torch.zeros(1, 2, 2)
    s2 = torch.tensor([[[0.5, -0.5], [-0.5, 0.5]]])
    assert float(DISTILL_LOSSES.build("kd_vanilla")(s2, t2)) < 1e-7
    assert float(DISTILL_LOSSES.build("part_logit_kd")(s2, t2)) > 0.1


def test_ab_hand_computed_and_zero_beyond_margin() -> None:
    ab = DISTILL_LOSSES.build("ab", margin=1.0)
    # One sample, 2 channels, 1 part: teacher (+, −); student (0.5, 0.5) → (0.5−1)² + (0.5+1)² = 0.25 + 2.25.
    s = torch.tensor([[[0.5], [0.5]]])
    t = torch.tensor([[[2.0], [-3.0]]])
    assert math.isclose(float(ab(s, t)), 2.5, rel_tol=1e-6)
    # On the teacher's side of every boundary by at least the margin: nothing to learn.
    t3 = torch.randn(N, C, P)
    s3 = t3.sign() * (1.0 + t3.abs())
    assert float(ab(s3, t3)) == 0.0
    # Parts count as samples: duplicating the part axis leaves the value unchanged.
    assert torch.allclose(ab(s.repeat(1, 1, 3), t.repeat(1, 1, 3)), ab(s, t))


def test_dkd_equals_weighted_tckd_plus_nckd_by_hand() -> None:
    z_s = torch.tensor([[1.0, 0.0, -1.0]])  # [N=1, K=3], a 2-D input is used as class logits (× scale)
    z_t = torch.tensor([[0.0, 1.0, 0.5]])
    y = torch.tensor([0])
    p_s, p_t = z_s.softmax(1)[0], z_t.softmax(1)[0]
    b_s, b_t = torch.stack([p_s[0], 1 - p_s[0]]), torch.stack([p_t[0], 1 - p_t[0]])
    tckd = (b_t * (b_t / b_s).log()).sum()
    q_s, q_t = z_s[0, 1:].softmax(0), z_t[0, 1:].softmax(0)
    nckd = (q_t * (q_t / q_s).log()).sum()
    got = DISTILL_LOSSES.build("dkd", alpha=1.0, beta=8.0, temperature=1.0, scale=1.0)(z_s, z_t, y)
    assert math.isclose(float(got), float(tckd + 8 * nckd), rel_tol=1e-5)


def test_idd_hand_computed_three_points() -> None:
    # 1-D points, one part: labels (0, 0, 1) → anchors 0 and 1 see only point 2; anchor 2 sees 0 and 1.
    t = torch.tensor([[[0.0]], [[1.0]], [[3.0]]])  # [N=3, C=1, P=1]
    s = torch.tensor([[[0.0]], [[2.0]], [[3.0]]])
    y = torch.tensor([0, 0, 1])
    q_t = torch.softmax(torch.tensor([-3.0, -2.0]), 0)  # anchor 2: distances 3, 2 (teacher)
    q_s = torch.softmax(torch.tensor([-3.0, -1.0]), 0)  # distances 3, 1 (student)
    anchor2 = float((q_t * (q_t / q_s).log()).sum())
    got = DISTILL_LOSSES.build("idd")(s, t, y)
    assert math.isclose(float(got), anchor2 / 3, rel_tol=1e-5)  # anchors 0, 1 contribute KL 0 (one negative)


def test_idd_depends_only_on_relative_distances() -> None:
    t = torch.randn(N, C, P)
    s = t.clone()
    s[1] = s[0] + 0.01 * torch.randn(C, P)  # sample 1 collapses onto its class mate
    assert float(DISTILL_LOSSES.build("idd")(s, t, LABELS)) > 0  # its distances to other classes changed
    # A uniform shift of all embeddings changes no distance at all.
    assert float(DISTILL_LOSSES.build("idd")(t + 3.0, t, LABELS)) < 1e-6


def test_face_instance_schedule_moves_weight_to_hard_samples() -> None:
    t = torch.randn(N, C, P)
    s = t.clone()
    s[0] = torch.randn(C, P)  # one hard sample: unrelated to its teacher embedding
    s[1:] += 0.1 * torch.randn(N - 1, C, P)
    loss = DISTILL_LOSSES.build("face_instance", gamma_max=2.0)
    early = loss(s, t)
    loss.set_progress(1.0)
    late_s = s.clone().requires_grad_(True)
    late = loss(late_s, t)
    assert float(late.detach()) > float(early)  # the hard sample dominates late in training
    late.backward()
    assert late_s.grad[0].abs().sum() > 10 * late_s.grad[1:].abs().sum(dim=(1, 2)).max()


def test_face_relation_memory_bank_is_fifo_and_mines_topk() -> None:
    loss = DISTILL_LOSSES.build("face_relation", bank_size=10, topk=3)
    t = torch.randn(N, C, P)
    loss(t.clone(), t)
    assert loss.bank.shape == (8, C * P)
    t2 = torch.randn(N, C, P)
    loss(t2.clone(), t2)
    assert loss.bank.shape == (10, C * P)  # full; oldest overwritten from the front
    v2 = F.normalize(t2, dim=1).flatten(1) / P**0.5
    assert torch.allclose(loss.bank[8:], v2[:2]) and torch.allclose(loss.bank[:6], v2[2:])
    assert "bank" not in loss.state_dict()
    loss.eval()
    before = loss.bank.clone()
    loss(torch.randn(N, C, P), t)
    assert torch.equal(loss.bank, before)  # no enqueue outside training


def test_rkd_is_scale_invariant_in_distance_term() -> None:
    t = torch.randn(N, C * P)
    assert float(DISTILL_LOSSES.build("rkd")(2.5 * t, t)) < 1e-6  # both potentials ignore a global scale


def test_unknown_loss_and_argument_fail_with_suggestions() -> None:
    with pytest.raises(GaitCompressError, match="did you mean 'part_logit_kd'"):
        DISTILL_LOSSES.build("part_logit")
    with pytest.raises(GaitCompressError, match="temperature"):
        DISTILL_LOSSES.build("part_logit_kd", temprature=2.0)
