"""The ablation driver's bookkeeping (runs replaced by stubs that write metrics.json): order, resume, table form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaitcompress.results import read_results
from gaitlab import distill_ablation as ablation

ROOT = Path(__file__).resolve().parents[1]


def _fake_run(calls: list[str]):
    def run(recipe: dict, command: str | None = None, **_: object) -> None:
        run_dir = Path(recipe["run_dir"])
        calls.append(f"{run_dir.parent.name}/{run_dir.name}")
        if "distill" in recipe:  # the teacher folder replaces the recipe's; overrides reach students only
            assert recipe["distill"]["teachers"] == [{"checkpoint": str(run_dir.parents[2] / "teacher")}]
        assert recipe["train"]["iterations"] == (300 if run_dir.name == "teacher" else 7)
        bonus = 5.0 if "distill" in recipe else 0.0
        metrics = {m: {"mean": 50.0 + bonus + recipe["seed"]} for m in ablation.METRICS}
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "metrics.json").write_text(json.dumps({"rows": [{"metrics": metrics}]}))

    return run


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """The runs the driver starts (each replaced by a stub that writes metrics.json), in order."""
    monkeypatch.chdir(ROOT)
    started: list[str] = []
    monkeypatch.setattr(ablation, "run_train", _fake_run(started))
    monkeypatch.setattr(ablation, "run_distill", _fake_run(started))
    monkeypatch.setattr(ablation, "_cost", lambda r, d: {"macs": 4 if r["model"]["name"] == "gaitbase_w025" else 1})
    return started


def test_sweep_is_seed_major_resumable_and_writes_one_row_per_method(tmp_path, calls) -> None:
    teacher = tmp_path / "teacher"
    out = tmp_path / "table.json"
    ablation.run_ablation([0, 1], out, tmp_path / "runs", ["train.iterations=7"], teacher)
    assert calls[0].endswith("/teacher")
    # the claim rows (student, GaitKD, feature regression) over all seeds first, then the rest seed-major
    assert calls[1:7] == [f"{m}/seed{s}" for s in (0, 1) for m in ("student", "gaitkd", "kd-feat")]
    assert calls[7:9] == ["kd-logit/seed0", "kd-ab/seed0"] and len(calls) == 1 + 7 * 2
    doc = read_results(out)
    assert [r["method"] for r in doc["rows"]] == [m for m, _, _ in ablation.ROWS]
    student, gaitkd = doc["rows"][1], doc["rows"][4]
    assert student["seeds"] == [0, 1] and student["metrics"]["NM@R1"]["values"] == [50.0, 51.0]
    assert gaitkd["metrics"]["mAP"]["mean"] == pytest.approx(55.5)
    assert doc["rows"][0]["cost"]["macs_ratio_to_teacher"] == 1.0
    assert gaitkd["cost"]["macs_ratio_to_teacher"] == 0.25
    assert "+5.00 vs spread 0.71 → holds" in doc["notes"] and "feature regression: +0.00 → holds" in doc["notes"]
    calls.clear()
    ablation.run_ablation([0, 1], out, tmp_path / "runs", ["train.iterations=7"], teacher)
    assert calls == []  # every run folder already holds its metrics.json
    for path in (tmp_path / "runs" / "kd-idd").glob("seed*/metrics.json"):
        path.unlink()
    doc = ablation.run_ablation([0, 1], out, tmp_path / "runs", ["train.iterations=7"], teacher, table_only=True)
    assert calls == [] and "kd-idd" not in [r["method"] for r in doc["rows"]]


def test_teacher_row_from_independent_teacher_runs(tmp_path, calls) -> None:
    teachers = tmp_path / "teachers"
    for seed in (0, 1):
        (teachers / f"seed{seed}").mkdir(parents=True)
        metrics = {m: {"mean": 50.0 + seed} for m in ablation.METRICS}
        (teachers / f"seed{seed}" / "metrics.json").write_text(json.dumps({"rows": [{"metrics": metrics}]}))
    args = ([0, 1], tmp_path / "t.json", tmp_path / "runs", ["train.iterations=7"], tmp_path / "teacher")
    doc = ablation.run_ablation(*args, table_only=True, teacher_runs=teachers)
    assert doc["rows"][0]["seeds"] == [0, 1] and doc["rows"][0]["metrics"]["NM@R1"]["values"] == [50.0, 51.0]
    (teachers / "seed1" / "metrics.json").unlink()
    with pytest.raises(ablation.GaitCompressError, match="seeds \\[1\\]"):
        ablation.run_ablation(*args, table_only=True, teacher_runs=teachers)
