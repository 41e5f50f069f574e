"""The CI gate passes on its own baseline and fails when accuracy is made worse on purpose."""

from __future__ import annotations

import copy

from typer.testing import CliRunner

from gaitcompress.bench.gate import compare
from gaitcompress.cli import _register, app
from gaitcompress.results import make_results, summarize, write_results


def _doc(nm: float, ratio: float = 0.5):
    row = {
        "method": "qgait8",
        "model": "gaitbase_w0125",
        "bits": "w8a8",
        "seeds": [0],
        "metrics": {"NM@R1": summarize([nm]), "CL@R1": summarize([40.0])},
        "latency": {"backend": "ort-cpu", "p50_ms": 3.0, "ratio_to": {"teacher": ratio}},
    }
    return make_results("ci", [row], {"name": "synthgait"}, command="test")


def test_compare_pass_fail_and_missing():
    base = _doc(80.0)
    assert all(c.passed for c in compare(base, base))
    worse = _doc(78.5)
    failed = [c for c in compare(worse, base) if not c.passed]
    assert [c.metric for c in failed] == ["NM@R1"]
    assert all(c.passed for c in compare(worse, base, tolerances={"NM@R1": 2.0}))
    empty = copy.deepcopy(base)
    empty["rows"] = []
    assert not any(c.passed for c in compare(empty, base))
    slow = _doc(80.0, ratio=0.8)
    assert all(c.passed for c in compare(slow, base))  # latency not gated unless asked
    assert not all(c.passed for c in compare(slow, base, latency_tolerance=0.25))


def test_gate_cli_exit_codes(tmp_path):
    _register()
    base = write_results(_doc(80.0), tmp_path / "base.json")
    good = write_results(_doc(79.5), tmp_path / "good.json")
    bad = write_results(_doc(70.0), tmp_path / "bad.json")
    runner = CliRunner()
    assert runner.invoke(app, ["gate", str(good), "--baseline", str(base)]).exit_code == 0
    res = runner.invoke(app, ["gate", str(bad), "--baseline", str(base)])
    assert res.exit_code == 1 and "REGRESSED" in res.output
    res = runner.invoke(app, ["gate", str(bad), "--baseline", str(tmp_path / "new.json"), "--update"])
    assert res.exit_code == 0 and (tmp_path / "new.json").is_file()
    res = runner.invoke(app, ["gate", str(bad), "--baseline", str(tmp_path / "none.json")])
    assert res.exit_code != 0
