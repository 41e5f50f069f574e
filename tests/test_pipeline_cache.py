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
