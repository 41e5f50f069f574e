"""BatchNorm re-estimation after QAT (`quant.bn_reestimate`): statistics of the deployed (hard-rounded) model."""

from __future__ import annotations

import copy
import json
from itertools import islice

import torch
from torch import nn

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.models import create_model
from gaitcompress.quant import QConfig, quantize_model, quantizers, set_mode
from gaitcompress.quant.bn_reestimate import batchnorms, reestimate_bn
from tests.test_messages import _error, _main
from tests.test_messages_harness import QAT_TINY, QGAIT8, _opengait, data_dir, tiny  # noqa: F401 (fixtures)
from tests.test_quant_qat import loader


def _qmodel() -> nn.Module:
    torch.manual_seed(0)
    model = quantize_model(create_model("gaitbase_w0125", num_classes=4, parts=4), QConfig.preset("w4a4"))
    model.train()
    for batch in islice(loader(), 2):  # initialise the LSQ steps (first training forward)
        model(batch.sils, lengths=batch.lengths)
    set_mode(model, "soft", 1.0)  # stage 2's soft quantizer: training statistics are not the deployed ones
    for batch in islice(loader(seed=3), 3):
        model(batch.sils, lengths=batch.lengths)
    return model


def test_the_statistics_are_the_batch_average_under_hard_rounding_and_nothing_else_changes():
    model = _qmodel()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    momenta = [bn.momentum for bn in batchnorms(model)]
    batches = list(islice(loader(seed=7), 3))
    # expected: each BN's input with the quantizers in eval mode (hard rounding) and the BNs normalising by batch
    # statistics, its per-batch mean and unbiased variance averaged over the 3 batches
    ref = copy.deepcopy(model).eval()
    for bn in batchnorms(ref):
        bn.train()
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = [
        m.register_forward_pre_hook(lambda m, a, n=n: seen.setdefault(n, []).append(a[0].detach()))
        for n, m in ref.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    with torch.no_grad():
        for batch in batches:
            ref(batch.sils, lengths=batch.lengths)
    for h in hooks:
        h.remove()

    model.train()
    assert reestimate_bn(model, batches, 3) == 3
    assert model.training and [bn.momentum for bn in batchnorms(model)] == momenta
    assert all(q.training for q in quantizers(model).values())
    for name, bn in model.named_modules():
        if not isinstance(bn, nn.modules.batchnorm._BatchNorm):
            continue
        dims = [0, *range(2, seen[name][0].dim())]
        mean = torch.stack([x.mean(dims) for x in seen[name]]).mean(0)
        var = torch.stack([x.var(dims, unbiased=True) for x in seen[name]]).mean(0)
        assert torch.allclose(bn.running_mean, mean, atol=1e-5), name
        assert torch.allclose(bn.running_var, var, rtol=1e-4, atol=1e-6), name
    stats = ("running_mean", "running_var", "num_batches_tracked")
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if not k.endswith(stats))
    assert any(not torch.equal(after[k], v) for k, v in before.items() if k.endswith("running_var"))


def test_no_batches_or_no_batchnorm_is_a_no_op():
    model = _qmodel()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert reestimate_bn(model, loader(), 0) == 0
    assert reestimate_bn(nn.Sequential(nn.Linear(2, 2)), loader(), 4) == 0
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_the_quantize_stage_reestimates_saves_and_keeps_the_score_before(capsys, monkeypatch, tmp_path, tiny):  # noqa: F811
    fp32 = _opengait(tmp_path / "fp32.pt", classes=4)
    args = [*tiny, "quant.model_name=gaitbase_w0125", *QAT_TINY, f"quant.checkpoint={fp32}", "quant.preset=w4a4"]
    code, text = _main(capsys, monkeypatch, "quantize", QGAIT8, *args, "quant.bn_reestimate=2",
                       f"run_dir={tmp_path / 'q'}")  # fmt: skip
    assert code == 0, text
    row = json.loads((tmp_path / "q" / "metrics.json").read_text())["rows"][0]
    assert row["bn_reestimate"]["batches"] == 2 and "mean@R1" in row["bn_reestimate"]["before"]
    assert "BN re-estimated on 2 batches" in row["label"]
    saved = ckpt_io.load(tmp_path / "q" / "final.pt")["model"]
    trained = ckpt_io.load(tmp_path / "q" / "stage2" / "final.pt")["model"]
    key = next(k for k in saved if k.endswith("bn1.running_var"))
    assert not torch.equal(saved[key], trained[key])  # the deployed checkpoint holds the re-estimated statistics
    assert all(torch.equal(saved[k], trained[k]) for k in saved if k.endswith("weight") and k in trained)
    text = _error(capsys, monkeypatch, "quantize", QGAIT8, *args, "quant.bn_reestimate=-1", f"run_dir={tmp_path / 'x'}")
    assert "quant.bn_reestimate=-1" in text and "0 = off" in text, text
