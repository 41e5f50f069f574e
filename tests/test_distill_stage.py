"""`gaitcompress distill` end to end on a tiny SynthGait set: teacher → distilled student → a plain model file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.cli import app
from gaitcompress.distill.config import DistillRecipe
from gaitcompress.errors import GaitCompressError
from gaitcompress.models import create_model
from gaitcompress.models.cost import model_cost
from gaitcompress.models.weights import load_checkpoint
from gaitcompress.recipe import from_dict, load_recipe
from gaitcompress.results import read_results

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "data.synth.ids=6", "data.synth.train=4", "data.synth.frames=8", "data.synth.views=[0,90]",
    "data.input_size=[16,11]", "data.train_frames=6", "data.batch_p=2", "data.batch_k=2",
    "train.iterations=2", "train.tensorboard=false", "sched.milestones=[1]",
]  # fmt: skip
RECIPES = sorted((ROOT / "recipes").glob("*/distill_*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_distill_recipe_validates(path: Path) -> None:
    cfg = from_dict(DistillRecipe, load_recipe(path), str(path))
    assert cfg.distill.teachers and cfg.distill.terms


def test_distilled_student_is_a_plain_model_of_its_family(runner, tmp_path) -> None:
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    teacher = runner.invoke(app, ["train", str(ROOT / "recipes/synthgait/teacher_quick.yaml"), *TINY,
                                  f"run_dir={teacher_dir}"])  # fmt: skip
    assert teacher.exit_code == 0, teacher.output
    recipe = str(ROOT / "recipes/synthgait/distill_gaitkd.yaml")
    result = runner.invoke(
        app, ["distill", recipe, *TINY, f"run_dir={student_dir}", f"distill.teachers=[{{checkpoint: {teacher_dir}}}]"]
    )
    assert result.exit_code == 0, result.output
    row = read_results(student_dir / "metrics.json")["rows"][0]
    assert row["method"] == "gaitkd" and {"NM@R1", "BG@R1", "CL@R1", "mAP"} <= set(row["metrics"])

    ckpt = ckpt_io.load(student_dir / "final.pt")
    plain = create_model("gaitbase_w0125", num_classes=4)
    assert ckpt["model"].keys() == plain.state_dict().keys()  # no connector, no teacher
    assert any(k.startswith("terms.") for k in ckpt["train_state"])  # the connectors live in train_state only
    assert not any("teacher" in k for k in ckpt["train_state"])
    student = load_checkpoint(student_dir / "final.pt")
    assert type(student) is type(plain) and student.spec.name == "gaitbase_w0125"
    assert model_cost(student, 6, (16, 11)).macs == model_cost(plain, 6, (16, 11)).macs
    with torch.no_grad():
        out = student(torch.zeros(1, 6, 16, 11))
    assert out["embeddings"].shape == (1, 32, 16)


def test_missing_teacher_is_one_line_with_a_hint(runner, tmp_path) -> None:
    recipe = str(ROOT / "recipes/synthgait/distill_logit.yaml")
    result = runner.invoke(
        app, ["distill", recipe, *TINY, f"run_dir={tmp_path}", f"distill.teachers=[{{checkpoint: {tmp_path / 'no'}}}]"]
    )
    assert isinstance(result.exception, GaitCompressError)  # the CLI's main() prints it as one red line
    assert "no checkpoint" in str(result.exception) and "teacher_quick" in str(result.exception)
