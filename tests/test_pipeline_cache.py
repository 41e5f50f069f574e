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


def _pipeline(tmp_path, overrides=("train.iterations=7", "quant.preset=w4a4")):
    from gaitcompress.pipeline.run import PipelineRun

    (tmp_path / "t.yaml").write_text("name: t\ntrain: {iterations: 5}\n")
    (tmp_path / "s.yaml").write_text("name: s\nmethod: gaitkd\ntrain: {iterations: 5}\n")
    (tmp_path / "q.yaml").write_text("name: q\nmethod: qgait8\ntrain: {iterations: 5}\nquant: {checkpoint: x}\n")
    raw = {
        "source": str(tmp_path / "p.yaml"),
        "run_dir": str(tmp_path / "run"),
        "seed": 3,
        "overrides": list(overrides),
        "teacher": {"recipe": "t.yaml"},
        "student": {"recipe": "s.yaml"},
        "quantize": [{"recipe": "q.yaml"}],
    }
    return PipelineRun(raw, log=lambda _: None)


def test_stage_recipes_wiring_and_shared_overrides(tmp_path):
    run = _pipeline(tmp_path)
    teacher = run.stage_recipe(0, "teacher")
    assert teacher["train"]["iterations"] == 7 and "quant" not in teacher  # quant.* reaches QAT stages only
    assert teacher["seed"] == 3 and teacher["run_dir"] == str(tmp_path / "run" / "teacher")
    student = run.stage_recipe(1, "student", {"distill.teachers": [{"checkpoint": "t.pt", "name": None}]})
    assert student["distill"]["teachers"] == [{"checkpoint": "t.pt", "name": None}]  # a value, not YAML text
    quant = run.stage_recipe(2, "quant-qgait8", {"quant.checkpoint": "s.pt"})
    assert quant["quant"] == {"checkpoint": "s.pt", "preset": "w4a4"}
    assert run.stage_names() == ["teacher", "student", "quant-qgait8", "export-teacher", "export-student",
                                 "export-quant-qgait8", "export-deploy", "bench"]  # fmt: skip


def test_a_mistyped_pipeline_wide_section_is_an_error(tmp_path):
    import pytest

    from gaitcompress.errors import GaitCompressError

    with pytest.raises(GaitCompressError, match="no stage has a 'dat' section") as info:
        _pipeline(tmp_path, ["dat.root=/x"])
    assert "data" in info.value.hint
    _pipeline(tmp_path, ["data.root=/x", "distill.terms=[]"])  # sections that some stage has are fine


def test_an_unknown_deployment_reference_model_fails_before_any_training(tmp_path):
    import pytest

    from gaitcompress.errors import GaitCompressError
    from gaitcompress.pipeline.config import BenchSection, PipelineRecipe, StageRef

    recipe = PipelineRecipe(teacher=StageRef(recipe="t.yaml"), bench=BenchSection(deploy_reference="gaitbse"))
    with pytest.raises(GaitCompressError, match="bench.deploy_reference=gaitbse is not a registered model") as info:
        recipe.check()
    assert "gaitbase" in info.value.hint
    PipelineRecipe(teacher=StageRef(recipe="t.yaml"), bench=BenchSection(deploy_reference=None)).check()


def test_missing_outputs_and_redo_rerun_a_stage(tmp_path):
    run = _pipeline(tmp_path)
    calls = []

    def fn(folder, resume):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "final.pt").write_text("x")
        calls.append(folder.name)
        return {"checkpoint": str(folder / "final.pt")}

    run.stage("teacher", {"a": 1}, [], fn)
    run.stage("teacher", {"a": 1}, [], fn)
    assert calls == ["teacher"]  # up to date
    (tmp_path / "run" / "teacher" / "final.pt").unlink()
    run.stage("teacher", {"a": 1}, [], fn)
    assert calls == ["teacher", "teacher"]  # its checkpoint was gone: not up to date
    run.redo = "teacher"
    run.stage("teacher", {"a": 1}, [], fn)
    run.stage("student", {"b": 1}, ["teacher"], fn)
    assert calls == ["teacher"] * 3 + ["student"]  # redo: this stage and every one after it
