"""The one checkpoint module: atomic writes, safe loads, run-folder layout, RNG state, loading a model by its `kind`.

Every file gaitcompress writes that a later run trusts (checkpoints, `final.pt`, results, logs) goes through
`atomic_save` / `atomic_write_text`: written to a temp name beside the target, fsync-ed, then `os.replace`-d onto it,
so a kill at any moment leaves the old file or the new one, never half of one. A write that fails (full disk,
read-only folder, no permission) removes its temp file and becomes one `GaitCompressError` naming the folder.

Every checkpoint is read by `load` (`torch.load(weights_only=True)` onto the CPU: a checkpoint is data, never code).
`load_model` rebuilds the model a checkpoint holds through the builder registered for its `kind` (`fp32` by
`gaitcompress.models`, `qat` by `gaitcompress.quant`), after refusing non-finite weights.

Layout inside a run folder:

    checkpoints/ckpt_000100.pt   periodic checkpoints (the newest `keep_last` are kept)
    checkpoints/latest           text file naming the newest complete checkpoint
    checkpoints/ckpt_000120.pt.untrusted   written after a non-finite loss appeared: never resumed from
    final.pt                     the checkpoint of the last iteration (stable path for later stages)

A checkpoint dict (docs/architecture.md): `model` (deploy state dict, OpenGait-compatible for GaitBase), `spec`,
`train_state`, `optimizer`, `scheduler`, `scaler`, `iteration`, `rng` (per rank), `metrics`, `trusted_iteration`
(the last iteration whose evaluation was finite), `recipe`, `kind`.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import re
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gaitcompress.errors import GaitCompressError
from gaitcompress.registry import Registry

CKPT_DIR = "checkpoints"
FINAL = "final.pt"
UNTRUSTED = ".untrusted"  # suffix of a checkpoint written after training diverged
MIN_FREE_BYTES = 64 * 2**20  # refuse to start a run in a folder with less room than this
log = logging.getLogger("gaitcompress.run")  # run notices: what was resumed, skipped, marked (the CLI shows them)
_NAME = re.compile(r"^ckpt_(\d+)\.pt$")
_WRITE_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EROFS: "the folder is read-only",
                 errno.EACCES: "no permission to write there", errno.EDQUOT: "the disk quota is exceeded"}  # fmt: skip


# ---------------------------------------------------------------- writing --------------------------------------------


def write_error(folder: Path, exc: BaseException) -> GaitCompressError:
    """The one error a failed write becomes: which folder, and why in words."""
    code = getattr(exc, "errno", None)
    reason = _WRITE_ERRNOS.get(code) if code is not None else None
    if reason is None:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = os.strerror(code) if code else text
    return GaitCompressError(
        f"cannot write into {folder}: {reason}", "free space or pick a writable folder (run_dir=... / --out ...)"
    )


def _write_atomic(path: Path, write: Callable[[Any], None], mode: str) -> Path:
    """Write through `write(file)` to a temp file beside `path`, fsync, rename; clean up and explain any failure."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path.parent, exc) from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with _interrupt_deferred():  # a Ctrl-C mid-write is raised once the file is in place
        try:
            with open(tmp, mode) as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except (OSError, RuntimeError) as exc:  # torch.save reports a failed file write as a RuntimeError
            tmp.unlink(missing_ok=True)
            raise write_error(path.parent, exc) from None
        except BaseException:  # a signal turned exception mid-write: no temp file left behind
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
    return path


@contextmanager
def _interrupt_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (or SIGTERM) that arrives mid-write until the write is done, then deliver it.

    torch.save writes through C++: a KeyboardInterrupt raised inside its file callback is swallowed there and the
    writer then fails with "unexpected pos", which would read as a disk error and lose both the interrupt and the
    checkpoint. A write takes well under a second, so the signal lands right after it, with the file complete.
    Only signals with a Python handler (Ctrl-C's default, the CLI's SIGTERM) are held; ignored or default-action
    signals keep their meaning, and only the main thread may set handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {s: h for s in (signal.SIGINT, signal.SIGTERM) if callable(h := signal.getsignal(s))}
    caught: list[int] = []
    for signum in held:
        signal.signal(signum, lambda number, _frame: caught.append(number))
    try:
        yield
    finally:
        for signum, handler in held.items():
            signal.signal(signum, handler)
    if caught:
        held[caught[0]](caught[0], None)  # its own handler, now: Ctrl-C's raises KeyboardInterrupt


def atomic_save(obj: Any, path: str | Path) -> Path:
    """`torch.save(obj)` onto `path` atomically (see the module docstring)."""
    return _write_atomic(Path(path), lambda f: torch.save(obj, f), "wb")


def atomic_write_text(text: str, path: str | Path) -> Path:
    """Write `text` onto `path` atomically."""
    return _write_atomic(Path(path), lambda f: f.write(text), "w")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable(folder: str | Path, need_bytes: int = MIN_FREE_BYTES) -> Path:
    """Create `folder` and prove it takes a file and has `need_bytes` free, before any work is spent on a run."""
    folder = Path(folder)
    probe = folder / f".write-probe.{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"0")
    except OSError as exc:
        raise write_error(folder, exc) from None
    finally:
        probe.unlink(missing_ok=True)
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise GaitCompressError(
            f"cannot write into {folder}: only {free / 2**20:.1f} MiB free (a run needs {need_bytes / 2**20:.0f} MiB)",
            "free space or pick another folder (run_dir=... / --out ...)",
        )
    return folder


# ---------------------------------------------------------------- reading --------------------------------------------


def load(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict safely (`weights_only=True`) onto the CPU; a missing or damaged file is a user error.

    Loading onto the CPU first lets a checkpoint saved on a GPU open on a machine without one; `weights_only`
    refuses pickled code, so a foreign file cannot run anything.
    """
    path = Path(path)
    if not path.is_file():
        raise GaitCompressError(f"checkpoint not found: {path}", "check the path (a .pt file or a run folder)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for a truncated or foreign file; its text advises weights_only=False
        hint = (
            "gaitcompress info reads an ONNX file's metadata; eval/quantize need the .pt it was exported from"
            if path.suffix.lower() == ".onnx"
            else "pass a .pt/.pth file written by gaitcompress or OpenGait (weights only, no pickled code)"
        )
        raise GaitCompressError(f"{path}: not a PyTorch weights file gaitcompress can read (a .pt/.pth of tensors)",
                                hint) from None  # fmt: skip
    if not isinstance(ckpt, dict):
        raise GaitCompressError(f"{path}: expected a checkpoint dict, got {type(ckpt).__name__}")
    return ckpt


def model_state(ckpt: Mapping[str, Any], path: str | Path) -> dict[str, Tensor]:
    """The model state dict of a loaded checkpoint: gaitcompress/OpenGait `{'model': ...}` or a bare state dict."""
    if isinstance(ckpt.get("model"), Mapping):
        return dict(ckpt["model"])
    if ckpt and all(isinstance(v, Tensor) for v in ckpt.values()):
        return dict(ckpt)
    raise GaitCompressError(
        f"{path}: no model weights found (expected a dict with a 'model' state dict)",
        "OpenGait checkpoints are {'model': ..., 'optimizer': ..., 'iteration': ...}",
    )


def non_finite(state: Mapping[str, Tensor]) -> list[str]:
    """Keys of the floating-point tensors in `state` holding a NaN or an infinity."""
    return [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]


def check_finite(state: Mapping[str, Tensor], path: str | Path) -> None:
    """Refuse weights with NaN/inf: a model that diverged must not be scored, exported, quantized or benchmarked."""
    bad = non_finite(state)
    if bad:
        raise GaitCompressError(
            f"{path}: non-finite weights (NaN/inf) in {len(bad)} tensors, e.g. {', '.join(bad[:3])}",
            "the training diverged: use an earlier checkpoint from its run folder, or retrain with a lower optim.lr",
        )


# ---------------------------------------------------------------- models by kind -------------------------------------

# kind -> builder(ckpt, path, name=..., num_classes=...) -> nn.Module; `gaitcompress.models` registers 'fp32',
# `gaitcompress.quant` registers 'qat' (each at import, so this bottom module never imports them)
KINDS = Registry("checkpoint kind")


def load_model(
    path: str | Path, name: str | None = None, num_classes: int | None = None, device: str | torch.device = "cpu"
) -> nn.Module:
    """The model in `path` (a .pt file or a run folder) rebuilt by its `kind`, finite-checked, in eval mode.

    `name` picks the variant for OpenGait checkpoints, which carry no spec; `num_classes`, when given, must agree.
    """
    path = resolve_checkpoint(path)
    ckpt = load(path)
    check_finite(model_state(ckpt, path), path)
    kind = ckpt.get("kind") or "fp32"
    if kind not in KINDS.names():
        raise GaitCompressError(
            f"{path}: checkpoint kind {kind!r} has no loader here (known: {', '.join(KINDS.names()) or 'none'})",
            "import gaitcompress.models (fp32) or gaitcompress.quant (qat) before loading",
        )
    model = KINDS.get(kind)(ckpt, path, name=name, num_classes=num_classes)
    return model.to(device).eval()


# ---------------------------------------------------------------- RNG state ------------------------------------------


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch (and CUDA) generator states in a form `weights_only` loading accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, pystate, pygauss = random.getstate()
    state: dict[str, Any] = {
        "python": [version, list(pystate), pygauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch: a run with the same seed and recipe repeats on the same machine."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_rng_state(state: dict[str, Any]) -> None:
    version, pystate, pygauss = state["python"]
    random.setstate((version, tuple(pystate), pygauss))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------- run folder -----------------------------------------


def iteration_of(path: Path) -> int:
    """The iteration in a periodic checkpoint's name (`ckpt_000100.pt` → 100)."""
    return int(path.name.split("_")[1].split(".")[0])


class CheckpointDir:
    """The checkpoints of one run folder: save with pruning and a `latest` pointer, find the newest to resume."""

    def __init__(self, run_dir: str | Path, keep_last: int = 2) -> None:
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / CKPT_DIR
        self.keep_last = max(1, keep_last)

    def path(self, iteration: int) -> Path:
        return self.dir / f"ckpt_{iteration:06d}.pt"

    def save(self, ckpt: dict[str, Any], final: bool = False) -> Path:
        """Write `ckpt` for its iteration, move `latest` to it, prune old ones; `final` also writes final.pt."""
        path = atomic_save(ckpt, self.path(int(ckpt["iteration"])))
        atomic_write_text(path.name + "\n", self.dir / "latest")
        if final:
            atomic_save(ckpt, self.run_dir / FINAL)
        self._prune(keep=int(ckpt.get("trusted_iteration") or 0))
        return path

    def _prune(self, keep: int = 0) -> None:
        """Drop all but the newest `keep_last` periodic checkpoints, and the one at iteration `keep`."""
        for old in self.periodic()[: -self.keep_last]:
            if iteration_of(old) != keep:  # the last checkpoint with a finite evaluation outlives the window
                old.unlink(missing_ok=True)

    def periodic(self) -> list[Path]:
        """Checkpoint files, oldest first."""
        if not self.dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.dir.iterdir() if (m := _NAME.match(p.name))]
        return [p for _, p in sorted(found)]

    def any(self) -> bool:
        """Whether this folder holds any checkpoint (periodic or final) a run could continue from."""
        return bool(self.periodic()) or (self.run_dir / FINAL).is_file()

    def latest(self) -> Path | None:
        """The newest checkpoint that loads: the `latest` pointer, else the newest file by iteration.

        A newer one that does not load is skipped with a warning naming it; none that loads, among some that exist,
        is an error (a run must never silently start over from iteration 0).
        """
        candidates = self.periodic()[::-1]
        pointer = self.dir / "latest"
        if pointer.is_file():
            named = self.dir / pointer.read_text().strip()
            if named in candidates:
                candidates.remove(named)
                candidates.insert(0, named)
        skipped: list[str] = []
        for path in candidates:
            try:
                load(path)
            except GaitCompressError as exc:
                skipped.append(f"{path.name} ({exc.message.split(': ', 1)[-1]})")
                continue
            if skipped:
                log.warning("skipped unreadable checkpoint %s; using %s", ", ".join(skipped), path)
            return path
        if skipped:
            raise GaitCompressError(
                f"no readable checkpoint in {self.dir}: {', '.join(skipped)}",
                "start over with --restart, or restore a checkpoint file",
            )
        return None

    def mark_untrusted(self, after: int) -> list[Path]:
        """Rename every checkpoint past iteration `after` to `*.untrusted` (never resumed from); returns them."""
        marked = []
        for path in self.periodic():
            if iteration_of(path) > after:
                target = path.with_name(path.name + UNTRUSTED)
                os.replace(path, target)
                marked.append(target)
        trusted = [p for p in self.periodic() if iteration_of(p) <= after]
        if trusted:
            atomic_write_text(trusted[-1].name + "\n", self.dir / "latest")
        else:
            (self.dir / "latest").unlink(missing_ok=True)
        return marked

    def clear(self) -> None:
        """Remove every checkpoint and `final.pt` (a run started over with --restart)."""
        if self.dir.is_dir():
            shutil.rmtree(self.dir)
        (self.run_dir / FINAL).unlink(missing_ok=True)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file from a file, a run folder (its final.pt, else latest) or a checkpoints folder."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        if (path / FINAL).is_file():
            return path / FINAL
        run_dir = path.parent if path.name == CKPT_DIR else path
        found = CheckpointDir(run_dir).latest()
        if found is not None:
            return found
    where = f"no checkpoint at {path}" + ("" if path.exists() else ": not found")
    raise GaitCompressError(where, "pass a .pt file or a run folder that holds checkpoints/")
