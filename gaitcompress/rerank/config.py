"""The `gaitcompress rerank` recipe, as frozen dataclasses (see recipes/synthgait/rerank_*.yaml).

model: runs/synthgait/teacher_quick/final.pt   # the frozen first-stage checkpoint
data: {}                                       # overrides of that checkpoint's own data section
head: {features: embeddings, heads: 4, hidden: 256}
pairs: {top_v: 30, probes_per_batch: 16, lists: protocol}
loss: {beta: 0.1, alpha: 0.01}
rerank: {k: 10}
kreciprocal: {k1: 20, k2: 6, lam: 0.3}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gaitcompress.errors import GaitCompressError
from gaitcompress.recipe import from_dict
from gaitcompress.rerank.head import FEATURE_SOURCES
from gaitcompress.train.config import OptimConfig, SchedConfig, TrainConfig

PAIR_LISTS = ("protocol", "all")


@dataclass(frozen=True)
class HeadConfig:
    features: str = "embeddings"  # strips the head reads: embeddings [N, E, P] or parts [N, C', P] (DESIGN §3)
    heads: int = 4  # attention heads; must divide the strip dimension
    hidden: int = 256  # width of the training-only MLP classifier
    dropout: float = 0.0


@dataclass(frozen=True)
class PairsConfig:
    top_v: int = 30  # candidates per training list (paper: v = 30)
    probes_per_batch: int = 16  # lists per batch
    lists: str = "protocol"  # protocol: rank training probes as the evaluation protocol does | all: against all


@dataclass(frozen=True)
class LossConfig:
    beta: float = 0.1  # weight of triplets stage 1 already ranks correctly
    alpha: float = 0.01  # weight of the classification regulariser


@dataclass(frozen=True)
class RerankConfig:
    k: int = 10  # the top K of every probe is re-ranked
    metric: str = "euc"  # first-stage distance (euc | cos)
    protocol: str | None = None  # default: the data section's protocol


@dataclass(frozen=True)
class KReciprocalConfig:
    k1: int = 20
    k2: int = 6
    lam: float = 0.3


@dataclass(frozen=True)
class RerankRecipe:
    name: str = "rerank"
    method: str = "rerank-cargait"
    seed: int = 0
    run_dir: str = "runs/rerank"
    source: str = ""
    model: str = ""  # frozen gait model checkpoint (file or run folder)
    label: str = ""  # what the base model is, for the table (e.g. "teacher")
    bits: str = "fp32"  # the base model's precision, for the table (e.g. "w8a8")
    data: dict[str, Any] = field(default_factory=dict)
    head: HeadConfig = field(default_factory=HeadConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-3, weight_decay=0.0))
    sched: SchedConfig = field(default_factory=lambda: SchedConfig(name="cosine"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(iterations=300, log_every=20, tensorboard=False))
    rerank: RerankConfig = field(default_factory=RerankConfig)
    kreciprocal: KReciprocalConfig = field(default_factory=KReciprocalConfig)


def parse_rerank_recipe(recipe: dict[str, Any]) -> RerankRecipe:
    where = recipe.get("source") or "recipe"
    cfg = from_dict(RerankRecipe, recipe, str(where))
    if not cfg.model:
        raise GaitCompressError(f"{where}: no `model:` checkpoint to re-rank", "set model=runs/<run>/final.pt")
    if cfg.head.features not in FEATURE_SOURCES:
        raise GaitCompressError(f"{where}: head.features={cfg.head.features!r}", f"use one of {FEATURE_SOURCES}")
    if cfg.pairs.lists not in PAIR_LISTS:
        raise GaitCompressError(f"{where}: pairs.lists={cfg.pairs.lists!r}", f"use one of {PAIR_LISTS}")
    if cfg.rerank.k < 2 or cfg.pairs.top_v < 2:
        raise GaitCompressError(f"{where}: rerank.k and pairs.top_v must be ≥ 2", "the paper uses k=10, top_v=30")
    return cfg
