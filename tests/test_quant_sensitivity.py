"""Sensitivity tools: identity-swapping quantizers, clip fractions, per-quantizer errors on a tiny GaitBase."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gaitcompress.models import create_model
from gaitcompress.quant import QConfig, quantizers
from gaitcompress.quant.quantizers import DorefaQuantizer, LsqQuantizer
from gaitlab.quant_sensitivity import (
    calibrated,
    clip_fraction,
    embeddings,
    keep_only,
    relative_error,
    sensitivity,
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("gaitbase_w0125", num_classes=6).eval()


def batch(seed):
    g = torch.Generator().manual_seed(seed)
    return SimpleNamespace(sils=(torch.rand(2, 3, 16, 11, generator=g) > 0.5).float(), lengths=None)


def test_keep_only_none_is_the_float_model(model):
    b = [batch(1)]
    q = calibrated(model, QConfig.preset("w4a4"), b[0])
    assert relative_error(embeddings(q, b), embeddings(model, b)) > 1e-3
    bare = keep_only(q, lambda p: False)
    assert not quantizers(bare) and len(quantizers(q)) > 0  # the input model keeps its quantizers
    assert torch.allclose(embeddings(bare, b), embeddings(model, b), atol=1e-5)
    one = keep_only(q, lambda p: p == "FCs.weight_quant")
    assert list(quantizers(one)) == ["FCs.weight_quant"]


def test_clip_fraction_counts_values_outside_the_grid():
    q = DorefaQuantizer(8, signed=False)  # grid [0, 255]·(1/255) = [0, 1]
    assert clip_fraction(q, torch.tensor([-0.5, 0.2, 0.9, 1.5])) == pytest.approx(0.5)
    lsq = LsqQuantizer(4, signed=False)
    lsq.step.data.fill_(0.1)  # range [0, 1.5]
    assert clip_fraction(lsq, torch.tensor([0.0, 1.4, 1.6, 3.0])) == pytest.approx(0.5)


def test_sensitivity_rows(model):
    out = sensitivity(model, QConfig.preset("w4a4"), [batch(1), batch(2)])
    rows = {r["quantizer"]: r for r in out["rows"]}
    assert set(rows) == set(quantizers(calibrated(model, QConfig.preset("w4a4"), batch(1))))
    assert all(r["only"] >= 0 and r["all_but"] >= 0 for r in rows.values())
    assert rows["FCs.weight_quant"]["clip"] is None and rows["FCs.input_quant"]["clip"] is not None
    assert out["full"] > 0


def test_recal_scores_become_one_row_per_qat_row_and_batch_count():
    from gaitlab.quant_sensitivity import recal_results

    def run(seed, before, after):
        return {"seed": seed, "before": {"mean@R1": before}, "after": {"8": {"mean@R1": after}}}

    recal = {"r/quant_lsq4/seed0": run(0, 60.0, 61.0), "r/quant_lsq4/seed1": run(1, 62.0, 61.0)}
    doc = {"command": "x", "recal": recal}
    rows = recal_results(doc, "t", {"name": "synthgait"})["rows"]
    assert [r["method"] for r in rows] == ["lsq4", "lsq4-bnre8"] and rows[0]["seeds"] == [0, 1]
    assert rows[0]["metrics"]["mean@R1"]["mean"] == pytest.approx(61.0) and rows[1]["metrics"]["mean@R1"]["std"] == 0
