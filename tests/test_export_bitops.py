"""BitOPs accounting: QGait's convention on a tiny GaitBase, cross-checked against shapes and flop_counter."""

from __future__ import annotations

import pytest
import torch

from gaitcompress.models import create_model
from gaitcompress.models.cost import layer_table, model_cost
from gaitcompress.quant.cost import bitops_columns, bitops_report
from gaitcompress.quant.prepare import QConfig, quantize_model

SIZE, FRAMES = (16, 11), 3


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("gaitbase_w0125", num_classes=5).eval()


def test_fp32_bitops_equal_macs_and_match_shapes(model):
    r = bitops_report(model, FRAMES, SIZE)
    assert r.bits == "fp32" and r.bitops == r.macs
    assert [layer.macs for layer in r.layers] == [layer.shape_macs for layer in r.layers]  # flop_counter = shapes
    assert {layer.type for layer in r.layers} == {"Conv2d", "SeparateFCs"}  # BNNeck classifier not counted
    bnneck = next(layer.macs for layer in model_cost(model, FRAMES, SIZE).layers if layer.type == "BNNeck")
    assert r.flop_counter_macs == r.macs + bnneck
    assert r.bytes == 4 * r.params


@pytest.mark.parametrize(("preset", "factor"), [("w8a8", 64 / 1024), ("w4a4", 16 / 1024)])
def test_quantized_bitops_follow_qgait(model, preset, factor):
    fp = bitops_report(model, FRAMES, SIZE)
    q = bitops_report(quantize_model(model, QConfig.preset(preset)), FRAMES, SIZE)
    assert q.bits == preset and q.macs == fp.macs
    assert q.bitops == pytest.approx(fp.macs * factor)
    assert q.params == fp.params  # quantizer steps are not deployed parameters
    wbits = int(preset[1])
    counted = sum(layer.params for layer in q.layers)
    assert q.bytes == pytest.approx(counted * wbits / 8 + (q.params - counted) * 4)


def test_first_last_at_8_bits_makes_mixed(model):
    r = bitops_report(quantize_model(model, QConfig.preset("w4a4", first_last_bits=8)), FRAMES, SIZE)
    assert r.bits == "mixed"
    assert (r.layers[0].weight_bits, r.layers[-1].weight_bits, r.layers[1].weight_bits) == (8, 8, 4)


def test_info_columns_join_the_layer_table(model):
    report = bitops_report(quantize_model(model, QConfig.preset("w8a8")), FRAMES, SIZE)
    header, rows = layer_table(model_cost(model, FRAMES, SIZE), bitops_columns(report))
    assert header[-3:] == ["bits (w/a)", "BitOPs", "bytes"]
    assert rows[0][-3] == "8/8" and rows[-1][-3] == "-"  # the BNNeck row has no BitOPs


def test_costing_leaves_the_model_untouched(model):
    q = quantize_model(model, QConfig.preset("w8a8")).train()
    before = {k: v.clone() for k, v in q.state_dict().items()}
    bitops_report(q, FRAMES, SIZE)
    assert q.training and all(torch.equal(before[k], v) for k, v in q.state_dict().items())  # LSQ steps not initialised
