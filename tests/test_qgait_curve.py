"""The learning-curve driver's reading of engine logs and its flat-budget rule (measured, or extrapolated)."""

from __future__ import annotations

import json

from gaitlab.qgait_curve import eval_points, flat_budget


def pts(values, step=100):
    return [{"iteration": step * (i + 1), "mean@R1": v} for i, v in enumerate(values)]


def test_eval_points_keep_the_last_evaluation_per_iteration(tmp_path):
    log = tmp_path / "log.jsonl"
    rows = [
        {"iteration": 10, "loss": 1.0},
        {"iteration": 10, "mean@R1": 40.0},
        {"iteration": 20, "mean@R1": 41.0},
        {"iteration": 20, "mean@R1": 41.5},
    ]  # fmt: skip  (a resumed run re-evaluates its end)
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [(p["iteration"], p["mean@R1"]) for p in eval_points(log, offset=100)] == [(110, 40.0), (120, 41.5)]
    assert eval_points(tmp_path / "missing.jsonl") == []


def test_flat_at_the_first_step_that_gains_less_than_the_spread():
    got = flat_budget(pts([40.0, 42.0, 43.0, 43.2, 43.9]), spread=0.5)
    assert got["measured"] and got["budget"] == 300  # 300 → 400 gains 0.2 (a later noisy +0.7 does not undo it)


def test_not_flat_extrapolates_the_geometric_decay_of_the_gains():
    got = flat_budget(pts([40.0, 44.0, 46.0]), spread=0.6)  # gains 4, 2: ratio 0.5 → next 1 (300→400), 0.5 (400→)
    assert not got["measured"] and got["ratio"] == 0.5 and got["budget"] == 400
    assert abs(got["extra_gain"] - 2.0) < 1e-9  # 1 + 0.5 + 0.25 + … = 2 points still to gain
    assert flat_budget(pts([40.0, 41.0, 43.0]), spread=0.5)["budget"] is None  # gains growing: no extrapolation
