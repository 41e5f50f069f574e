"""`gaitcompress bench` on onnxruntime CPU with tiny models, plus the Pareto-front logic and plots."""

from __future__ import annotations

import pytest

from gaitcompress.bench.latency import BenchSpec, run_bench
from gaitcompress.bench.plots import pareto_front
from gaitcompress.bench.report import join_accuracy, write_bench
from gaitcompress.errors import GaitCompressError
from gaitcompress.results import make_results, summarize, write_results
from tests.test_device_runner import _tiny_onnx


def test_pareto_front():
    pts = [(1.0, 50.0), (2.0, 40.0), (3.0, 70.0), (4.0, 70.0), (0.5, 10.0)]
    assert pareto_front(pts) == [4, 0, 2]


def test_run_bench_rows_plots_and_join(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    _tiny_onnx(a)
    _tiny_onnx(b)
    spec = BenchSpec({"teacher": str(a), "qgait8": str(b)}, ("ort-cpu",), (1, 2), (4,), rounds=3, warmup=1)
    rows = run_bench(spec)
    assert len(rows) == 4 and {r["latency"]["batch"] for r in rows} == {1, 2}
    assert all(r["latency"]["ratio_to"]["teacher"] > 0 for r in rows)
    acc = make_results(
        "q",
        [{"method": "qgait8", "bits": "w8a8", "metrics": {"mean@R1": summarize([80.0])}, "cost": {"bitops": 1e8}}],
        {"name": "synthgait"},
        command="x",
    )
    acc_path = write_results(acc, tmp_path / "acc.json")
    joined = join_accuracy(rows, [acc_path]).rows
    assert joined[0]["latency"]["backend"] == "ort-cpu"
    doc = write_bench(rows, spec, tmp_path / "bench.json", joined, tmp_path / "plots")
    assert doc["schema"] == "gaitcompress.results/1"
    for name in ("latency.png", "pareto_bitops.png", "pareto_latency.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000


def test_bench_rejects_bad_input(tmp_path):
    with pytest.raises(GaitCompressError, match="file not found"):
        run_bench(BenchSpec({"m": str(tmp_path / "missing.onnx")}))
    model = tmp_path / "m.onnx"
    _tiny_onnx(model)
    with pytest.raises(GaitCompressError, match="unknown backend") as err:
        run_bench(BenchSpec({"m": str(model)}, ("ort-cpuu",)))
    assert "ort-cpu" in err.value.hint


def _declaring_onnx(path, height: int, width: int, frames: int | None = None) -> None:
    """The tiny stand-in at a static H×W, with gaitcompress's `input` metadata when `frames` is given."""
    import json

    import onnx
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info("sils", TensorProto.FLOAT, ["N", "T", height, width])
    out = helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["N", height, width])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    node = helper.make_node("ReduceMax", ["sils", "axes"], ["emb"], keepdims=0)
    model = helper.make_model(
        helper.make_graph([node], "tiny", [inp], [out], initializer=[axes]), opset_imports=[helper.make_opsetid("", 18)]
    )
    if frames is not None:
        spec = {"shape": ["N", "T", height, width], "traced_frames": frames}
        model.metadata_props.add(key="input", value=json.dumps(spec))
    onnx.save(model, path)


def test_bench_reads_size_and_frames_from_the_file(tmp_path):
    quick, deploy = tmp_path / "quick.onnx", tmp_path / "deploy.onnx"
    _declaring_onnx(quick, 32, 22, frames=7)  # metadata: size and traced frames
    _declaring_onnx(deploy, 64, 44)  # declared shape only: frames fall back to 30
    rows = run_bench(BenchSpec({"quick": str(quick), "deploy": str(deploy)}, rounds=2, warmup=1))
    got = {r["method"]: (r["latency"]["input"], r["latency"]["frames"]) for r in rows}
    assert got == {"quick": ([32, 22], 7), "deploy": ([64, 44], 30)}
    assert rows[0]["latency"]["runtime"]["runtime"] == "onnxruntime" and len(rows[0]["latency"]["load_avg"]) == 2


def test_bench_size_contradicting_the_file_is_one_clear_error(tmp_path):
    quick = tmp_path / "quick.onnx"
    _declaring_onnx(quick, 32, 22, frames=7)
    with pytest.raises(GaitCompressError, match=r"takes 32×22 inputs, not --size 64 44") as err:
        run_bench(BenchSpec({"quick": str(quick)}, size=(64, 44), rounds=2))
    assert "drop --size" in err.value.hint


def test_bench_cli_on_a_declaring_file(tmp_path):
    import os
    import subprocess
    import sys

    quick = tmp_path / "quick.onnx"
    _declaring_onnx(quick, 32, 22, frames=5)
    cmd = [sys.executable, "-m", "gaitcompress.cli", "bench", f"quick={quick}", "--rounds", "2"]
    env = {**os.environ, "COLUMNS": "160"}
    ok = subprocess.run([*cmd, "--out", str(tmp_path / "b.json")], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "32×22" in ok.stdout, ok.stderr
    bad = subprocess.run([*cmd, "--size", "64", "44"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "takes 32×22 inputs" in bad.stderr


def test_accuracy_join_is_explicit_and_never_keeps_old_timings(tmp_path):
    a = tmp_path / "a.onnx"
    _tiny_onnx(a)
    rows = run_bench(BenchSpec({"student": str(a), "extra": str(a)}, size=(8, 6), frames=(4,), rounds=2, warmup=1))
    old = {"backend": "ort-cpu", "batch": 1, "frames": 30, "p50_ms": 999.0}
    report = make_results(
        "report",
        [
            {"method": "gaitkd", "stage": "student", "metrics": {"mean@R1": summarize([70.0])}, "latency": old},
            {"method": "qgait8", "stage": "quant-qgait8", "label": "w8a8", "metrics": {}, "latency": old},
        ],
        {"name": "synthgait"},
        command="x",
    )
    joined = join_accuracy(rows, [write_results(report, tmp_path / "report.json")])
    assert [r["method"] for r in joined.rows] == ["gaitkd"]  # matched by its stage name
    assert joined.rows[0]["latency"]["p50_ms"] != 999.0 and joined.rows[0]["latency"]["bench_model"] == "student"
    assert joined.unmatched_rows == ["qgait8 (w8a8)"] and joined.unmatched_models == ["extra"]


def test_openvino_backend_runs_onnx_and_records_its_settings(tmp_path):
    pytest.importorskip("openvino")
    a = tmp_path / "a.onnx"
    _declaring_onnx(a, 8, 6, frames=4)
    spec = BenchSpec({"m": str(a)}, ("ort-cpu", "ov-cpu"), rounds=2, warmup=1, threads=1)
    rows = {r["latency"]["backend"]: r["latency"] for r in run_bench(spec)}
    ov = rows["ov-cpu"]["runtime"]
    assert ov["runtime"] == "openvino" and ov["threads"] == "1" and ov["hint"] == "LATENCY"
    assert ov["precision"] == "f32" and ov["version"]
    assert rows["ov-cpu"]["input"] == [8, 6] and rows["ov-cpu"]["frames"] == 4
    with pytest.raises(GaitCompressError, match="unknown OpenVINO hint"):
        run_bench(BenchSpec({"m": str(a)}, ("ov-cpu",), ov_hint="FAST"))
