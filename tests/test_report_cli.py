"""The pipeline report answers "which one do I ship?", at 80 columns: `gaitcompress report RUN_DIR`, the summary
table, the recommendation and the notes under rows whose speed needs explaining."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from gaitcompress.cli import app
from gaitcompress.commands.pipeline import summary_table
from gaitcompress.pipeline.report import recommend, speed_notes, write_report
from gaitcompress.results import summarize

DATASET = {"name": "synthgait", "input": [32, 22], "frames": 16}


def _row(stage, method, bits, r1, onnx_r1, ms, exports, placement=None, passed=True, bitops=1e9):
    metrics = {"mean@R1": summarize([r1]), "onnx mean@R1": summarize([onnx_r1])}
    row = {
        "method": method, "stage": stage, "bits": bits, "model": "gaitbase_w0125", "metrics": metrics,
        "cost": {"macs": 5e7, "bitops": bitops, "params": 1.1e5, "onnx_bytes": {f: 2**20 * (i + 1)
                                                                               for i, f in enumerate(exports)}},
        "exports": {f: f"/runs/export-{stage}/{stage}_{f}{'_' + placement if placement else ''}.onnx" for f in exports},
        "latency": {"backend": "ort-cpu", "batch": 1, "frames": 30, "p50_ms": ms, "p90_ms": ms * 1.1,
                    "ratio_to": {"teacher": ms / 50.0}},
        "parity": {exports[0]: {"passed": passed, "reason": "parity holds" if passed else "gap", "rank1_gap": {}}},
    }  # fmt: skip
    if placement:
        row["quant"] = {"placement": placement}
    return row


def _rows():
    return [
        _row("teacher", "teacher", "fp32", 60.0, 60.0, 50.0, ["fp32", "fp16"]),
        _row("student", "gaitkd", "fp32", 58.0, 58.0, 20.0, ["fp32"]),
        _row("quant-qgait8", "qgait8", "w8a8", 59.5, 59.4, 12.0, ["int8"], "ort"),
        _row("quant-qgait4", "qgait4", "w4a4", 57.0, 57.0, 11.0, ["int8"], "ort"),
        _row("quant-lsq8", "lsq8", "w8a8", 59.8, 59.8, 40.0, ["int8"], "trt"),
    ]


def test_recommends_the_fastest_within_tolerance_and_skips_failed_parity():
    rows = _rows()
    assert recommend(rows, 1.0)["stage"] == "quant-qgait8"  # qgait4 is faster but 3 points down
    assert recommend(rows, 5.0)["stage"] == "quant-qgait4"
    rows[2]["parity"]["int8"]["passed"] = False
    assert recommend(rows, 1.0)["stage"] == "quant-lsq8"  # the only other model within 1 point
    assert recommend(rows, 0.0)["stage"] == "teacher"


def test_speed_notes_explain_w4a4_and_trt_on_cpu():
    rows = _rows()
    assert speed_notes(rows[3]) == ["int8-containers"]
    assert speed_notes(rows[4]) == ["trt-on-cpu"]
    assert speed_notes(rows[2]) == [] and speed_notes(rows[0]) == []


def test_report_files_and_80_column_table(tmp_path):
    run = tmp_path / "run"
    (run / "report").mkdir(parents=True)
    (run / "pipeline.yaml").write_text("name: p\nreport: {tolerance: 5.0}\n")
    doc = write_report(_rows(), DATASET, run / "report", "pipeline-test", "gaitcompress pipeline x.yaml")
    assert doc["recommended"]["stage"] == "quant-qgait4" and doc["recommended"]["tolerance"] == 5.0  # from the recipe
    md = (run / "report" / "report.md").read_text()
    needles = ("/runs/export-teacher/teacher_fp16.onnx", "(2.00 MB)", "**recommended: quant-qgait4", "INT8 containers",
               "`trt` placement", "quant-qgait4¹", "quant-lsq8²", "![latency](latency.png)")  # fmt: skip
    for needle in needles:
        assert needle in md, needle
    saved = json.loads((run / "report" / "report.json").read_text())
    assert [r["method"] for r in saved["rows"]] == ["teacher", "gaitkd", "qgait8", "qgait4", "lsq8"]  # gate names

    console = Console(width=80, record=True, color_system=None)
    console.print(summary_table(saved))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for stage in ("teacher", "student", "quant-qgait8", "quant-qgait4", "quant-lsq8"):
        assert stage in text, stage
    assert "…" not in text.split("R1 = ")[0]  # no cell of the table is cut
    teacher = next(line for line in text.splitlines() if line.lstrip().startswith("teacher"))
    assert " 1.00 " in teacher and "3.00" not in teacher  # the benchmarked FP32 file, not FP32 + FP16


def test_report_command_reprints_a_run_and_explains_a_missing_one(runner, tmp_path):
    run = tmp_path / "run"
    write_report(_rows(), DATASET, run / "report", "pipeline-test")
    res = runner.invoke(app, ["report", str(run), "--tolerance", "0"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "recommended: teacher" in res.output and "quant-qgait8" in res.output
    table = [line for line in res.output.splitlines() if not line.startswith("report: ")]
    assert max(len(line) for line in table) <= 80
    res = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert res.exit_code == 1 and "no pipeline report" in str(res.exception)


def test_report_of_a_run_without_bench_ranks_by_bitops(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "latency"} for r in _rows()]
    rows[2]["cost"]["bitops"], rows[3]["cost"]["bitops"] = 3e6, 1e6
    rec = recommend(rows, 1.0)
    assert rec["by"] == "bitops" and rec["stage"] == "quant-qgait8"
    doc = write_report(rows, DATASET, Path(tmp_path) / "report", "no-bench")
    assert not (Path(tmp_path) / "report" / "latency.png").exists() and doc["recommended"]["stage"] == "quant-qgait8"


def test_deployment_size_latency_ranks_and_prints_at_80_columns(tmp_path):
    """With a deployment-size bench, each row carries `latency_deploy`, the reference sits in the `deploy` block,
    the recommendation is by the deployment-size p50, and both tables read at 80 columns."""
    from gaitcompress.commands.pipeline import deploy_table
    from gaitcompress.pipeline.report import deploy_block

    rows = _rows()
    at = {"teacher": 40.0, "student": 12.0, "quant-qgait8": 9.0, "quant-qgait4": 9.5, "quant-lsq8": 5.0}
    timed = [{"method": m, "latency": {"backend": "ort-cpu", "batch": 1, "frames": 30, "input": [64, 44],
                                       "p50_ms": ms}} for m, ms in [*at.items(), ("gaitbase", 400.0)]]  # fmt: skip
    for row in rows:
        row["latency_deploy"] = next(t["latency"] for t in timed if t["method"] == row["stage"])
    rows[2]["latency"]["p50_ms"] = 1.0  # fastest at the training size; not at the deployment size
    deploy = deploy_block({t["method"]: t["latency"] for t in timed}, "gaitbase")
    doc = write_report(rows, DATASET, tmp_path / "report", "pipeline-test", deploy=deploy, tolerance=5.0)
    assert doc["recommended"]["stage"] == "quant-lsq8" and doc["recommended"]["at"] == [64, 44]
    assert "ms p50 at 64×44" in (tmp_path / "report" / "report.md").read_text()
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Latency at deployment size (64×44, 30 frames, batch 1, ort-cpu" in md
    assert "| quant-qgait8 | w8a8 | 9.00 | 0.23 | 0.02 |" in md
    assert "| gaitbase (untrained) | fp32 | 400.00 | 10.00 | 1.00 |" in md
    console = Console(width=80, record=True, color_system=None)
    console.print(deploy_table(json.loads((tmp_path / "report" / "report.json").read_text())))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text, text
    assert "× gaitbase" in text and "gaitbase (untrained)" in text
