"""Post-training INT8 (`gaitcompress.quant.calibrate`): calibrated steps, float-close outputs, a QAT-kind checkpoint
that `export --format int8 --verify` takes unchanged, from a gaitcompress or an OpenGait-layout checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gaitcompress import checkpoints
from gaitcompress.data.batch import Batch, SeqMeta
from gaitcompress.errors import GaitCompressError
from gaitcompress.export.stage import ExportConfig, export_checkpoint
from gaitcompress.models import create_model
from gaitcompress.quant.calibrate import calibrate, is_ptq, parse_ptq_recipe, run_ptq_stage
from gaitcompress.quant.prepare import QConfig, quantize_model, quantizers
from gaitcompress.quant.quantizers import LsqQuantizer
from gaitcompress.recipe import to_dict

DATA = {
    "synth": {"ids": 6, "train": 4, "frames": 8, "views": [0, 90]},
    "input_size": [16, 11],
    "train_frames": 6,
    "test_max_frames": 8,
    "test_batch": 8,
    "batch_p": 2,
    "batch_k": 2,
}


def _batches(n: int, seed: int = 0) -> list[Batch]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        sils = (torch.rand(4, 6, 16, 11, generator=gen) > 0.5).float()  # [N, T, H, W]
        out.append(Batch(sils, torch.zeros(4, dtype=torch.long), torch.full((4,), 6), [SeqMeta("0", "nm-01", "0")] * 4))
    return out


@pytest.mark.parametrize("placement", ["trt", "ort"])
def test_calibrated_w8a8_stays_close_to_the_float_model(placement):
    torch.manual_seed(0)
    fp32 = create_model("gaitbase_w0125", num_classes=4).eval()
    qmodel = quantize_model(fp32, QConfig.preset("w8a8", placement=placement, init="mse"))
    used = calibrate(qmodel, iter(_batches(5)), sequences=18)
    assert used == 18
    acts = [q for q in quantizers(qmodel).values() if isinstance(q, LsqQuantizer)]
    assert acts and all(bool(q.initialized) and (q.scale() > 0).all() for q in acts)
    x = _batches(1, seed=9)[0].sils
    with torch.no_grad():
        ref, got = fp32(x)["embeddings"], qmodel.eval()(x)["embeddings"]
    cos = F.cosine_similarity(ref.flatten(1), got.flatten(1)).min()
    assert cos > 0.99, f"w8a8 PTQ embeddings drifted from FP32: cosine {cos:.4f}"


def test_calibration_sees_every_batch_not_only_the_first():
    """A step set on the first batch alone would ignore the larger range of the later ones."""
    torch.manual_seed(0)
    fp32 = create_model("gaitbase_w0125", num_classes=4).eval()
    faint = [Batch(b.sils * 0.05, b.labels, b.lengths, b.meta) for b in _batches(1)]
    first_only = quantize_model(fp32, QConfig.preset("w8a8", init="mse"))
    calibrate(first_only, iter(faint), sequences=4)
    both = quantize_model(fp32, QConfig.preset("w8a8", init="mse"))
    calibrate(both, iter(faint + _batches(1)), sequences=8)
    path = "backbone.layer1.0.input_quant"
    a, b = quantizers(first_only), quantizers(both)
    key = path if path in a else next(p for p, q in a.items() if isinstance(q, LsqQuantizer) and q.channel_axis is None)
    assert float(b[key].scale().detach()) > 2 * float(a[key].scale().detach())


def _fp32_checkpoint(folder: Path, opengait: bool = False) -> Path:
    torch.manual_seed(0)
    model = create_model("gaitbase_w0125", num_classes=4)
    path = folder / "fp32.pt"
    if opengait:  # OpenGait's layout: the state dict alone, no spec, no recipe
        torch.save({"model": model.state_dict()}, path)
    else:
        torch.save({"model": model.state_dict(), "spec": to_dict(model.spec), "kind": "fp32"}, path)
    return path


def _recipe(tmp_path: Path, ckpt: Path, **quant) -> dict:
    return {
        "name": "ptq-test",
        "run_dir": str(tmp_path / "q8"),
        "data": DATA,
        "quant": {"checkpoint": str(ckpt), "method": "ptq", "preset": "w8a8", "calib_sequences": 8, **quant},
    }


@pytest.mark.parametrize("opengait", [False, True])
def test_ptq_stage_writes_a_qat_checkpoint_that_exports_to_int8_with_parity(tmp_path, monkeypatch, opengait):
    monkeypatch.setenv("GAITCOMPRESS_DATA", str(tmp_path / "data"))
    ckpt = _fp32_checkpoint(tmp_path, opengait)
    recipe = _recipe(tmp_path, ckpt, placement="ort", model_name="gaitbase_w0125" if opengait else None)
    assert is_ptq(recipe)
    done = run_ptq_stage(recipe)
    assert done.run_dir == tmp_path / "q8-ptq"
    row = done.results["rows"][0]
    assert row["method"] == "ptq8" and row["bits"] == "w8a8" and row["quant"]["calib_sequences"] == 8
    final = checkpoints.load(done.run_dir / "final.pt")
    assert final["kind"] == "qat" and final["qconfig"]["placement"] == "ort"
    result = export_checkpoint(
        done.run_dir / "final.pt", ExportConfig(format="int8", out=str(tmp_path / "onnx"), frames=6, verify=True)
    )
    assert result.onnx.is_file() and result.parity is not None and result.parity.passed, result.parity


def test_ptq_recipe_errors_name_the_key(tmp_path):
    with pytest.raises(GaitCompressError, match="quant.checkpoint is not set"):
        parse_ptq_recipe({"quant": {"method": "ptq"}})
    with pytest.raises(GaitCompressError, match="calib_sequences"):
        parse_ptq_recipe(_recipe(tmp_path, tmp_path / "x.pt", calib_sequences=0))
    with pytest.raises(GaitCompressError, match="placement"):
        parse_ptq_recipe(_recipe(tmp_path, tmp_path / "x.pt", placement="gpu"))


def test_ptq_seeds_pick_the_calibration_sample_and_summarise_one_row(tmp_path, monkeypatch):
    from gaitcompress.quant.calibrate import run_ptq_seeds

    monkeypatch.setenv("GAITCOMPRESS_DATA", str(tmp_path / "data"))
    recipe = _recipe(tmp_path, _fp32_checkpoint(tmp_path), calib_sequences=4)
    done = run_ptq_seeds(recipe, [0, 1], out=tmp_path / "ptq8.json")
    assert done.row["seeds"] == [0, 1] and len(done.row["metrics"]["mean@R1"]["values"]) == 2
    steps = [checkpoints.load(tmp_path / f"q8-ptq/seed{s}/final.pt")["model"] for s in (0, 1)]
    acts = [k for k in steps[0] if k.endswith("input_quant.step") and steps[0][k].numel() == 1]
    assert any(not torch.equal(steps[0][k], steps[1][k]) for k in acts)  # another sample, other activation steps
    assert (tmp_path / "ptq8.json").is_file() and (tmp_path / "ptq8.md").is_file()
