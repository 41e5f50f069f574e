"""Registry, recipe loading/validation and the results schema: the contracts every stage relies on."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gaitcompress.errors import GaitCompressError
from gaitcompress.recipe import apply_overrides, from_dict, load_recipe
from gaitcompress.registry import Registry
from gaitcompress.results import make_results, read_results, render_markdown, summarize, write_results


def test_registry_duplicates_unknown_and_kwargs():
    reg: Registry = Registry("widget")

    @reg.register("small")
    def small(width: int = 4, depth: int = 2):
        return (width, depth)

    with pytest.raises(ValueError, match="registered twice"):
        reg.register("small")(small)
    with pytest.raises(GaitCompressError, match="unknown widget 'smal'") as err:
        reg.get("smal")
    assert "small" in err.value.hint
    with pytest.raises(GaitCompressError, match="takes no argument 'widht'") as err:
        reg.build("small", widht=3)
    assert "width" in err.value.hint
    assert reg.build("small", width=None, depth=5) == (4, 5)  # None keeps the default
    assert reg.names("sm*") == ["small"]


@dataclasses.dataclass(frozen=True)
class _Optim:
    lr: float = 0.1
    milestones: tuple[int, ...] = (10,)


@dataclasses.dataclass(frozen=True)
class _Recipe:
    seed: int = 0
    optim: _Optim = dataclasses.field(default_factory=_Optim)
    name: str | None = None


def test_recipe_base_overrides_and_validation(tmp_path):
    (tmp_path / "base.yaml").write_text("seed: 1\noptim:\n  lr: 0.5\n  milestones: [1, 2]\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\noptim:\n  lr: 0.01\n")
    rec = load_recipe(tmp_path / "child.yaml", ["seed=3", "optim.milestones=[4, 5]"])
    rec.pop("source")
    cfg = from_dict(_Recipe, rec)
    assert cfg == _Recipe(seed=3, optim=_Optim(lr=0.01, milestones=(4, 5)))
    with pytest.raises(GaitCompressError, match=r"recipe\.optim: unknown key 'lrr'") as err:
        from_dict(_Recipe, apply_overrides(rec, ["optim.lrr=1"]))
    assert "'lr'" in err.value.hint
    with pytest.raises(GaitCompressError, match="expected int"):
        from_dict(_Recipe, {"seed": "abc"})


def test_recipe_rejects_nested_base_and_missing_file(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: c.yaml\n")
    with pytest.raises(GaitCompressError, match="may not have a base"):
        load_recipe(tmp_path / "a.yaml")
    with pytest.raises(GaitCompressError, match="recipe not found"):
        load_recipe(tmp_path / "missing.yaml")
    with pytest.raises(GaitCompressError, match="no '='"):
        apply_overrides({}, ["seed"])


def test_results_roundtrip(tmp_path):
    row = {
        "method": "teacher",
        "model": "gaitbase_w025",
        "bits": "fp32",
        "seeds": [0, 1],
        "metrics": {"NM@R1": summarize([90.0, 92.0])},
    }
    doc = make_results("t", [row], {"name": "synthgait", "seed": 0}, command="gaitcompress train x")
    path = write_results(doc, tmp_path / "t.json")
    back = read_results(path)
    assert back["rows"][0]["metrics"]["NM@R1"]["mean"] == pytest.approx(91.0)
    assert "91.00 ± 1.41" in (tmp_path / "t.md").read_text()
    assert "gaitcompress train x" in render_markdown(back) and "notes" not in back
    noted = make_results("t", [row], {"name": "synthgait"}, command="c", notes="The claim holds.")
    assert render_markdown(noted).index("The claim holds.") > render_markdown(noted).index("| teacher |")
    (tmp_path / "bad.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(GaitCompressError, match="schema"):
        read_results(tmp_path / "bad.json")
