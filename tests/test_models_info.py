"""`gaitcompress info` on an OpenGait-layout and a gaitcompress checkpoint."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from gaitcompress.cli import _register, app
from gaitcompress.models import create_model
from gaitcompress.models.weights import save_opengait
from gaitcompress.recipe import to_dict


def _invoke(*args: str):
    _register()
    return CliRunner().invoke(app, ["info", *args], env={"COLUMNS": "200"})


def test_info_opengait_checkpoint(tmp_path):
    save_opengait(create_model("gaitbase_w0125", num_classes=6), tmp_path / "m.pt")
    result = _invoke(str(tmp_path / "m.pt"), "--name", "gaitbase_w0125", "--frames", "4", "--input", "32", "22")
    assert result.exit_code == 0, result.output
    for needle in ("gaitbase_w0125", "MACs per frame", "Backbone.forward_block.layer4.0.conv2", "SeparateFCs", "114 k"):
        assert needle in result.output


def test_info_gaitcompress_checkpoint(tmp_path):
    model = create_model("deepgait_p3d_w025", num_classes=3, parts=8)
    torch.save({"model": model.state_dict(), "spec": to_dict(model.spec)}, tmp_path / "c.pt")
    result = _invoke(str(tmp_path / "c.pt"), "--frames", "2", "--input", "16", "11")
    assert result.exit_code == 0, result.output
    assert "deepgait_p3d" in result.output and "Conv3d" in result.output


def test_info_compares_registered_models():
    result = _invoke("gaitbase_w0*", "--frames", "1", "--input", "16", "11")
    assert result.exit_code == 0, result.output
    assert "gaitbase_w0125" in result.output and "gaitbase_w025" in result.output and "gaitbase_w05" in result.output


def test_info_unknown_path_is_one_clear_error(tmp_path):
    result = _invoke(str(tmp_path / "missing.pt"))
    assert result.exit_code != 0 and "no checkpoint" in str(result.exception)


def test_info_qat_checkpoint_shows_bits_and_bitops(tmp_path):
    from gaitcompress.quant.prepare import PRESETS, quantize_model
    from gaitcompress.quant.qmodel import save_quantized

    qmodel = quantize_model(create_model("gaitbase_w0125", num_classes=4), PRESETS["w4a4"])
    save_quantized(qmodel, PRESETS["w4a4"], tmp_path / "q.pt")
    result = _invoke(str(tmp_path / "q.pt"), "--frames", "2", "--input", "16", "11")
    assert result.exit_code == 0, result.output
    assert "BitOPs" in result.output and "4/4" in result.output
