"""The torch-free device runner: runs ONNX models interleaved and writes the shared results form."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from gaitcompress.bench.device_runner import ratios, time_interleaved

ROOT = Path(__file__).resolve().parents[1]


def _tiny_onnx(path: Path) -> None:
    """[N,T,H,W] → ReduceMax over T → [N,H,W]: a stand-in gait model with dynamic batch/frames."""
    inp = helper.make_tensor_value_info("sils", TensorProto.FLOAT, ["N", "T", 8, 6])
    out = helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["N", 8, 6])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    node = helper.make_node("ReduceMax", ["sils", "axes"], ["emb"], keepdims=0)
    graph = helper.make_graph([node], "tiny", [inp], [out], initializer=[axes])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


def test_interleaved_timing_and_ratios():
    ticks = iter(range(1000))
    samples = time_interleaved({"a": lambda: None, "b": lambda: None}, rounds=4, warmup=1, clock=lambda: next(ticks))
    assert {k: len(v) for k, v in samples.items()} == {"a": 4, "b": 4}
    assert ratios({"a": [2.0, 4.0], "b": [1.0, 2.0]}, "b") == {"a": 2.0, "b": 1.0}


def test_device_bench_script_without_torch(tmp_path):
    model = tmp_path / "m.onnx"
    _tiny_onnx(model)
    out = tmp_path / "lat.json"
    # Block torch imports: the script must work on a device that cannot host PyTorch.
    code = (
        "import sys, runpy; sys.modules['torch'] = None; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    cmd = [
        sys.executable,
        "-c",
        code,
        str(ROOT / "bench" / "device_bench.py"),
        f"a={model}",
        f"b={model}",
        "--size",
        "8",
        "6",
        "--frames",
        "4",
        "--rounds",
        "3",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["schema"] == "gaitcompress.results/1"
    assert [r["method"] for r in doc["rows"]] == ["a", "b"]
    assert np.isfinite(doc["rows"][1]["latency"]["ratio_to"]["a"])


def test_device_bench_openvino_without_torch(tmp_path):
    import pytest

    pytest.importorskip("openvino")
    model = tmp_path / "m.onnx"
    _tiny_onnx(model)
    out = tmp_path / "lat.json"
    code = (
        "import sys, runpy; sys.modules['torch'] = None; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    script = str(ROOT / "bench" / "device_bench.py")
    args = [f"a={model}", "--backend", "ov-cpu", "--threads", "1", "--size", "8", "6", "--frames", "4"]
    cmd = [sys.executable, "-c", code, script, *args, "--rounds", "2", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lat = json.loads(out.read_text())["rows"][0]["latency"]
    assert lat["backend"] == "ov-cpu" and lat["runtime"]["precision"] == "f32" and lat["runtime"]["threads"] == "1"
    assert lat["input"] == [8, 6] and len(lat["load_avg"]["before"]) == 3
