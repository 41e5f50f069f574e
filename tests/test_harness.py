"""The run life cycle through the CLI: one process per run folder, resume rules, Ctrl-C, full and read-only disks,
non-finite numbers (weights refused by eval/export, a NaN loss marks later checkpoints untrusted)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.cli import main
from gaitcompress.errors import GaitCompressError
from tests.test_cli_train import ROOT, TINY

RECIPE = str(ROOT / "recipes/synthgait/student_quick.yaml")


def cli(capsys, *args: str) -> tuple[int, str]:
    """Run `gaitcompress ARGS` in-process through `main` (the real error printing); returns (exit code, stderr)."""
    old = sys.argv
    sys.argv = ["gaitcompress", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(runner, tmp_path_factory) -> Path:
    """A finished 3-iteration run (checkpoints at 2 and 3, final.pt) on the tiny SynthGait set."""
    from gaitcompress.cli import app

    run_dir = tmp_path_factory.mktemp("trained") / "run"
    result = runner.invoke(app, ["train", RECIPE, *TINY, f"run_dir={run_dir}"])
    assert result.exit_code == 0, result.output
    return run_dir


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def test_a_second_process_on_one_run_folder_is_refused_and_a_dead_ones_lock_taken_over(trained, tmp_path, capsys):
    run_dir = _copy(trained, tmp_path)
    hold = "import sys, time; from gaitcompress.harness import RunLock\nwith RunLock(sys.argv[1]):\n"
    hold += "    print('locked', flush=True); time.sleep(60)\n"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, err = cli(capsys, "train", RECIPE, *TINY, f"run_dir={run_dir}", "--resume")
        assert code == 1 and f"in use by pid {holder.pid}" in err and os.uname().nodename in err
    finally:
        holder.kill()  # SIGKILL: the lock file stays behind, naming a dead pid
        holder.wait()
    assert (run_dir / ".lock").is_file()
    code, err = cli(capsys, "train", RECIPE, *TINY, f"run_dir={run_dir}", "--resume")
    assert code == 0, err
    assert f"pid {holder.pid}" in err and "took over" in err and not (run_dir / ".lock").exists()


def test_resume_with_a_changed_lr_is_refused_naming_the_key(trained, tmp_path, capsys):
    run_dir = _copy(trained, tmp_path)
    before = (run_dir / "recipe.yaml").read_text()
    code, err = cli(capsys, "train", RECIPE, *TINY, f"run_dir={run_dir}", "--resume", "optim.lr=0.5")
    assert code == 1 and "optim.lr" in err and "--restart" in err and "Traceback" not in err
    assert (run_dir / "recipe.yaml").read_text() == before  # nothing rewritten
    code, err = cli(capsys, "train", RECIPE, *TINY, f"run_dir={run_dir}", "--resume", "train.iterations=4")
    assert code == 0, err  # training longer is what --resume is for
    assert "resumed from" in err and "iteration 3 of 4" in err


def test_a_rerun_without_resume_is_refused_and_restart_starts_over(trained, tmp_path, capsys):
    run_dir = _copy(trained, tmp_path)
    code, err = cli(capsys, "train", RECIPE, *TINY, f"run_dir={run_dir}")
    assert code == 1 and "already holds checkpoints" in err and "--resume" in err
    code, err = cli(capsys, "train", RECIPE, *TINY, f"run_dir={run_dir}", "--restart", "optim.lr=0.05")
    assert code == 0, err
    assert yaml.safe_load((run_dir / "recipe.yaml").read_text())["optim"]["lr"] == 0.05


def test_an_unreadable_newest_checkpoint_is_skipped_with_a_warning(trained, tmp_path, capsys):
    run_dir = _copy(trained, tmp_path)
    (run_dir / "checkpoints" / "ckpt_000003.pt").write_bytes(b"truncated")
    (run_dir / "final.pt").unlink()
    code, err = cli(capsys, "train", RECIPE, *TINY, f"run_dir={run_dir}", "--resume")
    assert code == 0, err
    assert "skipped unreadable checkpoint ckpt_000003.pt" in err and "iteration 2 of 3" in err
    for ckpt in (run_dir / "checkpoints").glob("ckpt_*.pt"):
        ckpt.write_bytes(b"truncated")
    (run_dir / "final.pt").unlink()
    code, err = cli(capsys, "train", RECIPE, *TINY, f"run_dir={run_dir}", "--resume")
    assert code == 1 and "no readable checkpoint" in err  # never a silent start from iteration 0


def _stop_a_training_run(run_dir: Path, signum: int) -> tuple[int, str]:
    """Start `train` in a subprocess, send `signum` once it has written a checkpoint; its exit code and stderr."""
    args = [*TINY, "train.iterations=100000", "train.save_every=1", f"run_dir={run_dir}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gaitcompress.cli", "train", RECIPE, *args],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        # a CI launched in the background inherits SIGINT ignored, and Python then installs no Ctrl-C handler
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.time() + 90
    while not list((run_dir / "checkpoints").glob("ckpt_*.pt")) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_ctrl_c_prints_what_was_saved_and_the_resume_command(runner, tmp_path):
    run_dir = tmp_path / "run"
    code, err = _stop_a_training_run(run_dir, signal.SIGINT)
    assert code == 130, err
    assert "interrupted: saved" in err and "ckpt_" in err
    assert f"resume with: gaitcompress train {RECIPE}" in err and "--resume" in err and "Traceback" not in err
    assert not (run_dir / ".lock").exists()


def test_sigterm_ends_a_run_like_ctrl_c(runner, tmp_path):
    # a scheduler's stop, `kill`, a cancelled CI job: what was saved and how to resume, no traceback, lock released
    run_dir = tmp_path / "run"
    code, err = _stop_a_training_run(run_dir, signal.SIGTERM)
    assert code == 130, err
    assert "interrupted: saved" in err and "--resume" in err and "Traceback" not in err
    assert not (run_dir / ".lock").exists()
    newest = (run_dir / "checkpoints" / "latest").read_text().strip()
    assert torch.load(run_dir / "checkpoints" / newest, weights_only=True)["iteration"] > 0


def test_a_ctrl_c_inside_torch_save_is_raised_after_the_checkpoint_is_complete(tmp_path, monkeypatch):
    # torch.save swallows a KeyboardInterrupt raised in its file callback and then fails with "unexpected pos":
    # the interrupt must wait for the write, and the file must be whole
    real_save = torch.save

    def save_interrupted(obj, f):
        os.kill(os.getpid(), signal.SIGINT)  # delivered while torch.save is still writing
        real_save(obj, f)

    monkeypatch.setattr(torch, "save", save_interrupted)
    target = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        ckpt_io.atomic_save({"w": torch.arange(100_000)}, target)
    assert torch.equal(torch.load(target)["w"], torch.arange(100_000))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_a_read_only_folder_is_one_line_before_any_work(runner, tmp_path, capsys, monkeypatch):
    def read_only(self, data):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "write_bytes", read_only)  # the writability probe (root ignores chmod)
    code, err = cli(capsys, "train", RECIPE, *TINY, f"run_dir={tmp_path / 'run'}")
    assert code == 1 and "read-only" in err and str(tmp_path / "run") in err
    assert len(err.strip().splitlines()) == 2 and "Traceback" not in err  # the error line and its hint
    assert not (tmp_path / "run" / "recipe.yaml").exists()


def test_a_full_disk_mid_run_is_one_line_and_leaves_no_temp_file(runner, tmp_path, capsys, monkeypatch):
    real_save = torch.save

    def disk_full(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)  # bytes reach the temp file, then the disk fills up
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt_io.torch, "save", disk_full)
    run_dir = tmp_path / "run"
    code, err = cli(capsys, "train", RECIPE, *TINY, f"run_dir={run_dir}")
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()  # the progress bar as it stopped, the error, its hint
    assert lines[-2].startswith("error: cannot write into") and "the disk is full" in lines[-2]
    assert lines[-1].startswith("hint:") and not any("Error" in line for line in lines[:-2])
    assert not list(run_dir.rglob("*.tmp")) and not list(run_dir.rglob("ckpt_*.pt"))


def test_eval_output_folder_is_checked_before_the_work(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ckpt_io.shutil, "disk_usage", lambda p: type("U", (), {"free": 1024})())
    code, err = cli(capsys, "eval", RECIPE, "--checkpoint", str(trained), *TINY, "--out", str(tmp_path / "e.json"))
    assert code == 1 and "MiB free" in err and not (tmp_path / "e.json").exists()


@pytest.fixture
def nan_checkpoint(trained, tmp_path) -> Path:
    ckpt = ckpt_io.load(trained / "final.pt")
    key = next(k for k, v in ckpt["model"].items() if v.is_floating_point())
    ckpt["model"][key] = torch.full_like(ckpt["model"][key], float("nan"))
    return ckpt_io.atomic_save(ckpt, tmp_path / "nan.pt")


def test_nan_weights_are_refused_by_eval(nan_checkpoint, capsys):
    code, err = cli(capsys, "eval", RECIPE, "--checkpoint", str(nan_checkpoint), *TINY)
    assert code == 1 and "non-finite weights" in err and str(nan_checkpoint) in err


def test_nan_weights_are_refused_by_export(nan_checkpoint, tmp_path, capsys):
    code, err = cli(capsys, "export", str(nan_checkpoint), "--out", str(tmp_path / "onnx"))
    assert code == 1 and "non-finite weights" in err
    assert not list((tmp_path / "onnx").glob("*.onnx"))


def test_a_nan_loss_marks_checkpoints_after_the_last_finite_evaluation_untrusted(tmp_path):
    from gaitcompress.train.config import OptimConfig, SchedConfig, TrainConfig
    from gaitcompress.train.engine import Trainer
    from gaitcompress.train.module import SupervisedModule
    from tests._train_tiny import TinyGait, TinyLoader, TinyLosses

    class Diverging(SupervisedModule):
        def training_losses(self, batch):
            self.calls = getattr(self, "calls", 0) + 1
            terms = super().training_losses(batch)
            return {k: v * float("nan") for k, v in terms.items()} if self.calls == 4 else terms

    cfg = TrainConfig(iterations=6, save_every=1, eval_every=2, keep_last=2, tensorboard=False)
    trainer = Trainer(Diverging(TinyGait(), TinyLosses()), TinyLoader(), tmp_path, cfg, OptimConfig(lr=0.05),
                      SchedConfig(), eval_fn=lambda model: {"m": 1.0})  # fmt: skip
    with pytest.raises(GaitCompressError) as exc:
        trainer.fit()
    assert "loss is nan at iteration 4" in exc.value.message and "ckpt_000003.pt" in exc.value.message
    assert "ckpt_000002.pt" in exc.value.hint and "trusted" in exc.value.hint  # evaluated at iteration 2
    assert [p.name for p in ckpt_io.CheckpointDir(tmp_path).periodic()] == ["ckpt_000002.pt"]
    assert ckpt_io.CheckpointDir(tmp_path).latest().name == "ckpt_000002.pt"
    assert (tmp_path / "checkpoints" / "ckpt_000003.pt.untrusted").is_file()


def test_rerank_cost_checks_its_folder_before_timing(tmp_path, capsys, monkeypatch):
    import gaitcompress.rerank.stage as rerank_stage

    def read_only(self, data):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    def never(cfg):
        raise AssertionError("measured before the folder was checked")

    monkeypatch.setattr(Path, "write_bytes", read_only)
    monkeypatch.setattr(rerank_stage, "measure_cost", never)
    recipe = str(ROOT / "recipes/synthgait/rerank_teacher.yaml")
    code, err = cli(capsys, "rerank", "cost", recipe, f"run_dir={tmp_path / 'run'}")
    assert code == 1 and "read-only" in err and "Traceback" not in err


def test_a_seed_sweeps_row_summarises_every_nested_summary_over_the_seeds():
    """Per-seed summaries inside a row (QAT's scores before BN re-estimation) cover every seed, not the first."""
    from gaitcompress.harness import _over_seeds
    from gaitcompress.results import summarize

    rows = [{"bn": {"batches": 32, "before": {"R1": summarize([v])}}, "label": f"seed {v}"} for v in (1.0, 3.0)]
    merged = _over_seeds(rows[0], rows[1:])
    assert merged["bn"]["before"]["R1"]["values"] == [1.0, 3.0] and merged["bn"]["before"]["R1"]["mean"] == 2.0
    assert merged["bn"]["batches"] == 32 and merged["label"] == "seed 1.0"
    assert _over_seeds(rows[0], [None]) == rows[0]  # a seed without the block: the first seed's value, as before
