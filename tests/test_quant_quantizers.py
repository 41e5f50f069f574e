"""Quantizer maths: soft round, STE, LSQ gradient scale and init, ranges, rounding, qparams."""

from __future__ import annotations

import math

import pytest
import torch

from gaitcompress.quant.functional import round_ste, soft_round, soft_round_grad, soft_round_value
from gaitcompress.quant.quantizers import DorefaQuantizer, FixedQuantizer, LsqQuantizer, PactQuantizer, int_range


def test_soft_round_forward_equals_round_at_large_k():
    x = torch.linspace(-5.2, 5.2, 1001, dtype=torch.float64)
    x = x[(x - torch.floor(x) - 0.5).abs() > 0.02]  # off the half-integers, where round itself jumps
    assert torch.allclose(soft_round_value(x, 1000.0), torch.round(x), atol=1e-6)
    assert not torch.allclose(soft_round_value(x, 2.0), torch.round(x), atol=1e-2)  # a small k is really soft


def test_soft_round_fixed_points_and_range():
    n = torch.arange(-4, 5, dtype=torch.float64)
    for k in (1.0, 3.0, 5.0):
        assert torch.allclose(soft_round_value(n, k), n)  # θ_k(n) = n
        assert torch.allclose(soft_round_value(n + 0.5, k), n + 0.5)  # θ_k(n + ½) = n + ½


def test_soft_round_backward_is_analytic_derivative():
    x = torch.rand(200, dtype=torch.float64) * 10 - 5
    for k in (1.0, 3.0, 5.0):
        xg = x.clone().requires_grad_(True)
        soft_round(xg, k).sum().backward()
        d = x - torch.floor(x) - 0.5
        closed = k / (2 * math.tanh(k / 2)) / torch.cosh(k * d) ** 2  # ½·k·sech²(k·d)/tanh(k/2)
        assert torch.allclose(xg.grad, closed)
        eps = 1e-6
        fd = (soft_round_value(x + eps, k) - soft_round_value(x - eps, k)) / (2 * eps)
        assert torch.allclose(xg.grad, fd, atol=1e-5)
    assert torch.autograd.gradcheck(lambda t: soft_round(t, 3.0), (x[:8].clone().requires_grad_(True),))
    assert torch.allclose(
        soft_round_grad(torch.tensor([0.5], dtype=torch.float64), 1.0),
        torch.tensor([0.5 / math.tanh(0.5)], dtype=torch.float64),
    )


def test_round_half_to_even():
    x = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
    assert torch.equal(round_ste(x), torch.tensor([-2.0, -2.0, -0.0, 0.0, 2.0, 2.0]))
    q = FixedQuantizer(8, step=1.0).eval()
    assert torch.equal(q(torch.tensor([0.5, 1.5, 2.5])), torch.tensor([0.0, 2.0, 2.0]))


def test_ranges():
    assert int_range(8, True, True) == (-127, 127)
    assert int_range(4, True, True) == (-7, 7)
    assert int_range(8, True, False) == (-128, 127)
    assert int_range(4, False, False) == (0, 15)


def test_ste_gradient_is_one_inside_zero_outside():
    q = LsqQuantizer(4, signed=False)
    q.step.data.fill_(0.1)
    q.initialized.fill_(True)
    x = torch.tensor([-0.3, 0.05, 0.73, 1.49, 2.0], requires_grad=True)  # range is [0, 15·0.1]
    q(x).sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0]))
    q.set_mode("soft")
    q.set_k(3.0)
    x.grad = None
    q(x).sum().backward()
    assert x.grad[0] == 0 and x.grad[-1] == 0 and (x.grad[1:4] > 0).all()


def test_lsq_init_and_gradient_scale():
    torch.manual_seed(0)
    x = torch.randn(4, 6)
    q = LsqQuantizer(4, signed=True, narrow=True)
    q(x)
    assert bool(q.initialized)
    assert torch.allclose(q.step.detach(), 2 * x.abs().mean() / math.sqrt(7))
    # LSQ step gradient: g · Σ ∂x̂/∂v, with ∂x̂/∂v = round(x/v) − x/v inside, qmin/qmax outside; g = 1/√(N·Qp)
    q.step.grad = None
    q(x).sum().backward()
    v = q.step.detach()
    u = x / v
    inside = (u > -7) & (u < 7)
    dv = torch.where(inside, torch.round(u) - u, torch.clamp(u, -7, 7))
    assert torch.allclose(q.step.grad, dv.sum() / math.sqrt(x.numel() * 7), atol=1e-5)
    assert q.no_weight_decay() == {"step"}


def test_lsq_weights_per_channel_narrow():
    torch.manual_seed(0)
    w = torch.randn(5, 3, 3, 3) * torch.arange(1, 6).view(5, 1, 1, 1)
    q = LsqQuantizer(4, signed=True, channel_axis=0, narrow=True, channels=5)
    q(w)
    expected = 2 * w.abs().mean(dim=(1, 2, 3)) / math.sqrt(7)
    assert torch.allclose(q.step.detach(), expected)
    ints = q.integers(w * 100)  # saturates
    assert ints.min() == -7 and ints.max() == 7
    p = q.qparams()
    assert p["axis"] == 0 and p["scale"].shape == (5,) and p["zero_point"] == 0 and (p["qmin"], p["qmax"]) == (-7, 7)
    assert torch.allclose(q.eval()(w), q.integers(w).float() * p["scale"].view(5, 1, 1, 1))


def test_lsq_step_stays_positive_and_fp32_under_autocast():
    q = LsqQuantizer(8, signed=False)
    q(torch.rand(10))
    q.step.data.neg_()
    assert (q.qparams()["scale"] > 0).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = q(torch.rand(10).bfloat16())
    assert y.dtype == torch.bfloat16


@pytest.mark.parametrize("bits", [4, 8])
def test_stem_input_exact_for_zero_and_one(bits):
    q = FixedQuantizer(bits).eval()
    x = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert torch.equal(q(x), x)
    assert torch.equal(q.integers(x), torch.tensor([0, 2**bits - 1, 0, 2**bits - 1], dtype=torch.int32))
    s = FixedQuantizer(bits, signed=True).eval()  # the trt 8-bit variant: int8 grid, step 1/127
    assert torch.equal(s(x), x)


def test_dorefa_and_pact():
    w = torch.randn(8, 4)
    dq = DorefaQuantizer(4, signed=True, weight=True).eval()
    ints = dq.integers(w)
    assert ints.abs().max() == 7  # max |tanh| maps to the grid end
    assert torch.allclose(dq(w), ints.float() / 7)
    pq = PactQuantizer(4, signed=False)
    x = torch.tensor([-1.0, 0.31, 0.91, 2.0], requires_grad=True)
    pq(x)  # initialises α = max|x| = 2
    pq.alpha.data.fill_(1.0)
    y = pq(x)
    y.sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 0.0]))
    assert pq.alpha.grad.item() == 1.0  # ∂ŷ/∂α = 1 where x ≥ α
    assert torch.allclose(pq.eval()(x), torch.round(torch.clamp(x, 0, 1) * 15) / 15)


def test_quantizer_state_in_state_dict():
    q = LsqQuantizer(4, signed=False)
    q(torch.rand(10))
    q.set_k(3.4)
    sd = q.state_dict()
    assert set(sd) == {"step", "initialized", "soft_k"}
    r = LsqQuantizer(4, signed=False)
    r.load_state_dict(sd)
    assert bool(r.initialized) and float(r.soft_k) == pytest.approx(3.4) and torch.equal(r.step, q.step)


def test_softgrad_mode_rounds_forward_and_uses_soft_derivative():
    q = LsqQuantizer(4, signed=False)
    q.step.data.fill_(0.1)
    q.initialized.fill_(True)
    q.set_mode("softgrad")
    q.set_k(3.0)
    x = torch.tensor([-0.3, 0.33, 0.71, 2.0], requires_grad=True)
    y = q(x)
    assert torch.allclose(y, torch.round(torch.clamp(x / 0.1, 0, 15)) * 0.1)  # exactly the hard quantizer
    y.sum().backward()
    u = x.detach()[1:3] / 0.1
    assert x.grad[0] == 0 and x.grad[-1] == 0
    assert torch.allclose(x.grad[1:3], soft_round_grad(u, 3.0), atol=1e-5)


def test_mse_init_beats_lsq_init_at_8_bits():
    torch.manual_seed(0)
    w = torch.randn(6, 4, 3, 3)
    errs = {}
    for init in ("lsq", "mse"):
        q = LsqQuantizer(8, signed=True, channel_axis=0, narrow=True, channels=6, init=init).eval()
        errs[init] = ((q(w) - w).norm() / w.norm()).item()
    assert errs["mse"] < errs["lsq"] / 3  # LSQ's 2·mean|w|/√127 grid is ~6× too coarse at 8 bits
