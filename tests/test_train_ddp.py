"""Two CPU processes under torch.distributed.run (gloo) train the same model as one process on both batches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from gaitcompress.data.batch import Batch
from gaitcompress.train.logging import read_log
from tests._train_tiny import TinyGait, TinyLoader, TinyLosses

ROOT = Path(__file__).resolve().parents[1]
ITERATIONS = 3


class BothRanks:
    """The batches of rank 0 and rank 1 concatenated: what DDP's averaged gradient corresponds to."""

    def __init__(self) -> None:
        self.loaders = [TinyLoader(seed=0, rank=0), TinyLoader(seed=0, rank=1)]

    def __iter__(self):
        return self

    def __next__(self) -> Batch:
        a, b = (next(loader) for loader in self.loaders)
        return Batch(
            torch.cat([a.sils, b.sils]),
            torch.cat([a.labels, b.labels]),
            torch.cat([a.lengths, b.lengths]),
            a.meta + b.meta,
        )


def test_two_process_gloo_matches_single_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "tests._train_tiny", str(tmp_path), str(ITERATIONS), "ddp",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rank0 = torch.load(tmp_path / "weights_rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "weights_rank1.pt", weights_only=True)
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), "ranks drifted apart"

    # one process, both ranks' batches at once: the same averaged gradient, so the same weights
    from gaitcompress.train.config import OptimConfig, SchedConfig, TrainConfig
    from gaitcompress.train.engine import Trainer
    from gaitcompress.train.module import SupervisedModule

    torch.manual_seed(0)
    model = TinyGait(bn=False, dropout=0.0)
    cfg = TrainConfig(iterations=ITERATIONS, log_every=1, tensorboard=False)
    sched = SchedConfig(milestones=(ITERATIONS // 2,))
    Trainer(
        SupervisedModule(model, TinyLosses()), BothRanks(), tmp_path / "single", cfg, OptimConfig(lr=0.05), sched
    ).fit()
    single = model.state_dict()
    assert all(torch.allclose(rank0[k], single[k], atol=1e-6) for k in single)
    torch.manual_seed(0)
    assert not torch.equal(rank0["fc"], TinyGait(bn=False, dropout=0.0).fc)  # it did train

    assert len([r for r in read_log(tmp_path) if "loss" in r]) == ITERATIONS  # only rank 0 wrote
    assert (tmp_path / "final.pt").is_file()
