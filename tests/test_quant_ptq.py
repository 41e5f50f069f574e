"""PTQ baseline: onnxruntime static QDQ quantization of an FP32 export, run as a gait model over valid frames."""

from __future__ import annotations

import onnx
import torch

from gaitcompress.data.batch import Batch
from gaitcompress.export.onnx_export import InputSpec, export_onnx
from gaitcompress.export.ptq import OrtGaitModel, TrainCalibration, quantize_onnx_static
from gaitcompress.models import create_model


def batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    while True:
        sils = (torch.rand(4, 5, 16, 11, generator=g) > 0.5).float()
        yield Batch(sils=sils, labels=torch.arange(4), lengths=torch.full((4,), 5), meta=[])


def test_static_ptq_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = create_model("gaitbase_w0125", num_classes=4, parts=4).eval()
    fp32 = export_onnx(model, tmp_path / "fp32.onnx", "fp32", InputSpec(16, 11, 5))
    int8 = quantize_onnx_static(fp32, tmp_path / "int8.onnx", TrainCalibration(batches(), 2))
    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    x = next(batches(1)).sils
    lengths = torch.tensor([5, 3, 5, 2])
    with torch.no_grad():
        ref = torch.cat([model(x[i : i + 1, : int(lengths[i])])["embeddings"] for i in range(4)])
    out_fp32 = OrtGaitModel(fp32)(x, lengths)["embeddings"]
    out_int8 = OrtGaitModel(int8)(x, lengths)["embeddings"]
    assert torch.allclose(out_fp32, ref, atol=1e-4)  # each row over its own valid frames only
    rel = ((out_int8 - ref).norm() / ref.norm()).item()
    assert 0 < rel < 0.2
