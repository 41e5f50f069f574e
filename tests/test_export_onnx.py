"""FP32 / FP16 / INT8-QDQ ONNX export: numerics, graph structure, metadata, atomic failure."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from gaitcompress.errors import GaitCompressError
from gaitcompress.export.cpu_int8 import int8_weights_for
from gaitcompress.export.int_bias import conv_bn_pairs, int32_bias_model
from gaitcompress.export.onnx_export import InputSpec, export_onnx, read_metadata
from gaitcompress.export.parity import first_departure, first_gap, onnx_probes, tensor_gaps
from gaitcompress.export.qdq import export_qdq, float_input_quantizers
from gaitcompress.export.runtime import FLOAT_BIAS, fused_integer_nodes, make_session
from gaitcompress.export.stage import ExportConfig
from gaitcompress.models import create_model
from gaitcompress.quant.prepare import QConfig, quantize_model

SPEC = InputSpec(height=16, width=11, frames=4)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    m = create_model("gaitbase_w0125", num_classes=5).eval()
    for bn in (x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)):  # non-trivial folds
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(-1.5, 1.5)  # negative gains too: the fold must flip those channels
    return m


@pytest.fixture(scope="module")
def sils() -> torch.Tensor:
    torch.manual_seed(1)
    return (torch.rand(3, 5, SPEC.height, SPEC.width) > 0.5).float()


def _ops(path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def _qat(model, sils, preset: str, placement: str) -> torch.nn.Module:
    q = quantize_model(model, QConfig.preset(preset, placement=placement)).eval()
    with torch.no_grad():
        q(sils)  # LSQ steps initialise on the first forward (eval: BN keeps its statistics)
    return q


def test_fp32_matches_torch_with_dynamic_axes_and_metadata(model, sils, tmp_path):
    path = export_onnx(model, tmp_path / "m.onnx", "fp32", SPEC, outputs=("embeddings", "parts"), metadata={"a": 1})
    assert "BatchNormalization" not in _ops(path)
    emb, parts = make_session(path).run(None, {"sils": sils.numpy()})  # batch 3, 5 frames: not the traced shape
    with torch.no_grad():
        ref = model(sils)
    np.testing.assert_allclose(emb, ref["embeddings"].numpy(), atol=1e-5)
    np.testing.assert_allclose(parts, ref["parts"].numpy(), atol=1e-5)
    meta = read_metadata(path)
    assert meta["format"] == "fp32" and meta["a"] == 1 and meta["input"]["shape"] == ["N", "T", 16, 11]
    assert [f.name for f in tmp_path.iterdir()] == ["m.onnx"]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_fp16_keeps_float32_io(model, sils, tmp_path):
    path = export_onnx(model, tmp_path / "h.onnx", "fp16", SPEC)
    graph = onnx.load(str(path))
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.graph.initializer)
    (emb,) = make_session(path).run(None, {"sils": sils.numpy()})
    with torch.no_grad():
        ref = model(sils)["embeddings"].numpy()
    assert np.abs(emb - ref).max() < 1e-2 * np.abs(ref).max()


CASES = [("w8a8", "ort"), ("w8a8", "trt"), ("w4a4", "ort"), ("w4a4", "trt")]


@pytest.fixture(scope="module")
def exported(model, sils, tmp_path_factory) -> dict[tuple[str, str], tuple[torch.nn.Module, object]]:
    """Each (preset, placement): the QAT model and its INT8 export, made once for the module."""
    out = {}
    for preset, placement in CASES:
        qat = _qat(model, sils, preset, placement)
        out[(preset, placement)] = qat, export_qdq(qat, tmp_path_factory.mktemp(preset) / "q.onnx", placement, SPEC)
    return out


@pytest.mark.parametrize(("preset", "placement"), CASES)
def test_qdq_structure_and_simulated_parity(model, sils, exported, preset, placement):
    qat, path = exported[(preset, placement)]
    graph = onnx.load(str(path))
    ops = [n.op_type for n in graph.graph.node]
    assert "BatchNormalization" not in ops and graph.opset_import[0].version >= 13
    inits = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer}
    producers = {o: n for n in graph.graph.node for o in n.output}
    convs = [n for n in graph.graph.node if n.op_type == "Conv"]
    assert len(convs) == sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) + 1  # + per-part FC
    wbits = 7 if preset == "w8a8" else 3
    for conv in convs:  # every conv reads DQ(activation) and DQ(int8 per-channel weight), zero point 0
        act, weight = (producers.get(i) for i in conv.input[:2])
        stem = act is None or act.op_type == "Mul"  # ort: the 1-channel stem rounds its input with float ops
        assert stem == (placement == "ort" and conv is convs[0])
        if weight is None:  # ort: convs that run in float (stem, part FC) hold the dequantized weight as a constant
            assert placement == "ort" and (stem or conv is convs[-1]) and conv.input[1].endswith(".weight_float")
            continue
        assert weight.op_type == "DequantizeLinear" and (act.op_type == "DequantizeLinear" or placement == "ort")
        q, scale, zero = (inits[i] for i in weight.input)
        if placement == "ort" and int8_weights_for() == "unsigned":  # x86 without VNNI: the u8×u8 kernel
            assert q.dtype == np.uint8 and (zero == 128).all() and read_metadata(path)["int8_weights"] == "unsigned"
            q, zero = q.astype(np.int16) - 128, zero.astype(np.int16) - 128
        assert q.dtype in (np.int8, np.int16) and np.abs(q).max() <= 2**wbits - 1 and not zero.any()
        assert scale.shape == (q.shape[0],) and (scale > 0).all()
        bias = producers.get(conv.input[2]) if len(conv.input) > 2 else None
        int_bias = bias is not None and bias.op_type == "DequantizeLinear" and inits[bias.input[0]].dtype == np.int32
        if len(conv.input) > 2:  # BN folded in (the per-part FC has no bias); ort: the int32 bias of integer kernels
            assert int_bias == (placement == "ort" and not stem)
    for node in graph.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[1] in inits:
            assert (inits[node.input[1]] > 0).all()
    if placement == "trt":
        dtypes = {inits[n.input[2]].dtype for n in graph.graph.node if n.op_type == "QuantizeLinear"}
        assert dtypes == {np.dtype(np.int8)}  # TensorRT takes int8 Q/DQ only
        assert read_metadata(path)["trt_incompatible"] == []
    if preset == "w4a4":
        assert "Clip" in ops  # 4-bit grids in int8 containers
    reference = int32_bias_model(qat, sils, float_input_quantizers(qat)) if placement == "ort" else qat
    gaps = tensor_gaps(reference, path, sils)
    assert len(gaps) >= 10
    assert first_gap(gaps) is None, first_gap(gaps)


def test_int32_bias_moves_each_bn_shift_onto_the_bias_grid(sils, exported):
    qat = exported[("w8a8", "ort")][0]
    pairs = conv_bn_pairs(qat, sils)
    assert len(pairs) == sum(isinstance(m, torch.nn.BatchNorm2d) for m in qat.modules())  # every conv → BN
    stem_input = float_input_quantizers(qat)
    snapped = int32_bias_model(qat, sils, stem_input)
    for conv_path, bn_path, quant_path in pairs:
        bn0, bn1 = qat.get_submodule(bn_path), snapped.get_submodule(bn_path)
        s_x = float(qat.get_submodule(quant_path).qparams()["scale"])
        s_w = qat.get_submodule(conv_path).weight_quant.qparams()["scale"].double()
        gain = bn0.weight.double() / torch.sqrt(bn0.running_var.double() + bn0.eps)
        step = s_x * s_w * gain.abs()
        moved = (bn1.bias - bn0.bias).double()
        if quant_path in stem_input:
            assert not moved.any()  # the float stem keeps its float bias
            continue
        shift = (bn1.bias.double() - bn1.running_mean.double() * gain) / step
        assert torch.allclose(shift, shift.round(), atol=1e-3) and (moved.abs() <= 0.5 * step + 1e-7).all()


def test_a_stem_of_32_channels_or_more_runs_as_an_integer_conv_and_stays_exact(model, sils, tmp_path):
    # a float stem's output is reordered, quantized and transposed into the integer layout: from 32 channels on
    # the integer stem is faster (bench/results/deploy-int8-passes.md), so only narrow stems stay float
    assert len(float_input_quantizers(_qat(model, sils, "w8a8", "ort"))) == 1  # eighth width: an 8-channel stem
    torch.manual_seed(0)
    wide = _qat(create_model("gaitbase_w05", num_classes=5).eval(), sils, "w8a8", "ort")
    assert float_input_quantizers(wide) == set()
    path = export_qdq(wide, tmp_path / "w05.onnx", "ort", SPEC)
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in wide.modules())
    assert fused_integer_nodes(path)["QLinearConv"] == convs  # the stem too (the per-part FC is no Conv2d)
    assert "Round" not in _ops(path)  # no float rounding of the stem input left
    gaps = tensor_gaps(int32_bias_model(wide, sils), path, sils)
    assert first_gap(gaps) is None, first_gap(gaps)
    assert read_metadata(path)["float_stem"] == []
    # `stem` overrides the width rule both ways (int8 is the faster stem on 2+ threads); the file records it
    narrow = _qat(model, sils, "w8a8", "ort")
    as_int8 = export_qdq(narrow, tmp_path / "int8stem.onnx", "ort", SPEC, stem="int8")
    assert read_metadata(as_int8)["float_stem"] == [] and "Round" not in _ops(as_int8)
    gaps = tensor_gaps(int32_bias_model(narrow, sils, read_metadata(as_int8)["float_stem"]), as_int8, sils)
    assert first_gap(gaps) is None, first_gap(gaps)
    as_float = export_qdq(wide, tmp_path / "floatstem.onnx", "ort", SPEC, stem="float")
    assert read_metadata(as_float)["float_stem"] == sorted(float_input_quantizers(wide, "float")) != []
    with pytest.raises(GaitCompressError, match="not a stem kernel"):
        ExportConfig(format="int8", stem="fp16")


@pytest.mark.parametrize("preset", ["w8a8", "w4a4"])
def test_ort_fused_kernels_compute_the_float_simulation_bit_for_bit(sils, exported, preset):
    """With the int32 bias written into the graph, the deployed session equals the unoptimised QDQ graph.

    w8a8 runs QLinearConv/QLinearAdd; w4a4 runs no integer kernel on onnxruntime CPU: the Clip that keeps a 4-bit
    grid inside a uint8 container sits between each Conv and its Q, and onnxruntime fuses only Clips it can drop.
    """
    qat, path = exported[(preset, "ort")]
    simulated = onnx_probes(path, sils.numpy(), "none")
    fused = onnx_probes(path, sils.numpy(), "all")
    quantizers = [k for k in fused if k[0].endswith("_quant")]
    fused_convs = fused_integer_nodes(path).get("QLinearConv", 0)
    assert len(quantizers) >= 10 and (fused_convs >= 6 if preset == "w8a8" else fused_convs == 0)
    for key in quantizers:
        np.testing.assert_array_equal(fused[key], simulated[key], err_msg=str(key))
    reference = int32_bias_model(qat, sils, float_input_quantizers(qat))
    departs = first_departure(tensor_gaps(reference, path, sils, level="all"))
    assert departs is None or departs.frac_step < 0.01, departs  # float summation ties only


def test_trt_graph_runs_with_float_biases_on_onnxruntime(sils, exported):
    """With onnxruntime's bias rounding off, a trt graph's deployed session is its float QDQ simulation."""
    qat, path = exported[("w4a4", "trt")]
    simulated = onnx_probes(path, sils.numpy(), "none")
    deployed = onnx_probes(path, sils.numpy(), "all", FLOAT_BIAS)
    for key in (k for k in deployed if k[0].endswith("_quant")):
        np.testing.assert_allclose(deployed[key], simulated[key], atol=1e-6, err_msg=str(key))


def test_ort_placement_fuses_integer_kernels(exported):
    fused = fused_integer_nodes(exported[("w8a8", "ort")][1])
    assert fused.get("QLinearConv", 0) >= 6 and fused.get("QLinearAdd", 0) >= 3


def test_gap_is_located_at_the_broken_layer(sils, exported, tmp_path):
    qat, good = exported[("w8a8", "trt")]
    graph = onnx.load(str(good))
    q = next(n for n in graph.graph.node if n.name.endswith("layer2.0/conv2/input_quant/QuantizeLinear"))
    scale = next(t for t in graph.graph.initializer if t.name == q.input[1])
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * 8, scale.name))  # a wrong step
    onnx.save(graph, str(tmp_path / "broken.onnx"))
    gap = first_gap(tensor_gaps(qat, tmp_path / "broken.onnx", sils))
    assert gap is not None and gap.path == "Backbone.forward_block.layer2.0.conv2.input_quant"


def test_opset_too_low_for_int8_is_refused(exported, tmp_path):
    with pytest.raises(GaitCompressError, match="opset 12"):
        export_qdq(exported[("w8a8", "ort")][0], tmp_path / "q.onnx", "ort", SPEC, opset=12)
    assert not any(tmp_path.iterdir())


def test_failed_export_leaves_nothing(model, tmp_path):
    def broken(graph):
        raise RuntimeError("rewrite failed")

    (tmp_path / "m.onnx").write_text("previous good file")
    with pytest.raises(RuntimeError, match="rewrite failed"):
        export_onnx(model, tmp_path / "m.onnx", "fp32", SPEC, rewrite=broken)
    assert (tmp_path / "m.onnx").read_text() == "previous good file"
    assert [f.name for f in tmp_path.iterdir()] == ["m.onnx"]


def test_unwritable_folder_is_a_clear_error(model, tmp_path):
    (tmp_path / "file").write_text("")  # a folder below a regular file cannot exist, even for root
    with pytest.raises(GaitCompressError, match="not writable"):
        export_onnx(model, tmp_path / "file" / "out" / "m.onnx", "fp32", SPEC)


@pytest.mark.parametrize(("fmt", "opset", "says"), [("int8", 21, "above 20"), ("fp32", 21, "above 20")])
def test_opset_too_high_names_the_maximum(fmt, opset, says):
    from gaitcompress.export.onnx_export import check_opset

    with pytest.raises(GaitCompressError, match=says) as err:
        check_opset(opset, fmt)
    assert "need opset 13" not in err.value.message and "--opset 20" in err.value.hint


def test_openvino_ir_runs_the_export_as_it_is(model, sils, exported, tmp_path):
    ov = pytest.importorskip("openvino")
    from gaitcompress.bench.device_runner import ov_compile
    from gaitcompress.export.openvino_ir import onnx_to_ir

    fp32 = export_onnx(model, tmp_path / "m.onnx", "fp32", SPEC)
    xml = onnx_to_ir(fp32)
    assert xml.with_suffix(".bin").is_file() and not list(tmp_path.glob(".*tmp*"))
    assert ov.Core().read_model(str(xml)).get_rt_info(["gaitcompress", "format"]).astype(str) == "fp32"
    x = sils.numpy()  # batch 3, 5 frames: the IR keeps the dynamic axes
    out = ov_compile(str(xml), threads=1)({0: x})[0]
    np.testing.assert_allclose(out, make_session(fp32).run(None, {"sils": x})[0], atol=1e-4)
    q = onnx_to_ir(exported[("w8a8", "ort")][1], tmp_path / "q.xml")  # QDQ read as INT8 (FakeQuantize)
    emb = ov_compile(str(q), threads=1)({0: x})[0]
    ref = make_session(exported[("w8a8", "ort")][1]).run(None, {"sils": x})[0]
    assert np.corrcoef(emb.ravel(), ref.ravel())[0, 1] > 0.99  # integer kernels differ in rounding, not in meaning


def test_signed_weights_for_openvino_are_the_same_values(sils, exported, tmp_path):
    from gaitcompress.export.onnx_passes import signed_conv_weights

    qat = exported[("w8a8", "ort")][0]
    path = export_qdq(qat, tmp_path / "unsigned.onnx", "ort", SPEC, int8_weights="unsigned")
    graph = onnx.load(path)
    assert signed_conv_weights(graph) > 0
    inits = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer}
    dqs = [n for n in graph.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    assert not any(inits[n.input[0]].dtype == np.uint8 and inits[n.input[2]].ndim == 1 for n in dqs)
    signed = _save(graph, tmp_path / "signed.onnx")
    x = sils.numpy()
    ref = make_session(path, level="none").run(None, {"sils": x})[0]  # the float simulation: exact values
    np.testing.assert_array_equal(make_session(signed, level="none").run(None, {"sils": x})[0], ref)


def test_stem_input_qdq_is_the_float_rounding_it_replaces(sils, exported, tmp_path):
    from gaitcompress.export.onnx_passes import stem_input_qdq

    path = exported[("w8a8", "ort")][1]  # eighth width: the stem runs in float, its input rounded by float ops
    graph = onnx.load(path)
    assert stem_input_qdq(graph) == 1
    ops = [n.op_type for n in graph.graph.node]
    assert "Round" not in ops and "Div" not in ops[: ops.index("Conv")]
    x = sils.numpy()
    ref = make_session(path, level="none").run(None, {"sils": x})[0]
    np.testing.assert_array_equal(
        make_session(_save(graph, tmp_path / "qdq.onnx"), level="none").run(None, {"sils": x})[0], ref
    )


def _frame_max_graph() -> onnx.ModelProto:
    """uint8 [N·T, C, H, W] → DQ → Reshape [N, T, C, H, W] → ReduceMax(axis 1): the exported temporal max."""
    from onnx import TensorProto, helper

    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "s"),
        numpy_helper.from_array(np.array(0, np.uint8), "z"),
        numpy_helper.from_array(np.array([2, -1, 3, 4, 2], np.int64), "shape"),
    ]
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xf"]),
        helper.make_node("Reshape", ["xf", "shape"], ["x5"]),
        helper.make_node("ReduceMax", ["x5"], ["y"], axes=[1], keepdims=0),
    ]
    inp = helper.make_tensor_value_info("x", TensorProto.UINT8, ["NT", 3, 4, 2])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4, 2])
    graph = helper.make_graph(nodes, "tmax", [inp], [out], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("frames", [1, 2, 3, 7, 9])
def test_integer_temporal_max_is_exact_for_any_frame_count(frames, tmp_path):
    from gaitcompress.export.onnx_passes import integer_temporal_max

    graph = _frame_max_graph()
    before = make_session(_save(graph, tmp_path / "before.onnx"))
    assert integer_temporal_max(graph, levels=2) == 1  # 2 halvings: 9 frames also exercise the closing ReduceMax
    ops = [n.op_type for n in graph.graph.node]
    assert ops.index("DequantizeLinear") == len(ops) - 1 and "Max" in ops  # the max runs on the integers
    x = np.random.default_rng(frames).integers(0, 256, (2 * frames, 3, 4, 2), dtype=np.uint8)
    after = make_session(_save(graph, tmp_path / "after.onnx"))
    np.testing.assert_array_equal(after.run(None, {"x": x})[0], before.run(None, {"x": x})[0])


@pytest.mark.parametrize("frames", [1, 3, 9])
def test_single_frame_reduce_folds_the_tree_back_into_one_integer_reducemax(frames, tmp_path):
    from gaitcompress.export.onnx_passes import integer_temporal_max, single_frame_reduce

    graph = _frame_max_graph()
    before = make_session(_save(graph, tmp_path / "before.onnx"))
    integer_temporal_max(graph, levels=2)
    assert single_frame_reduce(graph) == 1
    ops = [n.op_type for n in graph.graph.node]
    assert "Max" not in ops and "Slice" not in ops and ops.count("ReduceMax") == 1
    assert ops.index("ReduceMax") < ops.index("DequantizeLinear")  # still on the integers
    x = np.random.default_rng(frames).integers(0, 256, (2 * frames, 3, 4, 2), dtype=np.uint8)
    after = make_session(_save(graph, tmp_path / "after.onnx"))
    np.testing.assert_array_equal(after.run(None, {"x": x})[0], before.run(None, {"x": x})[0])
    assert single_frame_reduce(_frame_max_graph()) == 0  # a plain float ReduceMax is left alone


def _save(graph: onnx.ModelProto, path) -> str:
    onnx.save(graph, str(path))
    return str(path)


@pytest.mark.parametrize("frames", [5, 1, 300])  # 300 > 2^8: past the halving tree
def test_deploy_passes_keep_the_ort_export_exact(model, sils, frames, tmp_path):
    from gaitcompress.export.onnx_passes import DEPLOY_PASSES

    qat = _qat(model, sils, "w8a8", "ort")
    x = (np.random.default_rng(frames).random((2, frames, SPEC.height, SPEC.width)) > 0.5).astype(np.float32)
    plain = export_qdq(qat, tmp_path / "plain.onnx", "ort", SPEC, passes=[])
    exact = export_qdq(qat, tmp_path / "exact.onnx", "ort", SPEC, passes=["shapes", "temporal_max"])
    full = export_qdq(qat, tmp_path / "full.onnx", "ort", SPEC, int8_weights="unsigned")
    signed = export_qdq(qat, tmp_path / "signed.onnx", "ort", SPEC, int8_weights="signed")
    assert read_metadata(full)["passes"] == list(DEPLOY_PASSES) and read_metadata(full)["int8_weights"] == "unsigned"
    assert read_metadata(signed)["passes"] == [p for p in DEPLOY_PASSES if p != "unsigned_weights"]
    for level in ("none", "all"):  # the float simulation and the fused integer graph
        ref = make_session(plain, level=level).run(None, {"sils": x})[0]
        np.testing.assert_array_equal(make_session(exact, level=level).run(None, {"sils": x})[0], ref)
        exact_here = level == "none" or int8_weights_for() == "signed"  # fused u8×s8 is exact only with VNNI
        for path in (full, signed) if exact_here else (full,):
            got = make_session(path, level=level).run(None, {"sils": x})[0]
            if level == "none":
                np.testing.assert_array_equal(got, ref)
            else:  # a constant float weight lets onnxruntime pick its blocked (NCHWc) float conv: summation order
                np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6 * float(np.abs(ref).max()))
    fused = fused_integer_nodes(full)
    assert fused == fused_integer_nodes(plain) == fused_integer_nodes(signed)  # no integer kernel lost
    counts = {n.op_type for n in onnx.load(str(full)).graph.node}
    assert "ReduceMax" in counts and "Max" in counts


def test_int8_weights_auto_is_unsigned_only_on_x86_without_vnni():
    assert int8_weights_for("auto", ["avx2", "fma"], "x86_64") == "unsigned"
    assert int8_weights_for("auto", ["avx2", "avx512_vnni"], "x86_64") == "signed"
    assert int8_weights_for("auto", ["avx2", "avx_vnni"], "AMD64") == "signed"
    assert int8_weights_for("auto", [], "aarch64") == "signed"
    assert int8_weights_for("unsigned", ["avx512_vnni"], "x86_64") == "unsigned"
    with pytest.raises(ValueError, match="auto, signed, unsigned"):
        int8_weights_for("u8")
