"""`gaitcompress export` end to end on tiny checkpoints, and each bad input as one clear error with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gaitcompress.cli import app
from gaitcompress.errors import GaitCompressError
from gaitcompress.export.onnx_export import read_metadata
from gaitcompress.export.stage import ExportConfig, export_checkpoint
from gaitcompress.models import create_model
from gaitcompress.quant.prepare import QConfig, quantize_model
from gaitcompress.quant.qmodel import save_quantized
from gaitcompress.recipe import to_dict

RECIPE = {
    "data": {
        "synth": {"ids": 6, "train": 4, "frames": 8, "views": [0, 90]},
        "input_size": [16, 11],
        "test_max_frames": 8,
        "test_batch": 8,
    }
}


@pytest.fixture(scope="module")
def fp32_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_model("gaitbase_w0125", num_classes=4)
    path = tmp_path_factory.mktemp("fp32") / "final.pt"
    state = {"model": model.state_dict(), "spec": to_dict(model.spec), "kind": "fp32", "recipe": RECIPE}
    torch.save({**state, "metrics": {"NM@R1": 50.0}}, path)
    return path


@pytest.fixture(scope="module")
def qat_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    qcfg = QConfig.preset("w8a8", placement="ort")
    qat = quantize_model(create_model("gaitbase_w0125", num_classes=4), qcfg).eval()
    with torch.no_grad():
        qat((torch.rand(2, 4, 16, 11) > 0.5).float())  # initialise the LSQ steps
    return save_quantized(qat, qcfg, tmp_path_factory.mktemp("qat") / "final.pt", recipe=RECIPE)


def _error(result) -> str:
    assert result.exit_code != 0 and isinstance(result.exception, GaitCompressError), result.output
    return str(result.exception)


def test_fp32_export_with_verify(runner, fp32_ckpt, tmp_path):
    result = runner.invoke(app, ["export", str(fp32_ckpt), "--out", str(tmp_path), "--frames", "4", "--verify"])
    assert result.exit_code == 0, result.output
    assert "passed" in result.output and "NM@R1 torch → onnx" in result.output
    onnx_path = tmp_path / "gaitbase_w0125_fp32.onnx"
    meta = read_metadata(onnx_path)
    assert meta["family"] == "gaitbase" and meta["bits"] == "fp32" and meta["accuracy"] == {"NM@R1": 50.0}
    assert "NM@R1" in meta["accuracy_onnx"] and meta["gaitcompress"]
    doc = json.loads((tmp_path / "export.json").read_text())
    assert doc["rows"][0]["export"]["parity"]["passed"] and doc["rows"][0]["cost"]["frames"] == 4
    assert "trtexec --onnx=" in (tmp_path / "gaitbase_w0125_fp32.engine.commands.txt").read_text()


def test_int8_export_of_a_qat_checkpoint(qat_ckpt, tmp_path):
    result = export_checkpoint(qat_ckpt, ExportConfig(format="int8", out=str(tmp_path), frames=4))
    assert result.onnx.name == "gaitbase_w0125_w8a8_ort.onnx"
    assert result.fused["QLinearConv"] >= 6 and result.metadata["placement"] == "ort"
    assert result.cost.bits == "w8a8" and result.cost.bitops == pytest.approx(result.cost.macs * 64 / 1024)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "int8", "--opset", "12"], "opset 12"),
        (["--format", "int8"], "FP32 checkpoint"),
        (["--format", "fp32", "--placement", "ort"], "int8 exports only"),
        (["--format", "int4"], "unknown export format"),
        (["--opset", "10"], "opset 10"),
        (["--format", "fp16", "--opset", "21"], "opset 21"),
    ],
)
def test_bad_options_are_refused_before_writing(runner, fp32_ckpt, tmp_path, args, message):
    assert message in _error(runner.invoke(app, ["export", str(fp32_ckpt), "--out", str(tmp_path), *args]))
    assert not any(tmp_path.iterdir())


def test_missing_checkpoint(runner, tmp_path):
    assert "no checkpoint at" in _error(runner.invoke(app, ["export", str(tmp_path / "nope.pt")]))
    assert not any(tmp_path.iterdir())  # not even the default output folder beside it


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a checkpoint", "not a PyTorch weights file"), ({"weights": 1}, "not an exportable gait model")],
)
def test_unreadable_checkpoint(runner, tmp_path, content, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(content) if isinstance(content, bytes) else torch.save(content, path)
    out = tmp_path / "out"
    assert message in _error(runner.invoke(app, ["export", str(path), "--out", str(out)]))
    assert not out.exists()


def test_wrong_family_checkpoint(runner, tmp_path):
    path = tmp_path / "diffusion.pt"
    spec = {"family": "gaitcrafter", "name": "small", "num_classes": 0, "parts": 0, "kwargs": {}}
    torch.save({"model": {"w": torch.zeros(1)}, "spec": spec, "kind": "fp32"}, path)
    out = tmp_path / "out"
    assert "not a gait recognition model" in _error(runner.invoke(app, ["export", str(path), "--out", str(out)]))
    assert not out.exists()


def test_unwritable_output_folder(runner, fp32_ckpt, tmp_path):
    (tmp_path / "file").write_text("")
    message = _error(runner.invoke(app, ["export", str(fp32_ckpt), "--out", str(tmp_path / "file" / "out")]))
    assert "not writable" in message
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_qat_checkpoint_is_not_a_float_export(runner, qat_ckpt, tmp_path):
    assert "is a QAT checkpoint" in _error(runner.invoke(app, ["export", str(qat_ckpt), "--out", str(tmp_path)]))
    assert not any(tmp_path.iterdir())


def test_placement_must_match_the_qat_checkpoint(runner, qat_ckpt, tmp_path):
    args = ["export", str(qat_ckpt), "--format", "int8", "--placement", "trt", "--out", str(tmp_path)]
    assert "quantized for the 'ort' placement" in _error(runner.invoke(app, args))
    assert not any(tmp_path.iterdir())


def test_trt_without_tensorrt_names_the_package(runner, fp32_ckpt, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    message = _error(runner.invoke(app, ["export", str(fp32_ckpt), "--out", str(tmp_path), "--trt"]))
    assert "'tensorrt' Python package" in message
    assert not any(tmp_path.iterdir())


def test_failed_parity_is_returned_not_raised_when_not_strict(qat_ckpt, tmp_path):
    """A report records a failed parity as a row (reason, where it starts); the CLI/default raises it."""
    from gaitcompress.export.stage import ParityError
    from gaitlab.export_report import notes

    cfg = ExportConfig(format="int8", out=str(tmp_path), frames=4, verify=True, rank1_tol=-1.0)  # cannot pass
    with pytest.raises(ParityError, match="rank-1 differs"):
        export_checkpoint(qat_ckpt, cfg)
    result = export_checkpoint(qat_ckpt, cfg, strict=False)
    parity = result.parity.to_dict()
    assert not parity["passed"] and parity["reference"] == "pytorch hard-quant + int32 bias"
    assert parity["trained"] is not None and parity["fused_max_steps"] is not None
    row = {"label": "w8a8-ort onnxruntime", "parity": parity | {"fused": result.fused, "file": str(result.onnx)}}
    assert "FAILED: rank-1 differs" in notes([row])
    assert result.onnx.is_file() and (tmp_path / "export.json").is_file()


def test_verify_scores_every_export_on_the_stated_clip_length(fp32_ckpt, tmp_path, monkeypatch):
    """The recipe's test_max_frames (8 here; 16 in the QAT recipes) gives way to --frames, so exports compare."""
    from gaitcompress.export import stage

    class Seen(Exception):
        pass

    def verify(model, path, data_cfg, *args, **kwargs):
        raise Seen(data_cfg)

    monkeypatch.setattr(stage, "verify_export", verify)
    with pytest.raises(Seen) as seen:
        export_checkpoint(fp32_ckpt, ExportConfig(out=str(tmp_path), frames=5, verify=True))
    assert seen.value.args[0].test_max_frames == 5 and tuple(seen.value.args[0].input_size) == (16, 11)
