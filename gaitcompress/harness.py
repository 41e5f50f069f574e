"""One life cycle for every stage that writes a run folder: the stage does its own work, this does the rest.

`run_stage(recipe, recipe_cls, work)` parses the recipe once into its dataclass, then, before any work:
checks the run folder is writable and has room, takes the folder's lock (a second process is refused, naming the
holder's pid and host; a lock left by a dead process on this host is taken over), removes temp files a killed
write left, and decides how the run starts — a folder that already holds checkpoints is continued only with
`resume`, started over only with `restart` (its checkpoints are deleted), refused otherwise, and a resume whose
recipe changed a key that shapes the model or the optimizer is refused naming the keys. It then seeds, starts
distributed training, saves the resolved recipe and calls `work(run)`; Ctrl-C becomes `RunInterrupted`, naming the
newest checkpoint and the exact command that resumes. `run_seeds` is the one seed loop: one run folder per seed,
finished seeds reused with `resume`, and one results row (mean ± std over seeds).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from gaitcompress import checkpoints
from gaitcompress.errors import GaitCompressError
from gaitcompress.progress import NULL, Tracker
from gaitcompress.recipe import from_dict, save_recipe, to_dict
from gaitcompress.results import make_results, read_results, summarize, write_results
from gaitcompress.train.distributed import DistContext, init_distributed, shutdown_distributed

log = logging.getLogger("gaitcompress.run")

LOCK = ".lock"
RECIPE = "recipe.yaml"
RESULTS = "metrics.json"
# recipe keys that shape the model, its training module, its training data or the optimizer: a resume must not
# change them (iteration counts may grow: resuming to train longer is what --resume is for; the trainer then
# stretches the LR schedule to the new horizon). `generator` is synth's model, `head`/`pairs` rerank's.
FROZEN = ("seed", "model", "loss", "optim", "sched", "distill", "quant", "generator", "critic", "head", "pairs",
          "data.input_size", "data.train_frames", "data.batch_p", "data.batch_k", "data.synth", "data.root",
          "data.mix", "data.max_train_seqs_per_id")  # fmt: skip
MAY_CHANGE = ("quant.stage1.iterations", "quant.stage2.iterations")
NO_EFFECT = ("run_dir", "name", "train.log_every", "train.save_every", "train.keep_last", "data.workers")


class RunInterrupted(GaitCompressError):
    """Ctrl-C during a stage: what was saved and the command that resumes (the CLI exits 130)."""


@dataclass
class StageResult:
    """What every stage returns: its folder, final metrics, results document (DESIGN §15) and timings."""

    run_dir: Path
    metrics: dict[str, float]
    results: dict[str, Any]
    result: Any = None  # the full EvalResult (per-view tables), when the stage evaluated
    wall_s: float = 0.0
    cpu_s: float = 0.0
    model: nn.Module | None = None  # the trained deploy model, in memory (not for a reused seed)

    def __getitem__(self, key: str) -> Any:
        """Dict-style access (`done["metrics"]`) for callers written when stages returned dicts."""
        return getattr(self, key)


@dataclass
class SeedRuns:
    """The one seed-loop result: a results document with one row summarised over seeds, and each seed's run."""

    results: dict[str, Any]
    runs: list[StageResult] = field(default_factory=list)

    @property
    def row(self) -> dict[str, Any]:
        return self.results["rows"][0]


@dataclass
class Run:
    """What a stage's `work` gets: the parsed recipe, its folder, the process group, the progress tracker."""

    cfg: Any
    recipe: dict[str, Any]
    run_dir: Path
    ctx: DistContext
    tracker: Tracker
    resume: bool
    command: str | None

    def write_results(self, doc: Mapping[str, Any], name: str = RESULTS) -> None:
        """`name` (+ its .md) in the run folder, from rank 0 only."""
        if self.ctx.is_main:
            with writing(self.run_dir):
                write_results(doc, self.run_dir / name)

    def write_text(self, name: str, text: str) -> None:
        """A text file in the run folder, atomically, from rank 0 only."""
        if self.ctx.is_main:
            checkpoints.atomic_write_text(text, self.run_dir / name)


@contextlib.contextmanager
def writing(folder: Path) -> Iterator[None]:
    """Turn an OSError of a write into folder into the one write error (full disk, read-only, ...)."""
    try:
        yield
    except OSError as exc:
        raise checkpoints.write_error(folder, exc) from None


# ---------------------------------------------------------------- lock -----------------------------------------------


class RunLock:
    """`run_dir/.lock` holding `{pid, host, since}`: one process per run folder; a dead holder's lock is taken over."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK
        self.held = False

    def __enter__(self) -> RunLock:
        for _ in range(2):  # a second try after removing a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._refuse_or_clear()
                continue
            except OSError as exc:
                raise checkpoints.write_error(self.path.parent, exc) from None
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}, f)
            self.held = True
            return self
        raise GaitCompressError(f"could not lock {self.path.parent}", f"another process keeps taking {self.path}")

    def _refuse_or_clear(self) -> None:
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, ValueError):
            holder = {}  # being written this instant, or damaged: treat as held unless it stays unreadable
        pid, host = holder.get("pid"), holder.get("host")
        if pid is not None and host == socket.gethostname() and not _alive(int(pid)):
            log.warning("took over the lock of %s left by pid %s, which is no longer running", self.path.parent, pid)
            self.path.unlink(missing_ok=True)
            return
        since = time.strftime("%H:%M:%S", time.localtime(holder["since"])) if "since" in holder else "?"
        raise GaitCompressError(
            f"{self.path.parent} is in use by pid {pid} on {host} (since {since})",
            f"wait for that run to finish or pick another run_dir=...; if it is gone, delete {self.path}",
        )

    def __exit__(self, *exc: object) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


# ---------------------------------------------------------------- how a run starts -----------------------------------


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def differing_keys(old: Mapping[str, Any], new: Mapping[str, Any], recipe_cls: type) -> list[str]:
    """Dotted keys whose resolved value (defaults filled in) differs between two recipes, bar `NO_EFFECT`."""
    where = "recipe.yaml in the run folder"
    a = _flatten(to_dict(from_dict(recipe_cls, {k: v for k, v in old.items() if k != "source"}, where)))
    b = _flatten(to_dict(from_dict(recipe_cls, {k: v for k, v in new.items() if k != "source"}, "recipe")))
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k not in NO_EFFECT]


def frozen(keys: list[str]) -> list[str]:
    """The keys under `FROZEN` (bar `MAY_CHANGE`): a run cannot be continued across a change of one."""
    return [k for k in keys if any(k == f or k.startswith(f + ".") for f in FROZEN) and k not in MAY_CHANGE]


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], recipe_cls: type) -> list[str]:
    """Keys under `FROZEN` that differ between two recipes."""
    return frozen(differing_keys(old, new, recipe_cls))


def _saved_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints a run in this folder left (its own and those of sub-stages such as QAT's stage1/, stage2/)."""
    if not run_dir.is_dir():
        return []
    found = [p for p in run_dir.glob(f"**/{checkpoints.CKPT_DIR}/ckpt_*.pt")]
    found += [p for p in run_dir.glob(f"**/{checkpoints.FINAL}")]
    return sorted(found, key=lambda p: p.stat().st_mtime)


def resume_command(command: str | None) -> str:
    """The command that continues this run: `command` without --restart, with --resume."""
    if not command:
        return "the same command with --resume"
    words = [w for w in shlex.split(command) if w != "--restart"]
    return shlex.join(words if "--resume" in words else [*words, "--resume"])


def _prepare(run_dir: Path, recipe: Mapping[str, Any], recipe_cls: type, resume: bool, restart: bool,
             command: str | None) -> None:  # fmt: skip
    """Under the lock, before any work: clear temp files, then continue, start over or refuse (module docstring)."""
    for tmp in run_dir.glob("**/.*.tmp"):  # a killed write's leftovers: no process is writing here now
        tmp.unlink(missing_ok=True)
    saved = _saved_checkpoints(run_dir)
    if restart:
        for ckpt_dir in {p.parent for p in saved if p.parent.name == checkpoints.CKPT_DIR}:
            checkpoints.CheckpointDir(ckpt_dir.parent).clear()
        for final in (p for p in saved if p.name == checkpoints.FINAL):
            final.unlink(missing_ok=True)
        for name in (RESULTS, "metrics.md", "eval.json", "log.jsonl"):
            (run_dir / name).unlink(missing_ok=True)
        if saved:
            log.warning("--restart: removed %d checkpoints from %s", len(saved), run_dir)
        return
    if saved and not resume:
        raise GaitCompressError(
            f"{run_dir} already holds checkpoints (newest: {saved[-1].relative_to(run_dir)})",
            f"continue it with: {resume_command(command)} — or start over with --restart (deletes them)",
        )
    previous = run_dir / RECIPE
    if resume and saved and previous.is_file():
        changed = changed_keys(yaml.safe_load(previous.read_text()) or {}, recipe, recipe_cls)
        if changed:
            raise GaitCompressError(
                f"--resume with a changed recipe: {', '.join(changed)} differ from {previous}",
                "these keys shape the model or the optimizer: resume with the old values, or start over with "
                "--restart (or pick a new run_dir=...)",
            )


def _newest(run_dir: Path) -> str:
    saved = [p for p in _saved_checkpoints(run_dir) if p.parent.name == checkpoints.CKPT_DIR]
    if not saved:
        return "nothing was saved yet"
    return f"saved {saved[-1]} (iteration {checkpoints.iteration_of(saved[-1])})"


def run_stage(
    recipe: Mapping[str, Any],
    recipe_cls: type,
    work: Callable[[Run], StageResult],
    *,
    parse: Callable[[dict[str, Any]], Any] | None = None,
    tracker: Tracker = NULL,
    resume: bool = False,
    restart: bool = False,
    command: str | None = None,
) -> StageResult:
    """The life cycle of one run (module docstring); `parse` validates the recipe into `recipe_cls`."""
    recipe = dict(recipe)
    cfg = parse(recipe) if parse else from_dict(recipe_cls, recipe, str(recipe.get("source") or "recipe"))
    run_dir = Path(cfg.run_dir)
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 owns the folder
    if main:
        checkpoints.check_writable(run_dir)
    with RunLock(run_dir) if main else contextlib.nullcontext():
        if main:
            _prepare(run_dir, recipe, recipe_cls, resume, restart, command)
        checkpoints.seed_everything(cfg.seed)
        ctx = init_distributed(cfg.train.device)
        try:
            if ctx.is_main:
                with writing(run_dir):
                    save_recipe(recipe, run_dir / RECIPE)
            run = Run(cfg, recipe, run_dir, ctx, tracker if ctx.is_main else NULL, resume, command)
            try:
                return work(run)
            except KeyboardInterrupt:
                raise RunInterrupted(
                    f"interrupted: {_newest(run_dir)}", f"resume with: {resume_command(command)}"
                ) from None
        finally:
            shutdown_distributed(ctx)


# ---------------------------------------------------------------- seeds ----------------------------------------------


def finished(run_dir: Path) -> StageResult | None:
    """A finished run read back from its folder (`metrics.json` is written last), else None."""
    path = run_dir / RESULTS
    if not path.is_file():
        return None
    doc = read_results(path)
    row = doc["rows"][0]
    train = row.get("train") or {}
    return StageResult(run_dir, {k: v["mean"] for k, v in row["metrics"].items()}, doc,
                       wall_s=float(train.get("wall_s") or 0.0), cpu_s=float(train.get("cpu_s") or 0.0))  # fmt: skip


def _over_seeds(first: Any, others: list[Any]) -> Any:
    """A row value of the first seed with each summary in it (`{mean, std, values}`, such as the scores before BN
    re-estimation) summarised over every seed's row; anything else is the first seed's (cost, labels)."""
    if not all(isinstance(o, Mapping) for o in others) or not isinstance(first, Mapping):
        return first
    if {"mean", "std", "values"} <= set(first):
        return summarize([v for o in (first, *others) for v in o["values"]])
    return {k: _over_seeds(v, [o.get(k) for o in others]) for k, v in first.items()}


def run_seeds(
    run_one: Callable[[dict[str, Any]], StageResult],
    recipe: Mapping[str, Any],
    seeds: Sequence[int],
    recipe_cls: type,
    *,
    reuse: bool = False,
    out: str | Path | None = None,
    command: str | None = None,
) -> SeedRuns:
    """`run_one` once per seed in `<run_dir>/seed<s>`, summarised into one §15 row (mean ± std over seeds).

    With `reuse` a seed whose folder holds a finished run of the same recipe is read instead of run again, so a
    sweep cut short, or grown by a seed, runs only what is missing. With `out` the table is also written there.
    """
    base = recipe.get("run_dir") or recipe_cls.run_dir
    runs = []
    for seed in seeds:
        one = {**recipe, "seed": seed, "run_dir": f"{base}/seed{seed}"}
        done = finished(Path(one["run_dir"])) if reuse else None
        if done is not None:
            previous = yaml.safe_load((done.run_dir / RECIPE).read_text()) or {}
            stale = differing_keys(previous, one, recipe_cls)  # e.g. more iterations: continue, never reuse
            if changed := frozen(stale):
                raise GaitCompressError(
                    f"{done.run_dir} finished with another recipe ({', '.join(changed)} differ)",
                    "drop --resume/--reuse to be told how to start over, or pick a new run_dir=...",
                )
            if stale:
                log.info("seed %d: %s changed since %s finished: continuing it", seed, ", ".join(stale), done.run_dir)
                done = None
            else:
                log.info("seed %d: reused the finished run in %s", seed, done.run_dir)
        runs.append(done if done is not None else run_one(one))
    first = runs[0].results
    row = {k: _over_seeds(v, [r.results["rows"][0].get(k) for r in runs[1:]]) for k, v in first["rows"][0].items()}
    names = [k for k in runs[0].metrics if all(k in r.metrics for r in runs)]
    row["seeds"] = list(seeds)
    row["metrics"] = {k: summarize([r.metrics[k] for r in runs]) for k in names}
    row["train"] = {**(row.get("train") or {}), "wall_s": [round(r.wall_s, 1) for r in runs],
                    "cpu_s": [round(r.cpu_s, 1) for r in runs]}  # fmt: skip
    row["train"].pop("world_size", None)
    doc = make_results(first["name"], [row], first["dataset"], command)
    if out is not None:
        with writing(Path(out).parent):
            write_results(doc, out)
    return SeedRuns(doc, runs)
