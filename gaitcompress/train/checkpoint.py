"""Checkpoints that survive a crash: atomic writes, keep-last-N, a `latest` pointer, exact resume.

Layout inside a run folder:

    checkpoints/ckpt_000100.pt   periodic checkpoints (the newest `keep_last` are kept)
    checkpoints/latest           text file naming the newest complete checkpoint
    final.pt                     the checkpoint of the last iteration (stable path for later stages)

Each file holds the dict of docs/architecture.md: `model` (deploy state dict, OpenGait-compatible for GaitBase),
`spec`, `train_state`, `optimizer`, `scheduler`, `scaler`, `iteration`, `rng` (per rank: python, numpy, torch,
CUDA and data-sampler state), `recipe`, `kind`. A file is written to a temporary name, fsync-ed, then
`os.replace`-d onto its final name, so a kill at any moment leaves either the old or the new file, never half of
one. Everything in it loads with `torch.load(weights_only=True)` (RNG states are stored as tensors and plain lists).
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaitcompress.errors import GaitCompressError

CKPT_DIR = "checkpoints"
FINAL = "final.pt"
_NAME = re.compile(r"^ckpt_(\d+)\.pt$")


def atomic_save(obj: Any, path: str | Path) -> Path:
    """`torch.save` to a temp file beside `path`, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def atomic_write_text(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


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
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise GaitCompressError(
            f"{path}: not a loadable PyTorch checkpoint ({str(exc).splitlines()[0] if str(exc) else exc!r})",
            "pass a .pt/.pth file written by gaitcompress or OpenGait (weights only, no pickled code)",
        ) from None
    if not isinstance(ckpt, dict):
        raise GaitCompressError(f"{path}: expected a checkpoint dict, got {type(ckpt).__name__}")
    return ckpt


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
        self._prune()
        return path

    def _prune(self) -> None:
        for old in self.periodic()[: -self.keep_last]:
            old.unlink(missing_ok=True)
        for tmp in self.dir.glob(".*.tmp"):  # left by a process killed mid-write
            if tmp.name.split(".")[-2] != str(os.getpid()):
                tmp.unlink(missing_ok=True)

    def periodic(self) -> list[Path]:
        """Checkpoint files, oldest first."""
        if not self.dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.dir.iterdir() if (m := _NAME.match(p.name))]
        return [p for _, p in sorted(found)]

    def latest(self) -> Path | None:
        """The newest checkpoint that loads: the `latest` pointer, else the newest file by iteration."""
        pointer = self.dir / "latest"
        candidates = self.periodic()[::-1]
        if pointer.is_file():
            named = self.dir / pointer.read_text().strip()
            if named.is_file():
                candidates.insert(0, named)
        for path in candidates:
            try:
                load(path)
            except GaitCompressError:
                continue
            return path
        return None


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
    raise GaitCompressError(f"no checkpoint at {path}", "pass a .pt file or a run folder that holds checkpoints/")
