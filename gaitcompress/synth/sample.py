"""Generate silhouette sequences and write them as an OpenGait-layout dataset.

Requests are ids × views × covariates (× `per` sequences each). Real ids keep their name, so a generated
sequence of id `007` is one more sample of class `007` when mixed into training. Novel identities are
multi-hot interpolations of `parents` real identity codes (GaitCrafter §3.2): weights 1/parents on randomly
chosen distinct ids, so the code stays a convex combination (the paper sets several entries to 1; normalising
keeps the projected identity vector at the scale the network was trained on). A novel id is named
`syn0000`, `syn0001`, … and, should such a name exist among the real ids, the prefix grows (`synsyn0000`),
so generated ids never collide with real ones. Which parents made each novel id is recorded in
`synth_manifest.json` at the dataset root.

Layout written (what OpenGait's pretreatment produces and `gaitcompress.data` reads): `root/<id>/<type>/<view>/
<view>.pkl`, a pickled `uint8 [T, 64, 64]` in {0, 255}. The model works at the loader's size (64×44 cropped, or
downsampled, e.g. 32×22); clips are upsampled bilinearly to 64×44, thresholded at 0.5, and padded back to 64×64
with 10 zero columns each side — the columns OpenGait's loader cuts — so reading them back gives the model's view.
Types are `<covariate>-syn<k>` (`nm-syn01`, …), k counting per (id, covariate, view), so they never equal a real type.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gaitcompress.data.batch import SeqMeta
from gaitcompress.errors import GaitCompressError
from gaitcompress.progress import NULL, Tracker
from gaitcompress.synth.conditioning import Condition, covariate_of
from gaitcompress.synth.generator import GaitCrafter

LAYOUT_H, LAYOUT_W, CROP = 64, 64, 10  # OpenGait pkl frames are 64×64; its loader drops 10 columns each side


@dataclass(frozen=True)
class SampleConfig:
    ids: tuple[str, ...] = ()  # real ids to generate (empty: all the generator knows)
    views: tuple[str, ...] = ()  # empty: all views
    types: tuple[str, ...] = ()  # covariates (nm, bg, cl) or types (nm-01); empty: all covariates
    real: bool = True  # with no ids given: generate every real id (False: novel ids only)
    per: int = 1  # sequences per (id, view, covariate)
    novel: int = 0  # novel identities (each over all requested views × covariates)
    parents: int = 2  # real identities blended into one novel id
    pool: tuple[str, ...] = ()  # real ids the parents are drawn from (empty: all the generator knows)
    method: str = "ddim"  # ddim | ddpm
    steps: int = 0  # DDIM steps (0: the generator's default)
    guidance: float = 1.0  # classifier-free guidance weight (1 = plain conditioning)
    threshold: float = 0.5
    batch: int = 16
    seed: int = 0
    out: str = "data/synth"


@dataclass
class Plan:
    """Rows to generate: conditions and the meta each output sequence gets, plus novel-id provenance."""

    cond: Condition
    meta: list[SeqMeta]
    novel: dict[str, dict[str, float]] = field(default_factory=dict)  # novel id → {parent id: weight}


def novel_names(count: int, taken: Sequence[str]) -> list[str]:
    """`syn0000`… names, with the prefix grown until none collides with `taken`."""
    prefix = "syn"
    taken_set = set(taken)
    while True:
        names = [f"{prefix}{i:04d}" for i in range(count)]
        if not taken_set.intersection(names):
            return names
        prefix = "syn" + prefix


def plan(generator: GaitCrafter, cfg: SampleConfig) -> Plan:
    """Expand a request into one `Condition` row and one `SeqMeta` per sequence to generate."""
    labels = generator.labels
    ids = list(cfg.ids) if cfg.ids else (list(labels.ids) if cfg.real else [])
    views = list(cfg.views) or list(labels.views)
    covs = [covariate_of(t) for t in cfg.types] or list(labels.covariates)
    k = len(labels.ids)
    pool = [labels.id_index(i) for i in cfg.pool] if cfg.pool else list(range(k))
    if cfg.parents < 1 or cfg.parents > len(pool):
        raise GaitCompressError(f"parents={cfg.parents} but the pool has {len(pool)} ids", f"use 1..{len(pool)}")
    codes: list[torch.Tensor] = [torch.nn.functional.one_hot(torch.tensor(labels.id_index(i)), k).float() for i in ids]
    names = list(ids)
    novel: dict[str, dict[str, float]] = {}
    rng = np.random.default_rng(cfg.seed)
    for name in novel_names(cfg.novel, labels.ids):
        chosen = sorted(rng.choice(pool, size=cfg.parents, replace=False).tolist())
        code = torch.zeros(k)
        code[chosen] = 1.0 / cfg.parents
        codes.append(code)
        names.append(name)
        novel[name] = {labels.ids[j]: 1.0 / cfg.parents for j in chosen}
    rows_code, rows_view, rows_cov, meta = [], [], [], []
    for name, code in zip(names, codes, strict=True):
        for cov in covs:
            for view in views:
                for r in range(cfg.per):
                    rows_code.append(code)
                    rows_view.append(labels.view_index(view))
                    rows_cov.append(labels.covariate_index(cov))
                    meta.append(SeqMeta(id=name, type=f"{cov}-syn{r + 1:02d}", view=view))
    if not meta:
        raise GaitCompressError("nothing to generate", "give --ids, --novel N, or keep the defaults (all ids)")
    cond = Condition(torch.stack(rows_code), torch.tensor(rows_view), torch.tensor(rows_cov))
    return Plan(cond, meta, novel)


def generate_plan(generator: GaitCrafter, p: Plan, cfg: SampleConfig, tracker: Tracker = NULL) -> torch.Tensor:
    """Sample every planned row in batches → float [N, T, H, W] in [0, 1]; batch b uses seed `cfg.seed + b`."""
    out = []
    n = len(p.meta)
    with tracker.task("sampling", total=n) as step:
        for b, start in enumerate(range(0, n, cfg.batch)):
            rows = slice(start, start + cfg.batch)
            cond = Condition(p.cond.id_code[rows], p.cond.view[rows], p.cond.covariate[rows])
            out.append(generator.generate(cond, cfg.seed + b, cfg.method, cfg.guidance, cfg.steps or None).cpu())
            step(len(cond))
    return torch.cat(out)


def to_layout(clips: torch.Tensor, threshold: float = 0.5) -> np.ndarray:
    """Model-size clips [N, T, h, w] in [0, 1] → OpenGait frames uint8 [N, T, 64, 64] in {0, 255}."""
    n, t, h, w = clips.shape
    if (h, w) != (LAYOUT_H, LAYOUT_W - 2 * CROP):
        clips = F.interpolate(
            clips.reshape(n * t, 1, h, w), size=(LAYOUT_H, LAYOUT_W - 2 * CROP), mode="bilinear", align_corners=False
        ).reshape(n, t, LAYOUT_H, LAYOUT_W - 2 * CROP)  # [N·T, 1, h, w] → [N, T, 64, 44]
    binary = (clips >= threshold).to(torch.uint8) * 255
    return F.pad(binary, (CROP, CROP)).numpy()  # [N, T, 64, 44] → [N, T, 64, 64]


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_dataset(
    root: str | Path, frames: np.ndarray, meta: Sequence[SeqMeta], novel: dict[str, dict[str, float]] | None = None
) -> Path:
    """Write uint8 [N, T, 64, 64] sequences in the OpenGait layout with a partition JSON (all ids in TRAIN_SET)."""
    root = Path(root)
    if len(frames) != len(meta):
        raise ValueError(f"{len(frames)} sequences but {len(meta)} meta entries")
    for seq, m in zip(frames, meta, strict=True):
        _atomic_write(root / m.id / m.type / m.view / f"{m.view}.pkl", pickle.dumps(np.ascontiguousarray(seq)))
    ids = sorted({m.id for m in meta})
    partition = {"TRAIN_SET": ids, "TEST_SET": []}
    _atomic_write(root / "partition.json", json.dumps(partition, indent=1).encode())
    manifest = {"generator": "gaitcrafter", "sequences": len(meta), "novel": novel or {}}
    _atomic_write(root / "synth_manifest.json", json.dumps(manifest, indent=1).encode())
    return root / "partition.json"
