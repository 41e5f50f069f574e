"""MAC and parameter accounting."""

from __future__ import annotations

import pytest
import torch

from gaitcompress.models import create_model
from gaitcompress.models.cost import layer_macs, model_cost


def test_gaitbase_cost_matches_analytic_count():
    model = create_model("gaitbase", num_classes=74)
    cost = model_cost(model, frames=1, input_size=(64, 44))
    assert cost.params == sum(p.numel() for p in model.parameters())
    # per-frame backbone convs at 64×44 (feature maps 64×44, 32×22, 16×11, 16×11), by hand:
    hw = [64 * 44, 32 * 22, 16 * 11, 16 * 11]
    convs = 1 * 64 * 9 * hw[0] + 2 * 64 * 64 * 9 * hw[0]
    convs += (64 * 128 * 9 + 128 * 128 * 9 + 64 * 128) * hw[1]
    convs += (128 * 256 * 9 + 256 * 256 * 9 + 128 * 256) * hw[2]
    convs += (256 * 512 * 9 + 512 * 512 * 9 + 256 * 512) * hw[3]
    head = 16 * 512 * 256 + 16 * 256 * 74
    assert cost.macs == convs + head
    assert cost.macs_per_frame / 1e9 == pytest.approx(1.18, abs=0.01)  # DESIGN §5
    assert sum(layer.macs for layer in cost.layers) == cost.macs


def test_layer_macs_scale_with_frames_and_list_part_fc():
    model = create_model("gaitbase_w0125", num_classes=5)
    one, three = layer_macs(model, frames=1, input_size=(32, 22)), layer_macs(model, frames=3, input_size=(32, 22))
    by_path = {row.path: row for row in three}
    assert by_path["FCs"].type == "SeparateFCs" and by_path["FCs"].macs == 16 * 64 * 32  # per sequence
    conv = "Backbone.forward_block.layer1.0.conv1"
    assert by_path[conv].macs == 3 * {r.path: r for r in one}[conv].macs  # per frame × T
    assert model.training  # the model itself is untouched


def test_cost_leaves_lazy_state_alone():
    from gaitcompress.quant.prepare import PRESETS, quantize_model

    qmodel = quantize_model(create_model("gaitbase_w0125", num_classes=5), PRESETS["w8a8"])
    before = {k: v.clone() for k, v in qmodel.state_dict().items()}
    model_cost(qmodel, frames=2, input_size=(16, 11))
    assert all(torch.equal(before[k], v) for k, v in qmodel.state_dict().items())  # no quantizer initialised
