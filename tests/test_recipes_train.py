"""The training recipes: every one validates, OpenGait's GaitBase settings are mirrored, typos fail loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaitcompress.errors import GaitCompressError
from gaitcompress.models import create_model, list_models
from gaitcompress.models.cost import model_cost
from gaitcompress.recipe import load_recipe
from gaitcompress.train.config import parse_recipe
from gaitcompress.train.losses import LossSet

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TRAIN_RECIPES = [
    "synthgait/base.yaml",
    "synthgait/teacher_quick.yaml",
    "synthgait/student_quick.yaml",
    "synthgait/teacher_full.yaml",
    "casiab/gaitbase.yaml",
    "gait3d/gaitbase.yaml",
    "grew/gaitbase.yaml",
    "oumvlp/gaitbase.yaml",
]


@pytest.mark.parametrize("name", TRAIN_RECIPES)
def test_recipe_validates(name):
    cfg = parse_recipe(load_recipe(RECIPES / name))
    assert cfg.model.name in list_models()
    LossSet.from_config(cfg.loss)
    assert not cfg.sched.milestones or cfg.sched.milestones[-1] < cfg.train.iterations
    assert cfg.source.endswith(name)


# OpenGait configs/gaitbase/*.yaml: iterations, milestones, P×K, frames (fixed or unfixed range), lr, augmentation
OPENGAIT = {
    "casiab": (60000, (20000, 40000, 50000), (8, 16), "fixed_unordered", 30, {"rotate": 0.3, "erasing": 0.3}),
    "gait3d": (60000, (20000, 40000, 50000), (32, 4), "unfixed", (10, 50), {"perspective": 0.2, "flip": 0.2}),
    "grew": (180000, (80000, 120000, 150000), (32, 4), "unfixed", (20, 40), {"perspective": 0.2, "flip": 0.2}),
    "oumvlp": (120000, (60000, 80000, 100000), (32, 8), "fixed_unordered", 30, {}),
}


@pytest.mark.parametrize("dataset", sorted(OPENGAIT))
def test_gaitbase_recipes_mirror_opengait(dataset):
    iterations, milestones, pk, sampling, frames, augment = OPENGAIT[dataset]
    cfg = parse_recipe(load_recipe(RECIPES / dataset / "gaitbase.yaml"))
    assert (cfg.train.iterations, cfg.sched.milestones, cfg.sched.gamma) == (iterations, milestones, 0.1)
    assert (cfg.data.batch_p, cfg.data.batch_k) == pk and cfg.data.train_sampling == sampling
    assert (cfg.data.frames_range if sampling == "unfixed" else cfg.data.train_frames) == frames
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay) == ("sgd", 0.1, 0.9, 5e-4)
    assert cfg.model.name == "gaitbase" and cfg.data.input_size == (64, 44) and cfg.train.amp
    assert all(getattr(cfg.data.augment, k) == p for k, p in augment.items())
    assert cfg.data.protocol == dataset and cfg.eval.metric == "euc"


def test_quick_setting_matches_the_cpu_budget():
    """DESIGN §13: 32×22 inputs, 16 frames, 8×4 batches, a few hundred iterations; student ≈ ¼ teacher MACs."""
    teacher = parse_recipe(load_recipe(RECIPES / "synthgait/teacher_quick.yaml"))
    student = parse_recipe(load_recipe(RECIPES / "synthgait/student_quick.yaml"))
    for cfg in (teacher, student):
        assert cfg.data.input_size == (32, 22) and cfg.data.train_frames == 16
        assert (cfg.data.batch_p, cfg.data.batch_k) == (8, 4) and 100 <= cfg.train.iterations <= 1000
    size, frames = teacher.data.input_size, teacher.data.train_frames
    t_macs = model_cost(create_model(teacher.model.name, 30, **teacher.model.kwargs), frames, size).macs
    s_macs = model_cost(create_model(student.model.name, 30, **student.model.kwargs), frames, size).macs
    # width² scaling gives exactly ¼, except the 1-channel stem conv, which scales with width: 25.13% here
    assert s_macs <= 0.2515 * t_macs


@pytest.mark.parametrize(
    ("override", "message", "hint"),
    [
        ("train.iteratons=5", "unknown key 'iteratons'", "iterations"),
        ("optim.momentun=0.5", "unknown key 'momentun'", "momentum"),
        ("sede=1", "unknown key 'sede'", "seed"),
        ("data.batch_pp=4", "unknown key 'batch_pp'", "batch_p"),
        ("optim.name=sgdd", "unknown value 'sgdd'", "sgd"),
        ("sched.name=cosin", "unknown value 'cosin'", "cosine"),
    ],
)
def test_a_typo_names_the_key_the_nearest_one_and_the_file(override, message, hint):
    recipe = load_recipe(RECIPES / "synthgait/teacher_quick.yaml", [override])
    with pytest.raises(GaitCompressError) as err:
        parse_recipe(recipe)
    assert message in err.value.message and "teacher_quick.yaml" in err.value.message
    assert hint in err.value.hint


def test_overrides_reach_the_dataclasses():
    recipe = load_recipe(RECIPES / "synthgait/teacher_quick.yaml", ["seed=3", "train.iterations=7", "optim.name=adamw"])
    cfg = parse_recipe(recipe)
    assert (cfg.seed, cfg.train.iterations, cfg.optim.name, cfg.model.name) == (3, 7, "adamw", "gaitbase_w025")
