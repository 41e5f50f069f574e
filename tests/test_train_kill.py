"""Kill a training process with SIGKILL mid-run, resume it, and check nothing was lost or corrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from gaitcompress import checkpoints as ckpt_io

ROOT = Path(__file__).resolve().parents[1]
ITERATIONS = 24


def launch(run_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "tests._train_tiny", str(run_dir), str(ITERATIONS), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_sigkill_then_resume_reaches_the_same_weights(tmp_path):
    killed_dir, reference_dir = tmp_path / "killed", tmp_path / "reference"
    reference = launch(reference_dir)
    victim = launch(killed_dir, "sleep=0.1")
    pointer = killed_dir / "checkpoints" / "latest"
    deadline = time.monotonic() + 300  # generous: the shared machine may be loaded
    while time.monotonic() < deadline:  # wait until a few checkpoints exist, then kill mid-run
        if pointer.is_file() and pointer.read_text().strip() >= "ckpt_000005.pt":
            break
        assert victim.poll() is None, victim.stdout.read().decode()
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL

    ckpts = ckpt_io.CheckpointDir(killed_dir)
    survivors = ckpts.periodic()
    assert survivors, "no checkpoint survived the kill"
    for path in survivors:  # every file on disk is complete
        assert ckpt_io.load(path)["iteration"] == int(path.stem.split("_")[1])
    killed_at = ckpt_io.load(ckpts.latest())["iteration"]
    assert 5 <= killed_at < ITERATIONS

    resumed = launch(killed_dir, "resume")
    for proc in (resumed, reference):
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out.decode()
    assert ckpt_io.load(killed_dir / "final.pt")["iteration"] == ITERATIONS
    a = torch.load(killed_dir / "weights_rank0.pt", weights_only=True)
    b = torch.load(reference_dir / "weights_rank0.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a), "kill + resume diverged from the uninterrupted run"
    assert not list((killed_dir / "checkpoints").glob(".*.tmp"))  # stale temp files were cleaned
