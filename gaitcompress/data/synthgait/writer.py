"""Generate a SynthGait set into an OpenGait-layout folder, in parallel, reproducibly, and cache it.

Each sequence is a pure function of (seed, id, type, view): identity from `(seed, 1, id)`, session and
nuisance from `(seed, 2, id, type, view)`, so the bytes do not depend on the number of processes or the
order of work. Files are written atomically (temporary name + rename); `synthgait.json` is written last
and marks the folder complete, so an interrupted run is simply regenerated.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import pickle
from pathlib import Path

import numpy as np

from gaitcompress.data.synthgait.body import build_scene
from gaitcompress.data.synthgait.config import GENERATOR_VERSION, SynthConfig
from gaitcompress.data.synthgait.identity import Identity, sample_identity, sample_nuisance, sample_session
from gaitcompress.data.synthgait.pretreat import normalise
from gaitcompress.data.synthgait.raster import render
from gaitcompress.errors import GaitCompressError
from gaitcompress.progress import NULL, Tracker

MANIFEST = "synthgait.json"


def render_sequence(
    cfg: SynthConfig, subject: int, type_: str, view: int, identity: Identity | None = None
) -> np.ndarray:
    """uint8 `[frames, size, size]` for subject number `subject` (1-based), type e.g. 'bg-01', view in degrees.

    `identity` walks in the subject's place (same session and nuisance draws): what a change of identity alone
    moves in the pixels, the real-data reference of the GaitCrafter judge's label sensitivity.
    """
    ident = sample_identity(cfg.seed, subject) if identity is None else identity
    rng = np.random.default_rng((cfg.seed, 2, subject, cfg.types.index(type_), view))
    session = sample_session(ident, rng, cfg.difficulty)
    nuisance = sample_nuisance(rng, cfg.difficulty)
    phase = nuisance.phase + 2 * np.pi * np.arange(cfg.frames) / session.gait["period"]
    scene = build_scene(session, phase, bag=type_.startswith("bg"), coat=type_.startswith("cl"))
    sils = render(scene, view + nuisance.view_jitter, nuisance, rng)
    return normalise(sils, cfg.size)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _work(args: tuple[SynthConfig, str, int, list[tuple[str, int]]]) -> int:
    """Render and write the given (type, view) sequences of one subject; returns how many were written."""
    cfg, out, subject, sequences = args
    for type_, view in sequences:
        name = f"{view:03d}"
        folder = Path(out) / cfg.id_name(subject) / type_ / name
        folder.mkdir(parents=True, exist_ok=True)
        data = pickle.dumps(render_sequence(cfg, subject, type_, view), protocol=4)
        _write_atomic(folder / f"{name}.pkl", data)
    return len(sequences)


def _tasks(cfg: SynthConfig, out: Path) -> list[tuple[SynthConfig, str, int, list[tuple[str, int]]]]:
    """Units of work: one per (subject, type) in the casiab layout, one per subject (≤ a few walks) in gait3d."""
    tasks = []
    for s in range(1, cfg.ids + 1):
        by_type: dict[str, list[tuple[str, int]]] = {}
        for type_, view in cfg.sequences(s):
            by_type.setdefault(type_ if cfg.layout == "casiab" else "", []).append((type_, view))
        tasks += [(cfg, str(out), s, seqs) for seqs in by_type.values()]
    return tasks


def read_manifest(out: Path) -> dict | None:
    try:
        return json.loads((out / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def generate(cfg: SynthConfig, out: str | Path, tracker: Tracker = NULL, processes: int = 2) -> Path:
    """Write the set to `out` (OpenGait layout + partition.json + synthgait.json) and return `out`."""
    out = Path(out)
    manifest = read_manifest(out)
    if manifest is not None and manifest.get("digest") != cfg.digest():
        raise GaitCompressError(
            f"{out} already holds a different SynthGait set ({manifest.get('settings')})",
            "choose another output folder or delete this one",
        )
    out.mkdir(parents=True, exist_ok=True)
    tasks = _tasks(cfg, out)
    with tracker.task(f"SynthGait → {out}", total=sum(len(t[3]) for t in tasks)) as step:
        if processes <= 1:
            for task in tasks:
                step(_work(task))
        else:
            ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
            with ctx.Pool(processes) as pool:
                for n in pool.imap_unordered(_work, tasks, chunksize=2):
                    step(n)
    ids = cfg.id_names
    partition = {"TRAIN_SET": ids[: cfg.train], "TEST_SET": ids[cfg.train :]}
    if cfg.layout == "gait3d":
        partition["PROBE_SET"] = [cfg.probe_key(s) for s in range(cfg.train + 1, cfg.ids + 1)]
    _write_atomic(out / "partition.json", json.dumps(partition, indent=1).encode())
    doc = {"generator": GENERATOR_VERSION, "digest": cfg.digest(), "settings": dataclasses.asdict(cfg)}
    _write_atomic(out / MANIFEST, json.dumps(doc, indent=1).encode())
    return out


def cache_dir(cfg: SynthConfig) -> Path:
    """Where `ensure_generated` keeps the set: `$GAITCOMPRESS_DATA/synthgait-<hash>` (default `./data/`)."""
    return Path(os.environ.get("GAITCOMPRESS_DATA", "data")) / f"synthgait-{cfg.digest()}"


def ensure_generated(cfg: SynthConfig, tracker: Tracker = NULL, processes: int | None = None) -> Path:
    """The cached set for `cfg`, generated first if it is missing or incomplete."""
    out = cache_dir(cfg)
    manifest = read_manifest(out)
    if manifest is not None and manifest.get("digest") == cfg.digest():
        return out
    return generate(cfg, out, tracker, processes or min(2, os.cpu_count() or 1))
