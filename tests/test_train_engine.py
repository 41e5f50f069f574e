"""The training engine on a tiny model: exact resume, checkpoints, weight-decay groups, schedules, logs."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.errors import GaitCompressError
from gaitcompress.train.config import OptimConfig, SchedConfig, TrainConfig
from gaitcompress.train.engine import Trainer
from gaitcompress.train.logging import read_log
from gaitcompress.train.module import SupervisedModule
from gaitcompress.train.optim import LrFactor, param_groups
from tests._train_tiny import StatelessLoader, TinyGait, TinyLoader, TinyLosses

SCHED = SchedConfig(name="multistep", milestones=(4,), gamma=0.1)


def factory(start):
    return StatelessLoader(seed=0, start=start)


def make_trainer(run_dir, iterations=6, loader_cls=TinyLoader, **train_kw):
    torch.manual_seed(0)
    module = SupervisedModule(TinyGait(), TinyLosses())
    cfg = TrainConfig(iterations=iterations, log_every=1, tensorboard=False, **train_kw)
    loader = factory if loader_cls is factory else loader_cls(seed=0)
    return Trainer(module, loader, run_dir, cfg, OptimConfig(lr=0.05), SCHED, meta={"recipe": {"a": 1}})


def weights(trainer):
    return {k: v.clone() for k, v in trainer.module.state_dict().items()}


@pytest.mark.parametrize("loader_cls", [TinyLoader, StatelessLoader, factory])
def test_resume_continues_exactly(tmp_path, loader_cls):
    straight = make_trainer(tmp_path / "a", loader_cls=loader_cls)
    straight.fit()

    first = make_trainer(tmp_path / "b", iterations=6, loader_cls=loader_cls, save_every=3)
    first.cfg = TrainConfig(iterations=3, log_every=1, tensorboard=False)  # stop half way, as a kill would
    first.fit()
    torch.manual_seed(123)  # a different global RNG state: the checkpoint must restore it
    resumed = make_trainer(tmp_path / "b", loader_cls=loader_cls)
    resumed.fit(resume=True)

    assert resumed.iteration == straight.iteration == 6
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    # the resumed run's log reads like the uninterrupted one
    loss_a = [r["loss"] for r in read_log(tmp_path / "a") if "loss" in r]
    loss_b = [r["loss"] for r in read_log(tmp_path / "b") if "loss" in r]
    assert loss_a == loss_b and len(loss_a) == 6


def test_checkpoint_contents_pruning_and_pointer(tmp_path):
    trainer = make_trainer(tmp_path, iterations=6, save_every=1, keep_last=2)
    trainer.fit()
    names = [p.name for p in ckpt_io.CheckpointDir(tmp_path).periodic()]
    assert names == ["ckpt_000005.pt", "ckpt_000006.pt"]
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "ckpt_000006.pt"
    assert not list((tmp_path / "checkpoints").glob(".*tmp"))
    ckpt = torch.load(tmp_path / "final.pt", weights_only=True)  # everything loads without pickle code
    assert set(ckpt) >= {"model", "spec", "train_state", "optimizer", "scheduler", "iteration", "rng", "recipe", "kind"}
    assert ckpt["iteration"] == 6 and ckpt["kind"] == "fp32" and ckpt["recipe"] == {"a": 1}
    assert ckpt["spec"]["num_classes"] == 4 and set(ckpt["model"]) == set(TinyGait().state_dict())
    assert ckpt_io.resolve_checkpoint(tmp_path) == tmp_path / "final.pt"


def test_latest_skips_a_corrupt_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, iterations=4, save_every=2, keep_last=3)
    trainer.fit()
    (tmp_path / "checkpoints" / "ckpt_000004.pt").write_bytes(b"truncated")
    assert ckpt_io.CheckpointDir(tmp_path).latest().name == "ckpt_000002.pt"
    with pytest.raises(GaitCompressError, match="not a PyTorch weights file gaitcompress can read"):
        ckpt_io.load(tmp_path / "checkpoints" / "ckpt_000004.pt")


class Stepped(nn.Module):
    """A module with a quantizer-like step that must get no weight decay."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.step = nn.Parameter(torch.ones(()))

    def no_weight_decay(self) -> set[str]:
        return {"step"}


def test_no_weight_decay_group():
    model = nn.Sequential(Stepped(), nn.Linear(2, 2))
    groups = param_groups(model, 5e-4)
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    assert groups[1]["params"] == [model[0].step]
    assert len(groups[0]["params"]) == 4


class GrowingK(SupervisedModule):
    """Extra train state (a soft-quantizer-like k buffer) that a per-iteration callback grows."""

    def __init__(self) -> None:
        super().__init__(TinyGait(), TinyLosses())
        self.register_buffer("k", torch.tensor(1.0))


def test_callbacks_and_extra_state_are_checkpointed(tmp_path):
    seen = []

    def grow(trainer, it):
        seen.append(it)
        trainer.module.k += 0.5

    cfg = TrainConfig(iterations=3, log_every=1, tensorboard=False)
    trainer = Trainer(GrowingK(), TinyLoader(), tmp_path, cfg, OptimConfig(), SCHED, callbacks=[grow])
    trainer.fit()
    assert seen == [1, 2, 3]
    state = ckpt_io.load(tmp_path / "final.pt")
    assert state["train_state"]["k"].item() == 2.5 and "k" not in state["model"]
    fresh = Trainer(GrowingK(), TinyLoader(), tmp_path, cfg, OptimConfig(), SCHED)
    assert fresh.resume() and fresh.module.k.item() == 2.5


def test_schedules():
    step = LrFactor(SchedConfig(name="multistep", milestones=(10, 20), gamma=0.1), 30)
    assert [step(i) for i in (0, 9, 10, 19, 20)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    cos = LrFactor(SchedConfig(name="cosine", warmup=10, warmup_factor=0.0, min_lr_ratio=0.1), 110)
    assert cos(0) == 0 and cos(5) == pytest.approx(0.5) and cos(10) == pytest.approx(1.0)
    assert cos(60) == pytest.approx(0.55) and cos(110) == pytest.approx(0.1)


def test_log_rows_and_eval(tmp_path):
    cfg = TrainConfig(iterations=4, log_every=2, eval_every=2, tensorboard=True)
    module = SupervisedModule(TinyGait(), TinyLosses())
    trainer = Trainer(module, TinyLoader(), tmp_path, cfg, OptimConfig(), SCHED, eval_fn=lambda m: {"R1": 50.0})
    metrics = trainer.fit()
    assert metrics == {"R1": 50.0}
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "loss" in r]
    assert [r["iteration"] for r in train_rows] == [2, 4]
    assert set(train_rows[0]) >= {"loss", "ce", "norm", "lr", "it_s"}
    assert [r["iteration"] for r in rows if "R1" in r] == [2, 4]
    assert list((tmp_path / "tb").glob("events.*"))


def test_non_finite_loss_is_a_clear_error(tmp_path):
    class Broken(SupervisedModule):
        def training_losses(self, batch):
            return {"ce": torch.tensor(float("nan"), requires_grad=True)}

    cfg = TrainConfig(iterations=2, tensorboard=False)
    trainer = Trainer(Broken(TinyGait(), TinyLosses()), TinyLoader(), tmp_path, cfg, OptimConfig(), SCHED)
    with pytest.raises(GaitCompressError, match="loss is nan at iteration 1"):
        trainer.fit()
