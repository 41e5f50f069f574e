"""Pipeline stage cache: skip finished stages, resume interrupted ones, re-run changed ones."""

from __future__ import annotations

from gaitcompress.pipeline.cache import StageCache, stage_key


def test_keys_chain_and_change():
    a = stage_key({"iterations": 10})
    assert a == stage_key({"iterations": 10})
    assert a != stage_key({"iterations": 11})
    assert stage_key({"x": 1}, [a]) != stage_key({"x": 1}, [stage_key({"iterations": 11})])


def test_skip_resume_and_rerun(tmp_path):
    cache = StageCache(tmp_path)
    key = stage_key({"it": 1})
    folder, resume = cache.begin("teacher", key)
    assert not resume
    folder.mkdir()
    (folder / "ckpt").write_text("partial")
    # interrupted here: a new process sees a running stage with the same key → resume in place
    cache = StageCache(tmp_path)
    assert cache.done("teacher", key) is None
    folder, resume = cache.begin("teacher", key)
    assert resume and (folder / "ckpt").read_text() == "partial"
    cache.finish("teacher", key, {"checkpoint": str(folder / "ckpt")})
    assert StageCache(tmp_path).done("teacher", key) == {"checkpoint": str(folder / "ckpt")}
    # the recipe changed: old outputs moved aside, not deleted, and the stage starts fresh
    new_key = stage_key({"it": 2})
    cache = StageCache(tmp_path)
    assert cache.done("teacher", new_key) is None
    folder, resume = cache.begin("teacher", new_key)
    assert not resume and not folder.exists()
    assert (tmp_path / f"teacher.stale-{key}" / "ckpt").is_file()


def test_stage_recipes_wiring_and_shared_overrides(tmp_path):
    from gaitcompress.pipeline.config import StageRef
    from gaitcompress.pipeline.run import PipelineRun

    (tmp_path / "t.yaml").write_text("name: t\ntrain: {iterations: 5}\n")
    (tmp_path / "q.yaml").write_text("name: q\nmethod: qgait8\ntrain: {iterations: 5}\nquant: {checkpoint: x}\n")
    raw = {
        "source": str(tmp_path / "p.yaml"),
        "run_dir": str(tmp_path / "run"),
        "seed": 3,
        "overrides": ["train.iterations=7", "quant.preset=w4a4"],
        "teacher": {"recipe": "t.yaml"},
    }
    run = PipelineRun(raw, log=lambda _: None)
    teacher = run.stage_recipe(run.cfg.teacher, "teacher", [])
    assert teacher["train"]["iterations"] == 7 and "quant" not in teacher  # quant.* reaches QAT stages only
    assert teacher["seed"] == 3 and teacher["run_dir"] == str(tmp_path / "run" / "teacher")
    quant = run.stage_recipe(StageRef(recipe="q.yaml"), "quant-qgait8", ["quant.checkpoint=s.pt"])
    assert quant["quant"] == {"checkpoint": "s.pt", "preset": "w4a4"}
