"""quantize_model: swaps, placements, float keys kept, input untouched, a quantized block runs the float forward."""

from __future__ import annotations

import pytest
import torch

from gaitcompress.models import create_model
from gaitcompress.models.gaitbase import BasicBlock
from gaitcompress.quant import QConfig, quantize_model, quantizers
from gaitcompress.quant.layers import QuantAdd, QuantConv2d, QuantSeparateFCs
from gaitcompress.quant.quantizers import FixedQuantizer, LsqQuantizer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("gaitbase_w0125", num_classes=6).eval()


def sils(n=2, t=3):
    g = torch.Generator().manual_seed(1)
    return (torch.rand(n, t, 16, 11, generator=g) > 0.5).float()


def test_keeps_float_keys_and_does_not_mutate(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_model(model, QConfig.preset("w4a4"))
    q(sils())  # initialises the LSQ steps
    assert set(before) <= set(q.state_dict())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not any(isinstance(m, (QuantConv2d, QuantAdd)) for m in model.modules())
    q.load_state_dict(model.state_dict(), strict=False)  # a float checkpoint loads into the quantized model


def test_swaps_and_placement_trt(model):
    q = quantize_model(model, QConfig.preset("w8a8"))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert sum(isinstance(m, QuantConv2d) for m in q.modules()) == len(convs)
    assert isinstance(q.FCs, QuantSeparateFCs) and type(q.BNNecks).__name__ == "BNNeck"  # classifier stays FP32
    stem = q.Backbone.forward_block.conv1.conv
    assert isinstance(stem.input_quant, FixedQuantizer) and stem.input_quant.signed  # trt 8-bit: int8, step 1/127
    blocks = [m for m in q.modules() if isinstance(m, BasicBlock)]
    assert blocks and all(isinstance(b.add, QuantAdd) for b in blocks)
    assert all(b.input_quant is not None and b.add.main_quant is None and b.output_quant is None for b in blocks)
    assert all(b.downsample is None or isinstance(b.downsample[-1], LsqQuantizer) for b in blocks)
    assert all(b.conv1.input_quant is None and b.conv2.input_quant is not None for b in blocks)
    assert all(q_.signed for q_ in quantizers(q).values())  # no uint8 anywhere in a trt w8a8 model


def test_placement_ort_and_bits(model):
    q = quantize_model(model, QConfig.preset("w4a4", placement="ort", first_last_bits=8))
    blocks = [m for m in q.modules() if isinstance(m, BasicBlock)]
    assert blocks[0].input_quant is not None and all(b.input_quant is None for b in blocks[1:])
    assert all(b.add.main_quant.signed and not b.output_quant.signed for b in blocks)
    stem = q.Backbone.forward_block.conv1.conv
    assert stem.weight_quant.bits == 8 and stem.input_quant.bits == 8 and not stem.input_quant.signed
    assert q.FCs.weight_quant.bits == 8 and q.FCs.input_quant.bits == 8
    assert blocks[1].conv1.weight_quant.bits == 4 and blocks[1].conv2.input_quant.bits == 4
    over = quantize_model(model, QConfig.preset("w4a4", layer_bits={"*layer4*": [8, 8]}))
    assert over.Backbone.forward_block.layer4[0].conv2.weight_quant.bits == 8


def test_a_quantized_block_runs_the_float_blocks_forward(model):
    """No re-stated forward: with its quantizers removed a quantized block computes exactly the float block."""
    q = quantize_model(model, QConfig.preset("w4a4", placement="ort"))
    for path, block in [(p, m) for p, m in model.named_modules() if isinstance(m, BasicBlock)]:
        twin = q.get_submodule(path)
        assert type(twin) is BasicBlock and type(twin).forward is BasicBlock.forward
        twin.input_quant = twin.output_quant = twin.add.main_quant = None
        if twin.downsample is not None:
            twin.downsample[-1] = torch.nn.Identity()
        for layer in twin.modules():
            if isinstance(layer, QuantConv2d):
                layer.input_quant, layer.weight_quant = None, torch.nn.Identity()
        x = torch.rand(2, block.conv1.in_channels, 8, 6)
        assert torch.equal(twin.eval()(x), block.eval()(x))


def test_quantized_forward_close_at_8_bits_and_stem_exact(model):
    x = sils()
    q = quantize_model(model, QConfig.preset("w8a8")).eval()
    q(x)  # data-driven init of every LSQ step
    ref, out = model(x)["embeddings"], q(x)["embeddings"]
    rel = (out - ref).norm() / ref.norm()
    assert 0 < rel < 0.2
    stem = q.Backbone.forward_block.conv1.conv
    assert torch.equal(stem.input_quant(x), x)  # binary silhouettes pass the stem quantizer unchanged


def test_separate_fcs_weight_layout(model):
    q = quantize_model(model, QConfig.preset("w4a4"))
    fc = q.FCs
    p, cin, cout = fc.fc_bin.shape
    fc.weight_quant(fc.grouped_weight())
    qp = fc.weight_quant.qparams()
    assert qp["axis"] == 0 and qp["scale"].shape == (p * cout,)
    w = fc.quantized_weight().detach()  # [P, Cin, Cout]
    ints = fc.weight_quant.integers(fc.grouped_weight().detach()).reshape(p, cout, cin).permute(0, 2, 1)
    assert torch.allclose(w, ints.float() * qp["scale"].reshape(p, 1, cout))


def test_methods_build(model):
    for method in ("dorefa", "pact"):
        q = quantize_model(model, QConfig.preset("w4a4", method=method))
        assert torch.isfinite(q(sils())["embeddings"]).all()
    assert all(
        isinstance(m, (LsqQuantizer, FixedQuantizer))
        for m in quantizers(quantize_model(model, QConfig.preset("w4a4"))).values()
    )


def test_unsupported_layers_fail_loudly():
    from gaitcompress.errors import GaitCompressError

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Conv3d(2, 2, 1))
    with pytest.raises(GaitCompressError, match="Conv3d"):
        quantize_model(net, QConfig.preset("w8a8"))
