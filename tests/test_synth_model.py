"""GaitCrafter model: U-Net shapes, conditioning, noise schedules, deterministic DDIM, novel-id naming, layout."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from gaitcompress.errors import GaitCompressError
from gaitcompress.models import create_model
from gaitcompress.synth.conditioning import Condition, LabelSpace, covariate_of
from gaitcompress.synth.critic import CriticConfig, IdentityCritic
from gaitcompress.synth.diffusion import DiffusionConfig, GaussianDiffusion, beta_schedule
from gaitcompress.synth.generator import build_generator, load_generator
from gaitcompress.synth.sample import SampleConfig, generate_plan, novel_names, plan, to_layout, write_dataset
from gaitcompress.synth.unet3d import PRESETS, UNet3D

IDS = ["001", "002", "003"]
T, H, W = 4, 16, 11


def _generator(**diffusion):
    torch.manual_seed(0)
    g = build_generator(IDS, ["000", "090"], ["bg", "cl", "nm"], T, H, W, preset="tiny", diffusion=diffusion)
    for p in g.unet.out.parameters():  # the output conv starts at zero; give it weights so outputs differ
        nn.init.normal_(p, std=0.1)
    return g.eval()


def _cond(ids=(0, 1), view=1, cov=1):
    n = len(ids)
    return Condition(torch.eye(len(IDS))[list(ids)], torch.full((n,), view), torch.full((n,), cov))


@pytest.mark.parametrize("size", [(16, 11), (32, 22)])
def test_unet_keeps_clip_shape_at_odd_sizes(size):
    net = UNet3D(PRESETS["tiny"], emb_dim=16)
    x = torch.randn(2, 1, T, *size)
    assert net(x, torch.randn(2, 16)).shape == x.shape


def test_every_conditioning_input_changes_the_prediction():
    g = _generator()
    x, t = torch.randn(2, 1, T, H, W), torch.tensor([500, 500])
    with torch.no_grad():
        base = g(x, t, _cond())
        for other in (_cond(ids=(2, 2)), _cond(view=2), _cond(cov=3), _cond().null()):
            assert not torch.allclose(base, g(x, t, other), atol=1e-5)
        assert not torch.allclose(base, g(x, torch.tensor([10, 10]), _cond()), atol=1e-5)


def test_condition_dropout_zeroes_whole_rows():
    c = _cond(ids=(0, 1, 2, 0, 1, 2, 0, 1))
    c = Condition(c.id_code, c.view, c.covariate)
    dropped = c.drop(0.5, torch.Generator().manual_seed(1))
    gone = dropped.view == 0
    assert 0 < gone.sum() < len(c)
    assert (dropped.covariate[gone] == 0).all() and (dropped.id_code[gone] == 0).all()
    assert torch.equal(dropped.id_code[~gone], c.id_code[~gone])


@pytest.mark.parametrize("name", ["cosine", "linear"])
def test_noise_schedule_is_monotone_and_ends_near_pure_noise(name):
    betas = beta_schedule(name, 1000)
    abar = torch.cumprod(1 - betas, 0)
    assert (betas > 0).all() and (betas < 1).all()
    assert (abar[1:] < abar[:-1]).all()
    assert abar[0] > 0.99 and abar[-1] < 1e-3
    with pytest.raises(GaitCompressError, match="schedule"):
        beta_schedule("quadratic", 10)


def test_q_sample_matches_closed_form_moments():
    d = GaussianDiffusion(DiffusionConfig(steps=100))
    x0 = torch.ones(20000)
    t = torch.full((20000,), 50)
    xt = d.q_sample(x0[:, None], t, torch.randn(20000, 1))
    abar = d.alphas_cumprod[50].item()
    assert abs(xt.mean().item() - abar**0.5) < 0.02
    assert abs(xt.var().item() - (1 - abar)) < 0.02


def test_ddim_is_deterministic_for_a_seed_and_differs_across_seeds():
    g = _generator(steps=50, sample_steps=4)
    a = g.generate(_cond(), seed=3)
    b = g.generate(_cond(), seed=3)
    c = g.generate(_cond(), seed=4)
    assert a.shape == (2, T, H, W) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_ddpm_sampler_runs_and_guidance_uses_the_unconditional_branch():
    g = _generator(steps=6)
    out = g.generate(_cond(), seed=0, method="ddpm")
    assert out.shape == (2, T, H, W) and torch.isfinite(out).all()
    plain = g.generate(_cond(), seed=0, steps=3)
    guided = g.generate(_cond(), seed=0, steps=3, guidance=3.0)
    assert not torch.equal(plain, guided)
    with pytest.raises(GaitCompressError, match="sampler"):
        g.generate(_cond(), method="euler")


def test_training_loss_is_finite_and_reaches_the_stem():
    g = _generator()
    x0 = torch.rand(2, 1, T, H, W) * 2 - 1
    mask = torch.zeros(2, 1, T, 1, 1)
    mask[:, :, :2] = 1
    loss = g.train().denoising(x0, _cond(), mask=mask).mse
    loss.backward()
    assert torch.isfinite(loss) and g.unet.stem.weight.grad is not None


def test_novel_names_never_collide_with_real_ids():
    assert novel_names(2, ["001", "002"]) == ["syn0000", "syn0001"]
    names = novel_names(3, ["syn0001", "007"])
    assert not set(names) & {"syn0001", "007"} and len(set(names)) == 3


def test_plan_expands_requests_and_blends_novel_identities():
    g = _generator()
    p = plan(g, SampleConfig(ids=("002",), views=("090",), types=("cl",), per=2, novel=2, parents=2, seed=1))
    assert [m.id for m in p.meta] == ["002", "002", "syn0000", "syn0000", "syn0001", "syn0001"]
    assert {m.type for m in p.meta} == {"cl-syn01", "cl-syn02"} and {m.view for m in p.meta} == {"090"}
    novel_codes = p.cond.id_code[2:]
    assert torch.allclose(novel_codes.sum(1), torch.ones(4)) and ((novel_codes > 0).sum(1) == 2).all()
    assert set(p.novel) == {"syn0000", "syn0001"}
    with pytest.raises(GaitCompressError, match="not trained on id '009'"):
        plan(g, SampleConfig(ids=("009",)))


def test_written_layout_is_opengait_shaped_binary_and_reloads(tmp_path):
    g = _generator(steps=20, sample_steps=2)
    cfg = SampleConfig(ids=("001",), views=("000",), types=("nm", "bg"), novel=1, batch=2)
    p = plan(g, cfg)
    frames = to_layout(generate_plan(g, p, cfg))
    write_dataset(tmp_path, frames, p.meta, p.novel)
    seq = pickle.loads((tmp_path / "001" / "bg-syn01" / "000" / "000.pkl").read_bytes())
    assert seq.dtype == np.uint8 and seq.shape == (T, 64, 64)
    assert set(np.unique(seq)) <= {0, 255}
    assert not seq[:, :, :10].any() and not seq[:, :, -10:].any()  # the columns OpenGait's loader crops
    part = (tmp_path / "partition.json").read_text()
    assert "syn0000" in part and "001" in part
    assert covariate_of(p.meta[0].type) == "nm"


def test_checkpoint_roundtrip_rebuilds_the_same_generator(tmp_path):
    g = _generator()
    torch.save({"model": g.state_dict(), "spec": {"family": "gaitcrafter", **g.spec.__dict__}}, tmp_path / "g.pt")
    h = load_generator(tmp_path / "g.pt")
    assert h.labels == LabelSpace(tuple(IDS), ("000", "090"), ("bg", "cl", "nm"))
    x = torch.randn(1, 1, T, H, W)
    with torch.no_grad():
        assert torch.equal(g(x, torch.tensor([3]), _cond((0,))), h(x, torch.tensor([3]), _cond((0,))))
    torch.save({"model": {}, "spec": {"family": "gaitbase"}}, tmp_path / "bad.pt")
    with pytest.raises(GaitCompressError, match="not a GaitCrafter checkpoint"):
        load_generator(tmp_path / "bad.pt")


def _film_generator(**diffusion):
    torch.manual_seed(0)
    g = build_generator(
        IDS, ["000", "090"], ["bg", "cl", "nm"], T, H, W, preset="tiny", unet={"scale_shift": True},
        diffusion=diffusion,
    )  # fmt: skip
    for p in g.unet.out.parameters():
        nn.init.normal_(p, std=0.1)
    return g.eval()


def test_film_conditioning_reaches_every_label_through_the_blocks():
    g = _film_generator()
    assert all(b.emb.out_features == 2 * b.norm2.num_channels for level in g.unet.down for b in level.blocks)
    x, t = torch.randn(2, 1, T, H, W), torch.tensor([500, 500])
    with torch.no_grad():
        base = g(x, t, _cond())
        for other in (_cond(ids=(2, 2)), _cond(view=2), _cond(cov=3), _cond().null()):
            assert not torch.allclose(base, g(x, t, other), atol=1e-5)
        # view and covariate also act through the embedding, not only through the input maps
        emb = g.cond.embedding(t, _cond())
        assert not torch.allclose(emb, g.cond.embedding(t, _cond(view=2)))
        assert not torch.allclose(emb, g.cond.embedding(t, _cond(cov=3)))


@pytest.mark.parametrize("make", [_generator, _film_generator], ids=["additive", "film"])
def test_guidance_scale_zero_is_the_unconditional_model(make):
    g = make(steps=50, sample_steps=4)
    zero = g.generate(_cond(), seed=2, guidance=0.0)
    assert torch.equal(zero, g.generate(_cond().null(), seed=2, guidance=1.0))
    assert not torch.equal(zero, g.generate(_cond(), seed=2, guidance=1.0))  # the labels do matter


@pytest.mark.parametrize("method", ["ddim", "ddpm"])
def test_guided_sampling_is_deterministic_for_a_seed(method):
    g = _film_generator(steps=8, sample_steps=4)
    a = g.generate(_cond(), seed=5, method=method, guidance=3.0)
    assert torch.equal(a, g.generate(_cond(), seed=5, method=method, guidance=3.0))
    assert not torch.equal(a, g.generate(_cond(), seed=6, method=method, guidance=3.0))


def test_novel_parents_come_from_the_pool():
    g = _generator()
    p = plan(g, SampleConfig(real=False, novel=6, pool=("001", "003"), views=("000",), types=("nm",)))
    assert all(set(parents) == {"001", "003"} for parents in p.novel.values())
    with pytest.raises(GaitCompressError, match="pool"):
        plan(g, SampleConfig(real=False, novel=1, pool=("001",), parents=2))


def test_gpu_recipe_builds_the_paper_generator_at_64x44_by_30_frames():
    from gaitcompress.recipe import load_recipe
    from gaitcompress.synth.stage import parse

    cfg = parse(load_recipe("recipes/synthgait/synth_gpu.yaml"))
    assert (tuple(cfg.data.input_size), cfg.data.train_frames) == ((64, 44), 30)
    g = build_generator(IDS, ["000"], ["nm"], cfg.data.train_frames, *cfg.data.input_size,
                        preset=cfg.generator.preset, unet=cfg.generator.unet)  # fmt: skip
    assert (g.frames, g.height, g.width) == (30, 64, 44) and g.unet.cfg.scale_shift


def test_identity_critic_reads_only_low_noise_rows_that_kept_their_labels():
    torch.manual_seed(0)
    critic = IdentityCritic(create_model("gaitbase_w0125", num_classes=3), CriticConfig(weight=2.0, max_step=100))
    x0 = torch.rand(3, 1, T, 32, 22) * 2 - 1
    x0_hat = (-x0).requires_grad_(True)  # a wrong denoising: every row that counts adds to the term
    lengths = torch.full((3,), T)
    kept = torch.tensor([True, True, False])
    assert critic.loss(x0, x0, torch.tensor([10, 10, 10]), kept, lengths).item() == pytest.approx(0.0, abs=1e-5)
    loss = critic.loss(x0_hat, x0, torch.tensor([10, 500, 10]), kept, lengths)  # only row 0 counts
    one = critic.loss(x0_hat[:1], x0[:1], torch.tensor([10]), kept[:1], lengths[:1])
    assert loss.item() == pytest.approx(one.item(), rel=1e-5) and loss.item() > 0
    loss.backward()
    assert x0_hat.grad[0].abs().sum() > 0 and x0_hat.grad[1:].abs().sum() == 0
    assert all(p.grad is None for p in critic.recognizer.parameters())
    none = critic.loss(x0_hat, x0, torch.tensor([500, 500, 10]), kept, lengths)
    assert none.item() == 0.0
