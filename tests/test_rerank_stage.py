import json

import pytest
import torch

from gaitcompress.checkpoints import atomic_save
from gaitcompress.errors import GaitCompressError
from gaitcompress.recipe import to_dict
from gaitcompress.rerank.config import RerankRecipe, parse_rerank_recipe
from gaitcompress.rerank.head import CarGaitHead
from gaitcompress.rerank.stage import combine_runs, load_head, seed_runs, trained_heads
from gaitcompress.results import make_results, summarize, write_results


def _save_head(path, seed):
    torch.manual_seed(seed)
    head = CarGaitHead(8, 4, heads=2)
    torch.nn.init.normal_(head.attn.out_proj.weight)
    atomic_save({"model": head.state_dict(), "spec": to_dict(head.spec), "kind": "rerank", "iteration": 1}, path)
    return head


def test_trained_heads_per_seed_folder(tmp_path):
    saved = {s: _save_head(tmp_path / f"seed{s}" / "final.pt", s) for s in (2, 0, 10)}
    heads = trained_heads(tmp_path)
    assert list(heads) == [0, 2, 10]
    x, y = torch.rand(3, 4, 8), torch.rand(3, 4, 8)
    for s, head in heads.items():
        torch.testing.assert_close(head(x, y), saved[s].eval()(x, y))
    atomic_save({"model": {}, "kind": "fp32"}, tmp_path / "other.pt")
    with pytest.raises(GaitCompressError, match="not a CarGait head"):
        load_head(tmp_path / "other.pt")


def test_seed_runs_and_recipe_validation():
    cfg = parse_rerank_recipe({"model": "runs/x/final.pt", "run_dir": "runs/r"})
    assert [r.run_dir for r in seed_runs(cfg, [0, 1])] == ["runs/r/seed0", "runs/r/seed1"]
    assert seed_runs(cfg, [3])[0].run_dir == "runs/r" and seed_runs(cfg, [3])[0].seed == 3
    assert cfg.optim.name == "adam" and cfg.rerank.k == 10 and cfg.pairs.top_v == 30
    with pytest.raises(GaitCompressError, match="model"):
        parse_rerank_recipe({})
    with pytest.raises(GaitCompressError, match="unknown key"):
        parse_rerank_recipe({"model": "m", "head": {"heds": 2}})
    assert RerankRecipe().loss.beta == 0.1 and RerankRecipe().loss.alpha == 0.01


def test_combine_runs_attaches_cost(tmp_path):
    for name in ("teacher", "student"):
        rows = [
            {"method": m, "label": f"{name} + {m}", "model": name, "bits": "fp32", "seeds": [],
             "metrics": {"R1": summarize([50.0])}}
            for m in ("rerank-none", "rerank-kreciprocal", "rerank-cargait")
        ]  # fmt: skip
        write_results(make_results(name, rows, {"name": "synthgait"}, command="x"), tmp_path / name / "metrics.json")
    cost = {
        "ms_per_probe": {"first-stage": 1.0, "cargait": 2.0},
        "ratio_to_first_stage": {"first-stage": 1.0, "cargait": 2.0},
    }
    (tmp_path / "teacher" / "cost.json").write_text(json.dumps(cost))
    doc = combine_runs([tmp_path / "teacher", tmp_path / "student"], "table")
    assert [r["label"] for r in doc["rows"]][::3] == ["teacher + rerank-none", "student + rerank-none"]
    assert doc["rows"][2]["latency"]["p50_ms"] == 2.0 and doc["rows"][2]["latency"]["ratio_to"] == {"first-stage": 2.0}
    assert "latency" not in doc["rows"][1] and "latency" not in doc["rows"][5]


def test_reranker_from_names_a_baseline_or_a_head(tmp_path):
    from gaitcompress.rerank import CarGaitReranker, KReciprocalReranker, reranker_from

    assert isinstance(reranker_from("kreciprocal"), KReciprocalReranker)
    _save_head(tmp_path / "seed0" / "final.pt", 0)
    assert isinstance(reranker_from(str(tmp_path), k=5), CarGaitReranker)
    assert reranker_from(str(tmp_path / "seed0" / "final.pt")).k == 10


def test_eval_cli_rerank_option(runner, tmp_path):
    """`gaitcompress eval ... --rerank HEAD`: an untrained head on the embeddings keeps every metric; k-reciprocal
    runs through the same option."""
    from gaitcompress.cli import app
    from gaitcompress.models import load_checkpoint
    from gaitcompress.results import read_results
    from tests.test_cli_train import ROOT, TINY

    recipe, run_dir = str(ROOT / "recipes/synthgait/student_quick.yaml"), tmp_path / "run"
    assert runner.invoke(app, ["train", recipe, *TINY, f"run_dir={run_dir}"]).exit_code == 0
    with torch.no_grad():
        emb = load_checkpoint(run_dir / "final.pt").eval()(torch.zeros(1, 6, 16, 11))["embeddings"]  # [1, E, P]
    head = CarGaitHead(emb.shape[1], emb.shape[2], heads=1, features="embeddings")
    atomic_save({"model": head.state_dict(), "spec": to_dict(head.spec), "kind": "rerank"}, tmp_path / "head.pt")
    torch.manual_seed(0)
    torch.nn.init.normal_(head.attn.out_proj.weight, std=5.0)  # a head that does re-order
    atomic_save({"model": head.state_dict(), "spec": to_dict(head.spec), "kind": "rerank"}, tmp_path / "moved.pt")
    metrics = {}
    for name, extra in (
        ("none", []),
        ("head", ["--rerank", str(tmp_path / "head.pt")]),
        ("moved", ["--rerank", str(tmp_path / "moved.pt")]),
        ("kr", ["--rerank", "kreciprocal"]),
    ):
        out = tmp_path / f"{name}.json"
        result = runner.invoke(app, ["eval", recipe, "--checkpoint", str(run_dir), *TINY, "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        metrics[name] = {k: v["mean"] for k, v in read_results(out)["rows"][0]["metrics"].items()}
    assert metrics["head"] == pytest.approx(metrics["none"])
    assert metrics["moved"] != metrics["none"] and set(metrics["kr"]) == set(metrics["none"])


def test_rerank_train_runs_in_the_harness_life_cycle(runner, tmp_path, capsys):
    """`gaitcompress rerank train`: one head per seed and the three-row table; a second run on the same folder is
    refused (naming --resume), --resume reads the finished heads back, `rerank eval` scores them."""
    from gaitcompress.cli import app
    from gaitcompress.results import read_results
    from tests.test_cli_train import ROOT, TINY
    from tests.test_harness import cli

    model, run_dir = tmp_path / "model", tmp_path / "rerank"
    train = ["train", str(ROOT / "recipes/synthgait/student_quick.yaml"), *TINY, f"run_dir={model}"]
    assert runner.invoke(app, train).exit_code == 0
    recipe = str(ROOT / "recipes/synthgait/rerank_student.yaml")
    args = [recipe, f"model={model}", f"run_dir={run_dir}", "train.iterations=2", "pairs.top_v=4", "rerank.k=3",
            "head.heads=1", "--seeds", "0,1"]  # fmt: skip
    result = runner.invoke(app, ["rerank", "train", *args])
    assert result.exit_code == 0, result.output
    doc = read_results(run_dir / "metrics.json")
    assert [r["method"] for r in doc["rows"]] == ["rerank-none", "rerank-kreciprocal", "rerank-cargait"]
    assert doc["rows"][2]["seeds"] == [0, 1]
    assert all((run_dir / f"seed{s}" / "final.pt").is_file() for s in (0, 1)) and (run_dir / "recipe.yaml").is_file()
    code, err = cli(capsys, "rerank", "train", *args)
    assert code == 1 and "already holds checkpoints" in err and "--resume" in err
    resumed = runner.invoke(app, ["rerank", "train", *args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert read_results(run_dir / "metrics.json")["rows"][2]["metrics"] == doc["rows"][2]["metrics"]
    evaluated = runner.invoke(app, ["rerank", "eval", *args[:-2]])
    assert evaluated.exit_code == 0, evaluated.output
    assert read_results(run_dir / "metrics.json")["rows"][2]["metrics"] == doc["rows"][2]["metrics"]
