"""Tiny components for the training-engine tests: a 2-part gait-shaped model, a stateful loader, a loss.

They obey the shared contracts (model output dict, Batch, TrainModule) at a size that trains in milliseconds,
so the engine's own behaviour (resume, DDP, checkpoints) is what the tests measure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from gaitcompress.data.batch import Batch, SeqMeta


@dataclass(frozen=True)
class TinySpec:
    family: str = "tiny"
    name: str = "tiny"
    num_classes: int = 4
    parts: int = 2
    kwargs: dict = field(default_factory=dict)


class TinyGait(nn.Module):
    """sils [N,T,H,W] → conv → temporal max → 2 strips → per-part FC → cosine logits."""

    def __init__(self, num_classes: int = 4, channels: int = 4, bn: bool = True, dropout: float = 0.2) -> None:
        super().__init__()
        self.spec = TinySpec(num_classes=num_classes)
        self.conv = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels) if bn else nn.Identity()
        self.relu = nn.ReLU()
        self.fc = nn.Parameter(torch.randn(2, channels, channels) * 0.3)  # [P, C, C]
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Parameter(torch.randn(2, channels, num_classes))  # [P, C, K]

    def forward(self, sils: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        n, t, h, w = sils.shape
        x = self.relu(self.bn(self.conv(sils.reshape(n * t, 1, h, w))))  # [N·T, C, H, W]
        x = x.reshape(n, t, -1, h, w).amax(1)  # [N, C, H, W]
        parts = torch.stack([s.mean((2, 3)) for s in x.chunk(2, dim=2)], -1)  # [N, C, P]
        emb = torch.einsum("ncp,pcd->ndp", self.drop(parts), self.fc)  # [N, C, P]
        logits = torch.einsum("ncp,pck->nkp", F.normalize(emb, dim=1), F.normalize(self.classifier, dim=1))
        return {"embeddings": emb, "logits": logits, "parts": parts}


class TinyLosses(nn.Module):
    """Weighted terms: CE on 16·logits (mean over parts) + a small embedding-norm penalty."""

    def forward(self, out: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
        ce = F.cross_entropy(16 * out["logits"], labels[:, None].expand(-1, out["logits"].shape[-1]))
        return {"ce": ce, "norm": 1e-3 * out["embeddings"].pow(2).mean()}


class TinyLoader:
    """Infinite stream of 4-class batches drawn from its own generator (checkpointable via state_dict)."""

    def __init__(self, seed: int = 0, rank: int = 0, start: int = 0, n: int = 8, t: int = 3, hw=(8, 6)) -> None:
        proto = torch.Generator().manual_seed(1234)
        self.patterns = (torch.rand(4, *hw, generator=proto) > 0.5).float()  # [K, H, W] one per class
        self.gen = torch.Generator().manual_seed(seed * 1000 + rank)
        self.n, self.t = n, t
        for _ in range(start):  # a factory's `start`: skip the batches already consumed
            next(self)

    def __iter__(self) -> TinyLoader:
        return self

    def __next__(self) -> Batch:
        labels = torch.randint(0, 4, (self.n,), generator=self.gen)
        noise = torch.rand(self.n, self.t, *self.patterns.shape[1:], generator=self.gen)
        sils = (0.7 * self.patterns[labels][:, None] + 0.3 * noise).clamp(0, 1)  # [N, T, H, W]
        meta = [SeqMeta(str(int(k)), "nm-01", "000") for k in labels]
        return Batch(sils=sils, labels=labels, lengths=torch.full((self.n,), self.t), meta=meta)

    def state_dict(self) -> dict:
        return {"generator": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["generator"])


class StatelessLoader(TinyLoader):
    """The same stream without state_dict: the engine must replay it on resume."""

    state_dict = None  # type: ignore[assignment]
    load_state_dict = None  # type: ignore[assignment]


def run_tiny(run_dir: str, iterations: int, resume: bool = False, sleep: float = 0.0, ctx=None) -> nn.Module:
    """Train TinyGait with checkpoints every iteration (used in-process and as a killable subprocess)."""
    import time

    from gaitcompress.train.config import OptimConfig, SchedConfig, TrainConfig
    from gaitcompress.train.engine import Trainer
    from gaitcompress.train.module import SupervisedModule

    torch.manual_seed(0)
    ddp = ctx is not None and ctx.distributed
    model = TinyGait(bn=not ddp, dropout=0.0 if ddp else 0.2)  # DDP test: no per-rank BN/dropout differences
    cfg = TrainConfig(iterations=iterations, log_every=1, save_every=1, keep_last=2, tensorboard=False)
    callbacks = [lambda trainer, it: time.sleep(sleep)] if sleep else []
    loader = TinyLoader(seed=0, rank=ctx.rank if ctx else 0)
    sched = SchedConfig(milestones=(iterations // 2,))
    trainer = Trainer(
        SupervisedModule(model, TinyLosses()),
        loader,
        run_dir,
        cfg,
        OptimConfig(lr=0.05),
        sched,
        ctx=ctx,
        callbacks=callbacks,
    )
    trainer.fit(resume=resume)
    return model


if __name__ == "__main__":  # python -m tests._train_tiny RUN_DIR ITERATIONS [resume] [sleep=S] [ddp]
    import sys

    args = sys.argv[1:]
    ctx = None
    if "ddp" in args:
        from gaitcompress.train.distributed import init_distributed, shutdown_distributed

        ctx = init_distributed("cpu")
    sleep = float(next((a.split("=")[1] for a in args if a.startswith("sleep=")), 0.0))
    trained = run_tiny(args[0], int(args[1]), resume="resume" in args, sleep=sleep, ctx=ctx)
    rank = ctx.rank if ctx else 0
    torch.save(trained.state_dict(), f"{args[0]}/weights_rank{rank}.pt")
    if ctx is not None:
        shutdown_distributed(ctx)
