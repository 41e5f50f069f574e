"""Deployment-size export (a model trained at one input size exported at 64×44) and the stream-throughput timer."""

from __future__ import annotations

import numpy as np
import torch

from gaitcompress.bench.device_runner import concurrent_throughput, declared_input
from gaitcompress.export.deploy_size import export_at_size
from gaitcompress.export.onnx_export import read_metadata
from gaitcompress.export.runtime import make_session
from gaitcompress.models import create_model
from gaitcompress.quant.prepare import QConfig, quantize_model
from gaitcompress.quant.qmodel import save_quantized
from gaitcompress.recipe import to_dict

RECIPE = {"data": {"dataset": "synthgait", "input_size": [16, 11]}}


def test_trained_size_checkpoints_export_at_another_size(tmp_path):
    torch.manual_seed(0)
    model = create_model("gaitbase_w0125", num_classes=4).eval()
    fp32 = tmp_path / "fp32" / "final.pt"
    fp32.parent.mkdir()
    torch.save({"model": model.state_dict(), "spec": to_dict(model.spec), "kind": "fp32", "recipe": RECIPE}, fp32)
    qcfg = QConfig.preset("w8a8", placement="ort")
    qat = quantize_model(model, qcfg).eval()
    with torch.no_grad():
        qat((torch.rand(2, 4, 16, 11) > 0.5).float())
    qat_path = save_quantized(qat, qcfg, tmp_path / "qat" / "final.pt", recipe=RECIPE)
    x = (torch.rand(1, 6, 32, 22) > 0.5).float()
    for ckpt, ref in ((fp32.parent, model), (qat_path, None)):
        path = export_at_size(ckpt, tmp_path / f"{ckpt.parent.name if ref is None else 'fp32'}.onnx", (32, 22), 6)
        assert declared_input(str(path)) == {"height": 32, "width": 22, "frames": 6}
        meta = read_metadata(path)
        assert meta["deploy_size"] is True and meta["trained_input"] == [16, 11]
        emb = make_session(path).run(None, {"sils": x.numpy()})[0]
        if ref is not None:  # the same weights at the new size: what PyTorch computes there
            with torch.no_grad():
                np.testing.assert_allclose(emb, ref(x)["embeddings"].numpy(), atol=1e-4)
        else:
            assert meta["placement"] == "ort" and np.isfinite(emb).all()


def test_concurrent_throughput_counts_every_stream():
    ticks = iter(np.arange(0, 1000, 0.25))
    rate = concurrent_throughput([lambda: None, lambda: None], seconds=2.0, batch=4, clock=lambda: float(next(ticks)))
    assert rate["calls"] >= 2 and rate["seq_s"] > 0 and rate["p50_ms"] > 0
