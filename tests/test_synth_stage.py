"""`synth` stages end to end on a tiny on-disk dataset: train with the engine, resume, sample, judge."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gaitcompress.data import DataConfig, build_test_loader
from gaitcompress.data.batch import SeqMeta
from gaitcompress.errors import GaitCompressError
from gaitcompress.models import create_model
from gaitcompress.recipe import to_dict
from gaitcompress.synth.conditioning import Condition, LabelSpace
from gaitcompress.synth.judge import frechet_distance, label_sensitivity
from gaitcompress.synth.sample import SampleConfig, write_dataset
from gaitcompress.synth.stage import resolve_generator, run_synth_judge, run_synth_sample, run_synth_train


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """3 training ids, 1 test id, views 000/090, nm and cl; each id a box of its own width."""
    root = tmp_path_factory.mktemp("real")
    meta = [SeqMeta(i, t, v) for i in ("001", "002", "003", "004") for t in ("nm-01", "cl-01") for v in ("000", "090")]
    frames = np.zeros((len(meta), 6, 64, 64), np.uint8)
    for n, m in enumerate(meta):
        half = 3 + 2 * int(m.id) + (4 if m.view == "090" else 0)
        frames[n, :, 16:56, 32 - half : 32 + half] = 255
    write_dataset(root, frames, meta)
    (root / "partition.json").write_text(json.dumps({"TRAIN_SET": ["001", "002", "003"], "TEST_SET": ["004"]}))
    return root


def _recipe(real, tmp_path, **train):
    return {
        "name": "synth-test",
        "run_dir": str(tmp_path / "run"),
        "data": {"root": str(real), "input_size": [16, 11], "train_sampling": "fixed_ordered", "train_frames": 4,
                 "batch_p": 3, "batch_k": 1, "test_batch": 4},
        "generator": {"preset": "tiny", "diffusion": {"steps": 50, "sample_steps": 3}},
        "train": {"iterations": 3, "log_every": 1, "save_every": 2, "tensorboard": False, **train},
        "judge": {"recognizer": str(tmp_path / "rec.pt"), "per": 1, "judge": {"view_epochs": 2, "fd_dims": 2}},
    }  # fmt: skip


@pytest.fixture(scope="module")
def trained(real, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("synth")
    torch.manual_seed(0)
    rec = create_model("gaitbase_w0125", num_classes=3)
    torch.save({"model": rec.state_dict(), "spec": to_dict(rec.spec)}, tmp / "rec.pt")
    done = run_synth_train(_recipe(real, tmp))
    return tmp, done


def test_train_writes_checkpoint_preview_and_resumes(real, trained):
    tmp, done = trained
    run = tmp / "run"
    assert (run / "final.pt").is_file() and (run / "preview.png").is_file() and "eps_mse" in done["metrics"]
    again = run_synth_train(_recipe(real, tmp, iterations=4), resume=True)
    assert json.loads((run / "metrics.json").read_text())["rows"][0]["train"]["iterations"] == 4
    assert np.isfinite(again["metrics"]["eps_mse"])


def test_sampled_dataset_passes_the_data_reader(trained):
    tmp, _ = trained
    g = resolve_generator(tmp / "run")
    out = tmp / "gen"
    summary = run_synth_sample(g, SampleConfig(ids=("002",), types=("cl",), novel=1, seed=1, out=str(out)))
    assert summary["ids"] == ["002", "syn0000"] and summary["sequences"] == 4
    assert (out / "preview.png").is_file() and (out / "preview.gif").is_file()
    cfg = DataConfig(root=str(out), input_size=(16, 11))
    seqs = [(m, b.sils[i]) for b in build_test_loader(cfg, split="train") for i, m in enumerate(b.meta)]
    assert {m.id for m, _ in seqs} == {"002", "syn0000"} and {m.view for m, _ in seqs} == {"000", "090"}
    assert all(s.shape == (4, 16, 11) for _, s in seqs)


def test_sampling_a_dataset_is_deterministic_for_a_seed(trained):
    """Same generator, request and seed → byte-identical sequence files; another seed → other clips."""
    tmp, _ = trained
    g = resolve_generator(tmp / "run")
    files = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        run_synth_sample(g, SampleConfig(ids=("001",), types=("nm",), novel=1, seed=seed, out=str(tmp / name)))
        files[name] = {p.relative_to(tmp / name): p.read_bytes() for p in sorted((tmp / name).rglob("*.pkl"))}
    assert len(files["a"]) == 4 and files["a"] == files["b"]
    assert files["a"].keys() == files["c"].keys() and files["a"] != files["c"]


def test_judge_reports_a_row_per_generator_and_scale_plus_real_and_untrained(real, trained):
    tmp, _ = trained
    recipe = _recipe(real, tmp)
    recipe["judge"].update(scales=[0.0, 2.0], novel=2)
    g = resolve_generator(tmp / "run")
    doc = run_synth_judge(recipe, [("a", g), ("b", g)], out=tmp / "judge.json")["results"]
    assert [(r["method"], r.get("guidance")) for r in doc["rows"]] == [
        ("real", None), ("a", 0.0), ("a", 2.0), ("b", 0.0), ("b", 2.0), ("untrained", 1.0)
    ]  # fmt: skip
    sens = {"Δid", "Δview", "Δcov", "Δnoise", "novel@self", "novel@real"}
    for row in doc["rows"]:
        assert set(row["metrics"]) == {"id@R1", "FD", "view@acc"} | (set() if row["method"] == "real" else sens)
        assert all(0 <= m["mean"] <= 100 for k, m in row["metrics"].items() if k != "FD")
    assert doc["rows"][1]["metrics"] == doc["rows"][3]["metrics"]  # the same generator judges the same
    assert (tmp / "judge.md").is_file()


def test_resume_with_more_iterations_extends_the_lr_schedule(real, tmp_path):
    from gaitcompress.synth.stage import parse
    from gaitcompress.train.config import SchedConfig
    from gaitcompress.train.logging import read_log
    from gaitcompress.train.optim import LrFactor

    torch.manual_seed(0)
    rec = create_model("gaitbase_w0125", num_classes=3)
    torch.save({"model": rec.state_dict(), "spec": to_dict(rec.spec)}, tmp_path / "rec.pt")
    sched = {"name": "cosine", "warmup": 0, "min_lr_ratio": 0.1}
    run_synth_train({**_recipe(real, tmp_path, iterations=2), "sched": sched})
    run_synth_train({**_recipe(real, tmp_path, iterations=6), "sched": sched}, resume=True)
    lrs = {r["iteration"]: r["lr"] for r in read_log(tmp_path / "run") if "lr" in r}
    lr0 = parse(_recipe(real, tmp_path)).optim.lr
    factor = LrFactor(SchedConfig(**sched), 6)
    # the LR logged after iteration i is the schedule's value at step i, on the 6-iteration horizon
    for it in (3, 4, 5):
        assert lrs[it] == pytest.approx(lr0 * factor(it))
    assert lrs[3] > lr0 * 0.1 * 1.01  # not stuck at the 2-iteration horizon's floor


def _train_judged(real, tmp_path, iterations: int) -> None:
    """A generator run in tmp_path/run, judged every 2 iterations by an untrained recognizer (tmp_path/rec.pt)."""
    torch.manual_seed(0)
    rec = create_model("gaitbase_w0125", num_classes=3)
    torch.save({"model": rec.state_dict(), "spec": to_dict(rec.spec)}, tmp_path / "rec.pt")
    recipe = _recipe(real, tmp_path, iterations=iterations, eval_every=2)
    recipe["judge"]["curve"] = {"views": ["000"], "types": ["nm"], "steps": 2, "sensitivity_clips": 2}
    run_synth_train(recipe)


def test_learning_curve_starts_at_the_untrained_point_and_plots(real, tmp_path):
    from gaitcompress.synth.curve import run_synth_curve

    _train_judged(real, tmp_path, iterations=4)
    doc = run_synth_curve([tmp_path / "run"], tmp_path / "curve.json")
    assert [r["iteration"] for r in doc["rows"]] == [0, 2, 4]
    assert {"id@R1", "view@acc", "Δid", "Δnoise", "eps_mse"} <= set(doc["rows"][0]["metrics"])
    assert (tmp_path / "curve.png").stat().st_size > 1000 and (tmp_path / "curve.md").is_file()


def test_cli_curve_prints_a_table_per_run_at_80_columns(real, tmp_path):
    from typer.testing import CliRunner

    from gaitcompress.commands.synth import app

    _train_judged(real, tmp_path, iterations=2)
    result = CliRunner().invoke(app, ["curve", str(tmp_path / "run"), "--out", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    assert "run: judged learning curve" in result.output and "id@R1" in result.output
    table = [line for line in result.output.splitlines() if not line.startswith("plot: ")]  # a path may be long
    assert max(len(line) for line in table) <= 80


def test_novel_scores_tell_own_identity_from_collapse_onto_a_training_id():
    from gaitcompress.evaluation import Features
    from gaitcompress.synth.judge import Reference

    ref = Reference.__new__(Reference)  # only the gallery is needed: embed() is replaced below
    ref.gallery = Features(torch.tensor([[[0.0]], [[10.0]], [[20.0]], [[30.0]]]), [SeqMeta("001", "nm-01", "000")] * 4)
    meta = [SeqMeta(n, "nm-syn01", v) for n in ("syn0", "syn1") for v in ("000", "090")]
    own = torch.tensor([[[4.0]], [[4.1]], [[6.0]], [[6.1]]])  # each novel id its own tight cluster
    ref.embed = lambda clips, meta: Features(clips, list(meta))
    assert ref.novel_scores(own, meta) == {"novel@self": 100.0, "novel@real": 0.0}
    collapsed = torch.tensor([[[0.1]], [[20.1]], [[10.1]], [[30.1]]])  # each clip sits on a training sequence
    assert ref.novel_scores(collapsed, meta) == {"novel@self": 0.0, "novel@real": 100.0}


class _FakeGenerator:
    """`generate` returns the seed's noise, or (with `by_view`) a clip that is 1 exactly for the second view."""

    labels = LabelSpace(("a", "b", "c"), ("000", "090"), ("nm", "cl"))

    def __init__(self, by_view: bool) -> None:
        self.by_view = by_view

    def generate(self, cond, seed, guidance=1.0, steps=None):
        noise = torch.rand(len(cond), 2, 4, 3, generator=torch.Generator().manual_seed(seed))
        return (cond.view.float() - 1)[:, None, None, None].expand_as(noise) if self.by_view else noise


def test_label_sensitivity_separates_ignored_labels_from_used_ones():
    cond = Condition(torch.eye(3)[[0, 1, 2, 0]], torch.tensor([1, 2, 1, 2]), torch.tensor([1, 1, 2, 2]))
    blind = label_sensitivity(_FakeGenerator(by_view=False), cond, seed=0)
    assert blind["Δid"] == blind["Δview"] == blind["Δcov"] == 0 and blind["Δnoise"] > 20
    seeing = label_sensitivity(_FakeGenerator(by_view=True), cond, seed=0)
    assert seeing["Δview"] == 100 and seeing["Δid"] == seeing["Δcov"] == seeing["Δnoise"] == 0


def test_frechet_distance_is_zero_for_identical_sets_and_grows_with_shift():
    x = torch.randn(40, 8, 2, generator=torch.Generator().manual_seed(0))
    assert abs(frechet_distance(x, x, dims=4)) < 1e-6
    near = frechet_distance(x, x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1)), 4)
    far = frechet_distance(x, x + 2.0, 4)
    assert 0 <= near < far


def test_cli_sample_writes_a_dataset(trained):
    from typer.testing import CliRunner

    from gaitcompress.commands.synth import app

    tmp, _ = trained
    out = tmp / "cli"
    args = ["sample", str(tmp / "run"), "--ids", "001", "--views", "090", "--types", "nm", "--novel", "1"]
    result = CliRunner().invoke(app, [*args, "--steps", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "001" / "nm-syn01" / "090" / "090.pkl").is_file()
    assert json.loads((out / "synth_manifest.json").read_text())["novel"]["syn0000"]
    twin = CliRunner().invoke(app, [*args, "--steps", "2", "--untrained", "--out", str(tmp / "twin")])
    assert twin.exit_code == 0, twin.output
    assert (tmp / "twin" / "001" / "nm-syn01" / "090" / "090.pkl").read_bytes() != (
        out / "001" / "nm-syn01" / "090" / "090.pkl"
    ).read_bytes()


def test_augment_reads_back_finished_seeds_and_refuses_a_changed_recipe(tmp_path):
    """An arm is the harness's seed loop: a finished seed of the same recipe is read back, not retrained; one
    finished with another `data.max_train_seqs_per_id` is refused, naming the key."""
    import yaml

    from gaitcompress.errors import GaitCompressError
    from gaitcompress.results import make_results, summarize, write_results
    from gaitcompress.synth.stage import run_synth_augment

    arm = {"name": "arm", "method": "real-only", "run_dir": str(tmp_path / "arm"), "data": {"max_train_seqs_per_id": 3}}
    seed_dir = tmp_path / "arm" / "seed1"
    seed_dir.mkdir(parents=True)
    (seed_dir / "recipe.yaml").write_text(yaml.safe_dump({**arm, "seed": 1, "run_dir": str(seed_dir)}))
    row = {"method": "real-only", "label": "tiny", "metrics": {"CL@R1": summarize([12.5])}, "train": {"wall_s": 3.0}}
    write_results(make_results("arm", [row], {}), seed_dir / "metrics.json")
    doc = run_synth_augment({"real": arm}, [1])
    assert doc["rows"][0]["label"] == "real: tiny" and doc["rows"][0]["metrics"]["CL@R1"]["mean"] == 12.5
    with pytest.raises(GaitCompressError, match="data.max_train_seqs_per_id"):
        run_synth_augment({"real": {**arm, "data": {"max_train_seqs_per_id": 4}}}, [1])


def test_cli_judge_names_rows_by_run_and_checkpoint(real, trained):
    import yaml
    from typer.testing import CliRunner

    from gaitcompress.commands.synth import app

    tmp, _ = trained
    recipe = _recipe(real, tmp)
    recipe["judge"].update(scales=[1.0], judge={"view_epochs": 1, "fd_dims": 2, "sensitivity_clips": 2})
    (tmp / "judge.yaml").write_text(yaml.safe_dump(recipe))
    ckpt = sorted((tmp / "run" / "checkpoints").glob("ckpt_*.pt"))[0]
    args = ["judge", str(tmp / "judge.yaml"), "--generator", str(tmp / "run"), "--generator", str(ckpt)]
    result = CliRunner().invoke(app, [*args, "--no-baseline", "--out", str(tmp / "cli_judge.json")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp / "cli_judge.json").read_text())["rows"]
    iteration = int(ckpt.stem.split("_")[1])
    assert [r["method"] for r in rows] == ["real", "run", f"run@{iteration}"]


def test_identity_critic_trains_the_generator_and_stays_frozen(real, trained):
    """With critic.recognizer the log gains an 'identity' term; the critic's weights and BN stats stay put."""
    tmp, _ = trained
    torch.manual_seed(1)
    critic = create_model("gaitbase_w0125", num_classes=3)
    torch.save({"model": critic.state_dict(), "spec": to_dict(critic.spec)}, tmp / "critic.pt")
    before = {k: v.clone() for k, v in critic.state_dict().items()}
    recipe = _recipe(real, tmp)
    recipe["run_dir"] = str(tmp / "critic_run")
    recipe["critic"] = {"recognizer": str(tmp / "critic.pt"), "max_step": 50}
    run_synth_train(recipe)
    logged = [json.loads(line) for line in (tmp / "critic_run" / "log.jsonl").read_text().splitlines()]
    assert any("train/identity" in r or "identity" in r for r in logged)
    saved = torch.load(tmp / "critic.pt", weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in before.items())
    assert not any(k.startswith("critic") for k in torch.load(tmp / "critic_run" / "final.pt")["model"])


def test_identity_critic_may_not_be_the_judge(real, trained):
    tmp, _ = trained
    recipe = _recipe(real, tmp)
    recipe["run_dir"] = str(tmp / "same_run")
    recipe["critic"] = {"recognizer": str(tmp / "rec.pt")}
    with pytest.raises(GaitCompressError, match="same model"):
        run_synth_train(recipe)
