"""The gate: passes a baseline against itself, catches a 1-point drop of any gated model, refuses broken inputs.

Exit codes through the CLI: 0 passed, 1 regression, 2 malformed / empty / non-finite input.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gaitcompress.bench.gate import GateInputError, compare, validate
from gaitcompress.cli import _register, app
from gaitcompress.results import make_results, summarize, write_results

ROOT = Path(__file__).resolve().parents[1]
BASELINES = sorted((ROOT / "bench" / "baselines").glob("*.json"))


def _row(method: str, bits: str, r1: float, onnx: float | None = None, parent: str | None = None) -> dict:
    metrics = {"mean@R1": summarize([r1]), "NM@R1": summarize([r1 + 10])}
    if onnx is not None:
        metrics["onnx mean@R1"] = summarize([onnx])
    row = {"method": method, "model": "gaitbase_w0125", "bits": bits, "seeds": [0], "metrics": metrics,
           "latency": {"backend": "ort-cpu", "p50_ms": 3.0, "ratio_to": {"teacher": 0.5}}}  # fmt: skip
    return row | ({"parent": parent} if parent else {})


def _doc(student: float = 55.0, w8: float = 55.2, w8_onnx: float = 55.3) -> dict:
    rows = [_row("student", "fp32", student, student), _row("qgait8", "w8a8", w8, w8_onnx, parent="student")]
    return make_results("ci", rows, {"name": "synthgait"}, command="test")


def _drop(doc: dict, key: str, metric: str, points: float) -> dict:
    worse = copy.deepcopy(doc)
    row = next(r for r in worse["rows"] if "/".join(str(r.get(k, "")) for k in ("method", "model", "bits")) == key)
    row["metrics"][metric]["mean"] -= points
    return worse


def test_baseline_passes_itself_and_each_kind_catches_its_regression():
    base = _doc()
    assert all(c.passed for c in compare(base, base))
    assert {c.kind for c in compare(base, base)} == {"abs", "loss", "parity"}
    failed = {c.kind for c in compare(_doc(w8=54.2, w8_onnx=54.3), base) if not c.passed}
    assert failed == {"abs", "loss"}  # the deployed model lost a point against its own FP32 parent
    failed = {c.kind for c in compare(_doc(w8_onnx=54.3), base) if not c.passed}
    assert failed == {"abs", "loss", "parity"}  # onnxruntime parts from PyTorch
    # retraining noise moves a parent and its child together: the same-run loss check stays green
    shifted = [c for c in compare(_doc(53.0, 53.2, 53.3), base, checks=["loss", "parity"]) if not c.passed]
    assert shifted == []


def test_export_parity_gaps_are_checked_and_nan_fails():
    base = _doc()
    base["rows"][1]["parity"] = {"int8": {"passed": True, "reason": "parity holds", "rank1_gap": {"CL@R1": 0.1}}}
    assert all(c.passed for c in compare(base, base))
    for gap in (0.8, float("nan"), None):
        worse = copy.deepcopy(base)
        worse["rows"][1]["parity"]["int8"]["rank1_gap"]["CL@R1"] = gap
        failed = [c for c in compare(worse, base) if not c.passed]
        assert [(c.kind, c.metric) for c in failed] == [("parity", "int8 export CL@R1")], gap


def test_missing_row_or_metric_is_a_regression():
    base = _doc()
    only_student = make_results("ci", [base["rows"][0]], {"name": "synthgait"})
    assert any(not c.passed and c.row.startswith("qgait8") for c in compare(only_student, base))
    no_metric = copy.deepcopy(base)
    del no_metric["rows"][1]["metrics"]["onnx mean@R1"]
    assert any(not c.passed and c.metric == "onnx mean@R1" for c in compare(no_metric, base))


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d.update(rows=[]),
        lambda d: d.pop("rows"),
        lambda d: d.update(schema="other/1"),
        lambda d: d["rows"][0]["metrics"]["mean@R1"].update(mean=float("inf")),
        lambda d: d["rows"][0]["metrics"]["mean@R1"].update(mean=float("nan")),
        lambda d: d["rows"][0]["metrics"]["mean@R1"].update(mean=None),
        lambda d: d["rows"][0]["metrics"]["mean@R1"].update(mean="55.0"),
        lambda d: d["rows"][0].pop("metrics"),
        lambda d: d["rows"].append(copy.deepcopy(d["rows"][0])),
    ],
    ids=["empty", "no-rows", "schema", "inf", "nan", "null", "string", "no-metrics", "duplicate"],
)
def test_malformed_documents_are_input_errors(break_it):
    doc = _doc()
    break_it(doc)
    with pytest.raises(GateInputError):
        validate(doc, "doc.json")


def _cli(*args: str):
    _register()
    return CliRunner().invoke(app, ["gate", *args])


def test_cli_exit_codes_summary_and_junit(tmp_path):
    base = write_results(_doc(), tmp_path / "base.json")
    good = write_results(_doc(w8=55.0, w8_onnx=55.1), tmp_path / "good.json")
    bad = write_results(_doc(w8=54.0, w8_onnx=54.1), tmp_path / "bad.json")
    summary, junit = tmp_path / "gate.json", tmp_path / "gate.xml"
    res = _cli(str(good), "--baseline", str(base), "--summary", str(summary), "--junit", str(junit))
    assert res.exit_code == 0, res.output
    assert json.loads(summary.read_text())["exit_code"] == 0
    res = _cli(str(bad), "--baseline", str(base), "--summary", str(summary), "--junit", str(junit))
    assert res.exit_code == 1 and "regressed" in res.output
    doc = json.loads(summary.read_text())
    assert doc["exit_code"] == 1 and doc["counts"]["failed"] >= 2
    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("failures")) == doc["counts"]["failed"]
    assert int(suite.get("tests")) == doc["counts"]["checks"]
    # broken inputs: exit 2, with a one-line reason, never a traceback
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps(_doc() | {"rows": []}))
    inf = tmp_path / "inf.json"
    inf.write_text(json.dumps(_doc()).replace("55.3", "Infinity"))
    (tmp_path / "garbage.json").write_text("{not json")
    for path, baseline in [(empty, base), (good, empty), (inf, base), (tmp_path / "garbage.json", base),
                           (good, tmp_path / "missing.json"), (tmp_path / "missing.json", base)]:  # fmt: skip
        res = _cli(str(path), "--baseline", str(baseline), "--summary", str(summary))
        assert res.exit_code == 2, (path, res.output)
        assert "Traceback" not in res.output and json.loads(summary.read_text())["exit_code"] == 2
    assert _cli(str(good), "--baseline", str(base), "--checks", "abs,bogus").exit_code == 2
    assert _cli(str(good), "--baseline", str(base), "--tol", "mean@R1").exit_code == 2
    res = _cli(str(bad), "--baseline", str(tmp_path / "new.json"), "--update")
    assert res.exit_code == 0 and (tmp_path / "new.json").is_file()


@pytest.mark.parametrize("path", BASELINES, ids=[p.name for p in BASELINES])
def test_committed_baselines_pass_themselves_and_fail_a_drop(path):
    """Every committed baseline is valid and passes itself, with the checks .ci/run gives it.

    The deterministic CI gate (committed checkpoints): any model 1 point lower fails. The retrained main job
    (`pipeline-*`, loss + parity at 5 / 0.5 points): any deployed model 1 point off PyTorch fails, and a quantized
    model 6 points below its FP32 parent fails.
    """
    base = validate(json.loads(path.read_text()), str(path))
    main_job = path.stem.startswith("pipeline-")
    kinds, tol = (["loss", "parity"], 5.0) if main_job else (["abs", "loss", "parity"], 0.5)
    assert all(c.passed for c in compare(base, base, checks=kinds, default_tolerance=tol))
    for row in base["rows"]:
        key = "/".join(str(row.get(k, "")) for k in ("method", "model", "bits"))
        drops = [("onnx mean@R1", 1.0)] + ([("mean@R1", 6.0)] if row.get("bits") != "fp32" else [])
        if not main_job:
            drops = [("mean@R1", 1.0), ("onnx mean@R1", 1.0)]
        for metric, points in drops:
            if metric in row["metrics"]:
                checks = compare(_drop(base, key, metric, points), base, checks=kinds, default_tolerance=tol)
                assert any(not c.passed for c in checks), f"{path.name}: {key} {metric} −{points} passed"
