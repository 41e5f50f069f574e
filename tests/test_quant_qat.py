"""Two-stage QAT smoke run on a tiny GaitBase, k schedule, and QAT checkpoints that load back with the same steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.data.batch import Batch, SeqMeta
from gaitcompress.errors import GaitCompressError
from gaitcompress.models import create_model
from gaitcompress.models.weights import load_checkpoint
from gaitcompress.quant import QConfig, quantize_model, quantizers
from gaitcompress.quant.qat import QuantRecipe, _train_module, train_stages
from gaitcompress.quant.qmodel import load_quantized, save_quantized
from gaitcompress.quant.schedule import SoftKConfig
from gaitcompress.recipe import from_dict


def loader(seed=0, n_cls=4, k=2, t=3, hw=(16, 11)):
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(n_cls, *hw, generator=g) > 0.5).float()
    while True:
        labels = torch.arange(n_cls).repeat_interleave(k)
        flip = (torch.rand(len(labels), t, *hw, generator=g) < 0.1).float()
        sils = (protos[labels][:, None] - flip).abs()  # [N, T, H, W] binary
        meta = [SeqMeta(str(int(c)), "nm-01", "000") for c in labels]
        yield Batch(sils=sils, labels=labels, lengths=torch.full((len(labels),), t), meta=meta)


def recipe(terms=True):
    return from_dict(
        QuantRecipe,
        {
            "loss": {"triplet": {"weight": 1.0, "margin": 0.2}, "ce": {"weight": 1.0, "scale": 16}},
            "optim": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
            "train": {"log_every": 1, "tensorboard": False, "device": "cpu"},
            "quant": {
                "checkpoint": "unused",
                "preset": "w4a4",
                "stage1": {"iterations": 3},
                "stage2": {"iterations": 3, "lr_scale": 0.1},
                "soft_k": {"schedule": "grow", "start": 1.0, "increment": 0.5, "every": 1, "threshold": 2.0},
                "terms": [{"loss": "idd", "student": "embeddings", "weight": 1.0}] if terms else [],
            },
        },
    )


def test_k_schedules():
    grow = SoftKConfig(schedule="grow", start=1.0, increment=0.2, every=100, threshold=5.0)  # QGait GROW-2, T = 5
    assert [grow.k_at(i) for i in (0, 99, 100, 250, 10_000)] == pytest.approx([1.0, 1.0, 1.2, 1.4, 5.0])
    assert SoftKConfig(schedule="fixed", threshold=3.0).k_at(0) == 3.0
    with pytest.raises(GaitCompressError):
        SoftKConfig(start=0.5)


@pytest.mark.parametrize("terms", [True, False])
def test_two_stage_qat_smoke_and_checkpoint_roundtrip(tmp_path, terms):
    torch.manual_seed(0)
    fp32 = create_model("gaitbase_w0125", num_classes=4, parts=4).eval()
    cfg = recipe(terms)
    qmodel = quantize_model(fp32, cfg.quant.qconfig())
    data = loader()
    module = _train_module(cfg, qmodel, fp32, next(data).sils)
    before = {k: v.clone() for k, v in fp32.state_dict().items()}
    train_stages(module, qmodel, data, tmp_path, cfg, meta={"recipe": {}, "kind": "qat"})

    qs = quantizers(qmodel)
    assert all(q.mode == "soft" and float(q.soft_k) == pytest.approx(2.0) for q in qs.values())  # 1 → 1.5 → 2 (cap)
    assert all(bool(q.initialized) for q in qs.values() if hasattr(q, "initialized"))
    assert all(torch.equal(v, before[k]) for k, v in fp32.state_dict().items())  # the teacher was not trained
    final = ckpt_io.load(tmp_path / "stage2" / "final.pt")
    assert final["kind"] == "qat" and final["iteration"] == 3
    assert any(k.endswith("input_quant.step") for k in final["model"])

    path = save_quantized(qmodel, cfg.quant.qconfig(), tmp_path / "final.pt")
    loaded = load_quantized(path)
    steps = {k: v for k, v in qmodel.state_dict().items() if k.endswith((".step", ".soft_k", ".initialized"))}
    assert steps and all(torch.equal(loaded.state_dict()[k], v) for k, v in steps.items())
    x = next(data).sils
    qmodel.eval()
    assert torch.equal(loaded(x)["embeddings"], qmodel(x)["embeddings"])
    with pytest.raises(GaitCompressError, match="is a QAT checkpoint"):
        load_checkpoint(path)


def test_resume_restores_steps(tmp_path):
    """The engine's own checkpoint of a QAT stage restores quantizer steps exactly (resume = same steps)."""
    from gaitcompress.train.engine import Trainer

    torch.manual_seed(0)
    fp32 = create_model("gaitbase_w0125", num_classes=4, parts=4).eval()
    cfg = recipe(terms=False)
    qmodel = quantize_model(fp32, QConfig.preset("w4a4"))
    module = _train_module(cfg, qmodel, fp32, None)
    import dataclasses

    train_cfg = dataclasses.replace(cfg.train, iterations=2, save_every=1)
    Trainer(module, loader(), tmp_path, train_cfg, cfg.optim, cfg.sched, meta={"kind": "qat"}).fit()
    saved = {k: v.clone() for k, v in qmodel.state_dict().items() if k.endswith(".step")}

    fresh = quantize_model(fp32, QConfig.preset("w4a4"))
    resumed = Trainer(_train_module(cfg, fresh, fp32, None), loader(), tmp_path, train_cfg, cfg.optim, cfg.sched)
    assert resumed.resume()
    assert saved and all(torch.equal(fresh.state_dict()[k], v) for k, v in saved.items())


def test_float_control_trains_the_fp32_copy_without_quantizers(tmp_path):
    """`quant.float_control`: the same stages on a copy of the FP32 model, no quantizers, the teacher untouched."""
    import copy
    import dataclasses

    from gaitcompress.quant.qat import _label

    torch.manual_seed(0)
    fp32 = create_model("gaitbase_w0125", num_classes=4, parts=4).eval()
    cfg = recipe(terms=False)
    cfg = dataclasses.replace(cfg, quant=dataclasses.replace(cfg.quant, float_control=True))
    model = copy.deepcopy(fp32)
    before = {k: v.clone() for k, v in fp32.state_dict().items()}
    train_stages(_train_module(cfg, model, fp32, None), model, loader(), tmp_path, cfg, meta={"kind": "qat"})
    assert not quantizers(model)
    assert all(torch.equal(v, before[k]) for k, v in fp32.state_dict().items())
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items() if k.endswith("weight"))
    assert _label(cfg).startswith("FP32 control (no quantizers), 6 it")


def test_seeds_with_reuse_read_finished_runs_and_run_the_rest(tmp_path, monkeypatch):
    from gaitcompress.harness import StageResult
    from gaitcompress.quant import qat
    from gaitcompress.recipe import save_recipe
    from gaitcompress.results import make_results, summarize, write_results

    def fake_run(recipe, tracker=None, command=None, resume=False):
        metrics = {"mean@R1": 40.0 + recipe["seed"]}
        row = {"metrics": {k: summarize([v]) for k, v in metrics.items()}, "train": {"wall_s": 1.0}, "method": "q"}
        doc = make_results("q", [row], {}, "c")
        write_results(doc, f"{recipe['run_dir']}/metrics.json")
        save_recipe(recipe, f"{recipe['run_dir']}/recipe.yaml")
        ran.append(recipe["seed"])
        return StageResult(Path(recipe["run_dir"]), metrics, doc, wall_s=1.0)

    ran: list[int] = []
    monkeypatch.setattr(qat, "run_quantize", fake_run)
    recipe = {"run_dir": str(tmp_path / "q")}
    qat.run_quantize_seeds(recipe, [0])
    row = qat.run_quantize_seeds(recipe, [0, 1], reuse=True).row
    assert ran == [0, 1] and row["seeds"] == [0, 1] and row["metrics"]["mean@R1"]["values"] == [40.0, 41.0]
    qat.run_quantize_seeds(recipe, [0, 1])
    assert ran == [0, 1, 0, 1]  # without reuse every seed runs again
    longer = {**recipe, "quant": {"stage1": {"iterations": 999}}, "train": {"log_every": 3}}
    qat.run_quantize_seeds(longer, [0], reuse=True)
    assert ran == [0, 1, 0, 1, 0]  # a grown budget continues the finished seed; logging alone would not
    qat.run_quantize_seeds({**recipe, "train": {"log_every": 3}}, [1], reuse=True)
    assert ran == [0, 1, 0, 1, 0]


def test_a_qat_checkpoint_written_before_the_add_module_loads(tmp_path):
    """Old keys `block.residual_quant.*` / `block.main_quant.*` are today's `downsample.2.*` / `add.main_quant.*`."""
    import re

    torch.manual_seed(0)
    qcfg = QConfig.preset("w4a4", placement="ort")
    q = quantize_model(create_model("gaitbase_w0125", num_classes=4), qcfg)
    q((torch.rand(2, 3, 16, 11) > 0.5).float())  # initialise the steps
    path = save_quantized(q, qcfg, tmp_path / "new.pt")
    ckpt = torch.load(path, weights_only=True)
    old = {re.sub(r"\.add\.main_quant\.", ".main_quant.", re.sub(r"\.downsample\.2\.", ".residual_quant.", k)): v
           for k, v in ckpt["model"].items()}  # fmt: skip
    assert any(".residual_quant." in k for k in old) and any(".main_quant." in k and ".add." not in k for k in old)
    torch.save({**ckpt, "model": old}, tmp_path / "old.pt")
    loaded = load_quantized(tmp_path / "old.pt")
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in q.state_dict().items())


def test_eval_every_evaluates_every_stage_for_a_learning_curve(tmp_path):
    """With train.eval_every, stage 1 evaluates too (on its period and at its end); without, only the last stage."""
    import dataclasses

    torch.manual_seed(0)
    fp32 = create_model("gaitbase_w0125", num_classes=4, parts=4).eval()
    for every, calls in ((0, 1), (2, 4)):  # stage 1: iteration 2 and its end (3); stage 2: iteration 2, end
        cfg = recipe(terms=False)
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, eval_every=every))
        qmodel = quantize_model(fp32, cfg.quant.qconfig())
        seen = []
        train_stages(
            _train_module(cfg, qmodel, fp32, None), qmodel, loader(), tmp_path / str(every), cfg,
            eval_fn=lambda model, seen=seen: seen.append(1) or {"R1": 1.0}, meta={"kind": "qat"},
        )  # fmt: skip
        assert len(seen) == calls
