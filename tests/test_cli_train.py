"""`gaitcompress train` / `eval` end to end on a tiny generated SynthGait set, and their error lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.cli import app
from gaitcompress.results import read_results

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "data.synth.ids=6", "data.synth.train=4", "data.synth.frames=8", "data.synth.views=[0,90]",
    "data.input_size=[16,11]", "data.train_frames=6", "data.batch_p=2", "data.batch_k=2",
    "train.iterations=3", "train.save_every=2", "train.tensorboard=false", "sched.milestones=[2]",
]  # fmt: skip


def test_train_then_eval_then_resume(runner, tmp_path):
    recipe = str(ROOT / "recipes/synthgait/student_quick.yaml")
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", recipe, *TINY, f"run_dir={run_dir}"])
    assert result.exit_code == 0, result.output
    assert "NM@R1" in result.output and "CL@R1" in result.output

    doc = read_results(run_dir / "metrics.json")  # DESIGN §15 schema
    row = doc["rows"][0]
    assert doc["name"] == "student-synthgait" and row["method"] == "student" and row["model"] == "gaitbase_w0125"
    assert doc["dataset"]["input"] == [16, 11] and doc["dataset"]["ids"] == [4, 2]
    assert {"NM@R1", "BG@R1", "CL@R1", "mean@R1", "mAP"} <= set(row["metrics"])
    assert all(0 <= m["mean"] <= 100 for m in row["metrics"].values())
    assert (run_dir / "recipe.yaml").is_file() and (run_dir / "metrics.md").is_file()
    assert ckpt_io.load(run_dir / "final.pt")["iteration"] == 3
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert {"loss", "triplet", "ce", "lr", "it_s"} <= set(rows[0])

    # eval of the saved checkpoint reproduces the training run's final evaluation
    result = runner.invoke(
        app, ["eval", recipe, "--checkpoint", str(run_dir), *TINY, "--out", str(tmp_path / "e.json")]
    )
    assert result.exit_code == 0, result.output
    again = read_results(tmp_path / "e.json")["rows"][0]["metrics"]
    assert {k: v["mean"] for k, v in again.items()} == pytest.approx({k: v["mean"] for k, v in row["metrics"].items()})

    # --resume on a finished run trains no further and keeps the same weights
    before = ckpt_io.load(run_dir / "final.pt")["model"]
    result = runner.invoke(app, ["train", recipe, *TINY, f"run_dir={run_dir}", "--resume"])
    assert result.exit_code == 0, result.output
    after = ckpt_io.load(run_dir / "final.pt")
    assert after["iteration"] == 3 and all((before[k] == after["model"][k]).all() for k in before)


def test_a_recipe_typo_is_one_red_line_with_the_nearest_key():
    cmd = [
        sys.executable,
        "-m",
        "gaitcompress.cli",
        "train",
        "recipes/synthgait/teacher_quick.yaml",
        "train.iteratons=5",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "unknown key 'iteratons'" in proc.stderr and "did you mean 'iterations'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_eval_without_a_checkpoint_is_a_clear_error(runner, tmp_path):
    recipe = str(ROOT / "recipes/synthgait/student_quick.yaml")
    result = runner.invoke(app, ["eval", recipe, "--checkpoint", str(tmp_path / "nothing")])
    assert result.exit_code != 0
    assert "no checkpoint at" in str(result.exception)


def test_resume_on_generated_data_matches_an_uninterrupted_run(runner, tmp_path):
    """2 iterations + resume to 4 = 4 straight, with the real loader (resumed by its `start` batch)."""
    from gaitcompress.recipe import load_recipe
    from gaitcompress.train.stage import run_train

    recipe = load_recipe(ROOT / "recipes/synthgait/student_quick.yaml", [*TINY, "train.save_every=0"])
    four = {**recipe, "train": {**recipe["train"], "iterations": 4}}
    two = {**recipe, "train": {**recipe["train"], "iterations": 2}}
    run_train({**four, "run_dir": str(tmp_path / "straight")})
    run_train({**two, "run_dir": str(tmp_path / "split")})
    run_train({**four, "run_dir": str(tmp_path / "split")}, resume=True)
    a = ckpt_io.load(tmp_path / "straight" / "final.pt")
    b = ckpt_io.load(tmp_path / "split" / "final.pt")
    assert a["iteration"] == b["iteration"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(a["optimizer"]["state"][k]["momentum_buffer"], v["momentum_buffer"])
               for k, v in b["optimizer"]["state"].items())  # fmt: skip
