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
    spec = BenchSpec({"teacher": str(a), "qgait8": str(b)}, ("ort-cpu",), (1, 2), (4,), (8, 6), rounds=3, warmup=1)
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
    joined = join_accuracy(rows, [acc_path])
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
