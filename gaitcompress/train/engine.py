"""The iteration-based training loop every stage shares (train, distill, quantize).

`Trainer` runs a `TrainModule` (see `gaitcompress.train.module`) over an infinite iterator of batches: forward the
module's `training_losses`, sum the weighted terms, step optimizer and schedule once per iteration, then run the
per-iteration callbacks (QAT grows its soft-quantizer k from one), log, evaluate and checkpoint on their periods.
It knows nothing of distillation or quantization: those live in the TrainModule and the callbacks.

A non-finite loss (or evaluation) stops the run: checkpoints written after the last finite evaluation are renamed
`*.untrusted` (weights that diverged can be finite garbage) and the error names the newest trusted one.

AMP (autocast fp16 + GradScaler) applies on CUDA only; on CPU the flag is a no-op. Under `torchrun` the module is
wrapped in DistributedDataParallel (through a small adapter whose `forward` is `training_losses`, so DDP's
gradient synchronisation sees a normal forward), and only rank 0 writes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.errors import GaitCompressError
from gaitcompress.progress import NULL, Tracker
from gaitcompress.recipe import to_dict
from gaitcompress.train.config import OptimConfig, SchedConfig, TrainConfig
from gaitcompress.train.distributed import DistContext, barrier, gather_objects, wrap_ddp
from gaitcompress.train.logging import RunLogger
from gaitcompress.train.module import TrainModule
from gaitcompress.train.optim import build_optimizer, build_scheduler, set_horizon

EvalFn = Callable[[nn.Module], Mapping[str, float]]
Callback = Callable[["Trainer", int], None]  # called after each optimizer step with the finished iteration
log = logging.getLogger("gaitcompress.run")


class _LossForward(nn.Module):
    """Adapter so DistributedDataParallel wraps `training_losses` as its forward."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, batch: Any) -> dict[str, Tensor]:
        return self.module.training_losses(batch)


class Trainer:
    """Train `module` for `train_cfg.iterations` iterations, resumable from its run folder.

    `loader` is either a factory `start -> iterator` (preferred: `build_train_loader(..., start=start)` resumes at
    batch `start` without reading the skipped ones) or an iterator yielding batches forever; an iterator with
    `state_dict()`/`load_state_dict()` has its position checkpointed (the sampler state of docs/architecture.md),
    any other is replayed on resume by drawing the consumed batches again.
    `meta` is stored in every checkpoint as is (`recipe`, `kind`); `spec` is taken from the deploy model.
    """

    def __init__(
        self,
        module: nn.Module,
        loader: Iterator[Any] | Callable[[int], Iterator[Any]],
        run_dir: str | Path,
        train_cfg: TrainConfig,
        optim_cfg: OptimConfig,
        sched_cfg: SchedConfig,
        *,
        ctx: DistContext | None = None,
        eval_fn: EvalFn | None = None,
        callbacks: Sequence[Callback] = (),
        tracker: Tracker = NULL,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(module, TrainModule):
            raise TypeError(f"{type(module).__name__} is not a TrainModule (needs training_losses and deploy_model)")
        self.ctx = ctx or DistContext()
        self.cfg = train_cfg
        self.run_dir = Path(run_dir)
        if train_cfg.sync_bn and self.ctx.distributed and self.ctx.device.type == "cuda":
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        self.module = module.to(self.ctx.device)
        if train_cfg.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self._loader_source = loader
        self.loader: Iterator[Any] | None = None
        self.eval_fn = eval_fn
        self.callbacks = list(callbacks)
        self.tracker = tracker
        self.meta = dict(meta or {})
        self.optimizer = build_optimizer(self.module, optim_cfg)
        self.sched_cfg = sched_cfg
        self.scheduler = build_scheduler(self.optimizer, sched_cfg, train_cfg.iterations)
        self.amp = train_cfg.amp and self.ctx.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.forward = wrap_ddp(_LossForward(self.module), self.ctx)
        self.checkpoints = ckpt_io.CheckpointDir(self.run_dir, train_cfg.keep_last)
        self.iteration = 0
        self.trusted_iteration = 0  # the last iteration whose evaluation was finite (0: none yet)
        self.metrics: dict[str, float] = {}

    # ---------------------------------------------------------------- state --------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint dict (docs/architecture.md); RNG and sampler state gathered from every rank."""
        deploy = self.module.deploy_model()
        spec = getattr(deploy, "spec", None)
        rank_state = ckpt_io.rng_state()
        if self.loader is not None and callable(getattr(self.loader, "state_dict", None)):
            rank_state["sampler"] = self.loader.state_dict()
        return {
            "model": deploy.state_dict(),
            "spec": to_dict(spec) if spec is not None else None,
            "train_state": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": self.iteration,
            "rng": gather_objects(rank_state, self.ctx),
            "metrics": dict(self.metrics),
            "trusted_iteration": self.trusted_iteration,
            "recipe": self.meta.get("recipe"),
            "kind": self.meta.get("kind", "fp32"),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.module.load_state_dict(state["train_state"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_horizon(self.scheduler, self.sched_cfg, self.cfg.iterations)  # a resume may train longer
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        self.trusted_iteration = int(state.get("trusted_iteration") or 0)
        self.metrics = dict(state.get("metrics") or {})
        ranks = state["rng"]
        mine = ranks[self.ctx.rank % len(ranks)]
        self.loader = self._open_loader(self.iteration, mine.get("sampler"))
        ckpt_io.set_rng_state(mine)  # after opening the loader, which may draw from the torch generator

    def _open_loader(self, start: int, sampler_state: Any = None) -> Iterator[Any]:
        """The batch stream positioned at batch `start`."""
        source = self._loader_source
        if not isinstance(source, Iterator):
            return source(start)
        if sampler_state is not None and callable(getattr(source, "load_state_dict", None)):
            source.load_state_dict(sampler_state)
        else:
            for _ in range(start):  # replay: the iterator has no state of its own
                next(source)
        return source

    def save(self, final: bool = False) -> None:
        state = self.state_dict()  # every rank takes part in gathering RNG states
        if self.ctx.is_main:
            self.checkpoints.save(state, final=final)
        barrier(self.ctx)

    def resume(self, path: str | Path | None = None) -> Path | None:
        """Load `path`, or the run folder's newest readable checkpoint; None when there is none (a fresh start)."""
        found = Path(path) if path else self.checkpoints.latest()
        if found is None:
            return None
        self.load_state_dict(ckpt_io.load(found))
        if self.ctx.is_main:
            log.info("resumed from %s (iteration %d of %d)", found, self.iteration, self.cfg.iterations)
        return found

    # ---------------------------------------------------------------- loop ---------------------------------------

    def step(self, batch: Any) -> dict[str, float]:
        """One optimizer step on `batch`; returns the loss terms and their total as floats."""
        if hasattr(batch, "to"):
            batch = batch.to(self.ctx.device)
        with torch.autocast(self.ctx.device.type, dtype=torch.float16, enabled=self.amp):
            terms = self.forward(batch)
        if not terms:
            raise GaitCompressError("the training module returned no loss terms", "check the recipe's loss: section")
        total = torch.stack([t.float() for t in terms.values()]).sum()
        if not torch.isfinite(total):
            raise self._diverged(f"loss is {total.item()} at iteration {self.iteration + 1} ({_fmt_terms(terms)})")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.module.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.iteration += 1
        for callback in self.callbacks:
            callback(self, self.iteration)
        values = {"loss": total.item(), **{k: v.detach().float().item() for k, v in terms.items()}}
        stats = getattr(self.module, "training_stats", None)
        if callable(stats):
            values.update({k: float(v) for k, v in stats().items()})
        return values

    def evaluate(self) -> dict[str, float]:
        """Run `eval_fn` on the deploy model (rank 0), log and keep the metrics."""
        if self.eval_fn is None:
            return {}
        metrics: dict[str, float] = {}
        if self.ctx.is_main:
            model = self.module.deploy_model()
            was_training = model.training
            model.eval()
            with torch.no_grad():
                metrics = {k: float(v) for k, v in self.eval_fn(model).items()}
            model.train(was_training)
            bad = [k for k, v in metrics.items() if not math.isfinite(v)]
            if bad:
                raise self._diverged(f"evaluation at iteration {self.iteration} is non-finite ({', '.join(bad)})")
            self.metrics = metrics
            self.trusted_iteration = self.iteration
        barrier(self.ctx)
        return metrics

    def _diverged(self, what: str) -> GaitCompressError:
        """Mark the checkpoints written since the last finite evaluation untrusted; the error names a trusted one."""
        marked = self.checkpoints.mark_untrusted(after=self.trusted_iteration) if self.ctx.is_main else []
        kept = self.checkpoints.periodic() if self.trusted_iteration else []
        note = f"; marked untrusted: {', '.join(p.name for p in marked)}" if marked else ""
        if kept:
            hint = f"{kept[-1]} (written by iteration {self.trusted_iteration}, the last finite evaluation) is trusted:"
            hint += " --resume continues from it; or start over with --restart and a lower optim.lr / train.grad_clip"
        else:
            hint = "no checkpoint has a finite evaluation: start over with --restart and a lower optim.lr "
            hint += "or train.grad_clip (train.eval_every keeps trusted checkpoints along the way)"
        return GaitCompressError(what + note, hint)

    def fit(self, resume: bool | str | Path = False) -> dict[str, float]:
        """Train to `iterations` (from the newest checkpoint when `resume`), evaluate, save; returns the metrics."""
        if resume:
            self.resume(None if resume is True else resume)
        elif self.iteration == 0 and self.checkpoints.any() and self.ctx.is_main:
            log.warning("%s holds checkpoints but this run starts at iteration 0 (not resumed)", self.run_dir)
        if self.loader is None:
            self.loader = self._open_loader(self.iteration)
        cfg = self.cfg
        logger = RunLogger(self.run_dir, self.ctx.is_main, cfg.tensorboard, start=self.iteration)
        self.module.train()
        window: dict[str, float] = {}
        count, tic = 0, time.perf_counter()
        try:
            with self.tracker.task("train", total=cfg.iterations) as progress:
                progress(self.iteration)
                while self.iteration < cfg.iterations:
                    values = self.step(next(self.loader))
                    for key, value in values.items():
                        window[key] = window.get(key, 0.0) + value
                    count += 1
                    it = self.iteration
                    if it % cfg.log_every == 0 or it == cfg.iterations:
                        rate = count / max(time.perf_counter() - tic, 1e-9)
                        row = {k: v / count for k, v in window.items()}
                        row.update(lr=self.optimizer.param_groups[0]["lr"], it_s=rate)
                        logger.log(it, row)
                        window, count, tic = {}, 0, time.perf_counter()
                    progress(1, loss=values["loss"])
                    if cfg.eval_every and it % cfg.eval_every == 0 and it < cfg.iterations and self.eval_fn:
                        logger.log(it, self.evaluate(), prefix="eval")
                    if cfg.save_every and it % cfg.save_every == 0 and it < cfg.iterations:
                        self.save()
            metrics = self.evaluate()
            if metrics:
                logger.log(self.iteration, metrics, prefix="eval")
            self.save(final=True)
        finally:
            logger.close()
        return dict(self.metrics)


def _fmt_terms(terms: Mapping[str, Tensor]) -> str:
    return ", ".join(f"{k}={v.item():.4g}" if math.isfinite(v.item()) else f"{k}={v.item()}" for k, v in terms.items())
