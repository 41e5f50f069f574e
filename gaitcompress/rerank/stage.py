"""`gaitcompress rerank train|eval`: train a CarGait head on a frozen gait model and compare re-rankers.

Both stages extract the frozen model's features of the training and test splits once (cached in the run folder
as `features.pt`, keyed by the checkpoint), so training the head never runs the gait model again. Evaluation
scores the test set three ways with the recipe's protocol — no re-ranking, k-reciprocal, CarGait — and writes
`metrics.json` (DESIGN §15; methods `rerank-none`, `rerank-kreciprocal`, `rerank-cargait`).

`train_rerank` runs in the harness life cycle (`gaitcompress.harness.run_stage`: lock, resume rules, seed,
`recipe.yaml`, Ctrl-C) on the run folder; its own work is the features, one head per seed (`fit_head`, in the
folder itself for one seed, in `seed<N>/` for several) and the comparison. `eval_rerank` holds the folder's lock
while it scores the saved heads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gaitcompress import checkpoints
from gaitcompress.data import DataConfig, SeqMeta, build_test_loader, probe_set, train_ids
from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation import Features, build_protocol, evaluate, extract_features
from gaitcompress.harness import Run, RunLock, StageResult, run_stage, writing
from gaitcompress.progress import NULL, Tracker
from gaitcompress.quant import load_model  # from here: the 'qat' checkpoint kind is registered
from gaitcompress.recipe import from_dict, merge, save_recipe, to_dict
from gaitcompress.rerank.cargait import CarGaitReranker
from gaitcompress.rerank.config import RerankRecipe, parse_rerank_recipe
from gaitcompress.rerank.cost import cost_per_probe
from gaitcompress.rerank.head import CarGaitHead, build_head
from gaitcompress.rerank.kreciprocal import KReciprocalReranker
from gaitcompress.rerank.module import CarGaitModule
from gaitcompress.rerank.pairs import Block, all_blocks, build_pair_set, cross_view_blocks, pair_batches
from gaitcompress.results import make_results, read_results, summarize, write_results
from gaitcompress.train.engine import Trainer


def load_frozen_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The first-stage model (FP32 or QAT checkpoint) in eval mode, and its checkpoint dict."""
    file = checkpoints.resolve_checkpoint(path)
    # any kind, finite-checked; a QAT model comes back fake-quantized with hard rounding: what deploys
    model, ckpt = load_model(file), checkpoints.load(file)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval(), ckpt


def data_config(recipe: RerankRecipe, ckpt: dict[str, Any]) -> DataConfig:
    """The frozen model's own data section (from its checkpoint), with the recipe's `data:` merged over it."""
    stored = (ckpt.get("recipe") or {}).get("data") or {}
    if not stored and not recipe.data:
        raise GaitCompressError(
            f"{recipe.model} stores no data section and the recipe has none", "add a data: section to the recipe"
        )
    return from_dict(DataConfig, merge(stored, recipe.data), f"{recipe.source or 'recipe'}: data")


def cached_features(
    model: nn.Module, data_cfg: DataConfig, run_dir: Path, key: str, tracker: Tracker = NULL
) -> dict[str, Features]:
    """{'train', 'test'} features with `parts`, extracted once per (checkpoint, data) and cached in `run_dir`."""
    path = run_dir / "features.pt"
    if path.is_file():
        try:
            cached = checkpoints.load(path)  # tensors and strings only
        except GaitCompressError:  # a damaged cache is extracted again
            cached = {}
        if cached.get("key") == key:
            return {split: _unpack(v) for split, v in cached["features"].items()}
    feats = {
        split: extract_features(model, build_test_loader(data_cfg, split=split), tracker=tracker, keep_parts=True)
        for split in ("train", "test")
    }
    checkpoints.atomic_save({"key": key, "features": {split: _pack(f) for split, f in feats.items()}}, path)
    return feats


def read_features(path: str | Path) -> dict[str, Features]:
    """The {'train', 'test'} features a rerank run cached as `features.pt` (what experiment drivers re-use)."""
    return {split: _unpack(v) for split, v in checkpoints.load(path)["features"].items()}


def _pack(f: Features) -> dict[str, Any]:
    return {"embeddings": f.embeddings, "parts": f.parts, "meta": [[m.id, m.type, m.view] for m in f.meta]}


def _unpack(d: dict[str, Any]) -> Features:
    return Features(d["embeddings"], [SeqMeta(*m) for m in d["meta"]], d["parts"])


def _key(model_path: str, data_cfg: DataConfig) -> str:
    file = checkpoints.resolve_checkpoint(model_path)
    stat = file.stat()
    return hashlib.sha256(
        f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{to_dict(data_cfg)}".encode()
    ).hexdigest()


def prepare(recipe: RerankRecipe, tracker: Tracker = NULL) -> tuple[DataConfig, dict[str, Features]]:
    """The data config and the train/test features of the frozen model (cached in the recipe's run folder)."""
    model, ckpt = load_frozen_model(recipe.model)
    data_cfg = data_config(recipe, ckpt)
    run_dir = Path(recipe.run_dir)
    checkpoints.check_writable(run_dir)
    return data_cfg, cached_features(model, data_cfg, run_dir, _key(recipe.model, data_cfg), tracker)


def protocol_name(recipe: RerankRecipe, data_cfg: DataConfig) -> str:
    return recipe.rerank.protocol or data_cfg.protocol


def protocol_options(recipe: RerankRecipe, data_cfg: DataConfig) -> dict[str, Any]:
    """What the protocol needs from the dataset besides the features: Gait3D's PROBE_SET."""
    return {"probe_set": probe_set(data_cfg)} if protocol_name(recipe, data_cfg) == "gait3d" else {}


def training_blocks(recipe: RerankRecipe, data_cfg: DataConfig, train: Features) -> list[Block]:
    """The (probe, gallery) blocks the head's training lists come from: a cross-view protocol's cells
    (`pairs.lists: protocol` with casiab / oumvlp), else every training sequence against all others."""
    if recipe.pairs.lists == "protocol":
        try:
            gallery_types = getattr(build_protocol(protocol_name(recipe, data_cfg)), "gallery_types", None)
        except GaitCompressError:  # a protocol that needs options (gait3d's probe set) has no view cells
            gallery_types = None
        if gallery_types:
            return cross_view_blocks(train, gallery_types)
    return all_blocks(train)


def cargait_metrics(
    recipe: RerankRecipe, data_cfg: DataConfig, feats: dict[str, Features], head: CarGaitHead
) -> dict[str, float]:
    """Test-set metrics with the head re-ranking every probe's top K."""
    reranker = CarGaitReranker(head, recipe.rerank.k)
    protocol, options = protocol_name(recipe, data_cfg), protocol_options(recipe, data_cfg)
    return evaluate(feats["test"], protocol, recipe.rerank.metric, rerank=reranker, **options).metrics


def fit_head(
    recipe: RerankRecipe,
    raw: dict[str, Any],
    data_cfg: DataConfig,
    feats: dict[str, Features],
    tracker: Tracker,
    score: Callable[[CarGaitHead], dict[str, float]] | None = None,
    resume: bool = False,
) -> dict[str, float]:
    """Train one head with the shared engine into `recipe.run_dir` on the lists of `feats['train']`; returns its
    test metrics, or what `score(head)` returns (e.g. metrics on a validation split of the training identities).
    With `resume` it continues from the folder's newest checkpoint (a finished head is only scored again)."""
    torch.manual_seed(recipe.seed)
    source = feats["train"].parts if recipe.head.features == "parts" else feats["train"].embeddings
    head = CarGaitHead(source.shape[1], source.shape[2], recipe.head.heads, recipe.head.features, recipe.head.dropout)
    module = CarGaitModule(head, len(train_ids(data_cfg)), recipe.head.hidden, recipe.loss.beta, recipe.loss.alpha)
    blocks = training_blocks(recipe, data_cfg, feats["train"])
    pairs = build_pair_set(feats["train"], recipe.head.features, recipe.pairs.top_v, recipe.rerank.metric, blocks)
    save_recipe(raw, Path(recipe.run_dir) / "recipe.yaml")
    trainer = Trainer(
        module,
        pair_batches(pairs, recipe.pairs.probes_per_batch, recipe.seed),
        recipe.run_dir,
        recipe.train,
        recipe.optim,
        recipe.sched,
        eval_fn=score or (lambda trained: cargait_metrics(recipe, data_cfg, feats, trained)),
        tracker=tracker,
        meta={"recipe": raw, "kind": "rerank"},
    )
    return trainer.fit(resume=resume)


def seed_runs(recipe: RerankRecipe, seeds: list[int]) -> list[RerankRecipe]:
    """One recipe per seed; with several seeds each head gets its own folder `<run_dir>/seed<N>`."""
    if len(seeds) == 1:
        return [replace(recipe, seed=seeds[0])]
    return [replace(recipe, seed=s, run_dir=str(Path(recipe.run_dir) / f"seed{s}")) for s in seeds]


def train_rerank(
    recipe: RerankRecipe,
    raw: dict[str, Any],
    seeds: list[int] | None = None,
    tracker: Tracker = NULL,
    resume: bool = False,
    restart: bool = False,
    command: str | None = None,
) -> dict[str, Any]:
    """Train a head per seed on the frozen model's cached features, compare with the baselines, write metrics."""
    seeds = seeds or [recipe.seed]
    if len(seeds) == 1:  # the head lives in the run folder itself: its recipe.yaml is the one with its seed
        raw = {**raw, "seed": seeds[0]}
    done = run_stage(
        raw, RerankRecipe, lambda run: _train_heads(run, seeds), parse=parse_rerank_recipe, tracker=tracker,
        resume=resume, restart=restart, command=command,
    )  # fmt: skip
    return done.results


def _train_heads(run: Run, seeds: list[int]) -> StageResult:
    recipe, raw = run.cfg, run.recipe
    data_cfg, feats = prepare(recipe, run.tracker)
    cargait = [
        fit_head(
            one, {**raw, "seed": one.seed, "run_dir": one.run_dir}, data_cfg, feats, run.tracker, resume=run.resume
        )  # fmt: skip
        for one in seed_runs(recipe, seeds)
    ]
    doc = compare(recipe, data_cfg, feats, cargait, seeds, run.command)
    run.write_results(doc)
    return StageResult(run.run_dir, {k: v["mean"] for k, v in doc["rows"][-1]["metrics"].items()}, doc)


def load_head(path: str | Path) -> CarGaitHead:
    """A trained CarGait head from its checkpoint (file or run folder), in eval mode."""
    file = checkpoints.resolve_checkpoint(path)
    ckpt = checkpoints.load(file)
    if ckpt.get("kind") != "rerank" or not ckpt.get("spec"):
        raise GaitCompressError(f"{file} is not a CarGait head checkpoint", "train one with gaitcompress rerank train")
    head = build_head(ckpt["spec"])
    head.load_state_dict(ckpt["model"])
    return head.eval()


def trained_heads(run_dir: str | Path) -> dict[int | None, CarGaitHead]:
    """The heads of a rerank run: one per `seed<N>` sub-folder, else the folder's own (key None)."""
    run_dir = Path(run_dir)
    seeded = sorted(run_dir.glob("seed*/final.pt"), key=lambda p: int(p.parent.name[4:]))
    if seeded:
        return {int(p.parent.name[4:]): load_head(p) for p in seeded}
    return {None: load_head(run_dir)}


def eval_rerank(recipe: RerankRecipe, tracker: Tracker = NULL, command: str | None = None) -> dict[str, Any]:
    """Compare no re-ranking, k-reciprocal and the run folder's trained head(s) on the test set; writes the
    folder's `metrics.json` under its lock (a training still running there is refused, naming its pid)."""
    run_dir = Path(recipe.run_dir)
    checkpoints.check_writable(run_dir)
    with RunLock(run_dir):
        data_cfg, feats = prepare(recipe, tracker)
        heads = trained_heads(run_dir)
        cargait = [cargait_metrics(recipe, data_cfg, feats, head) for head in heads.values()]
        seeds = [recipe.seed if s is None else s for s in heads]
        doc = compare(recipe, data_cfg, feats, cargait, seeds, command)
        with writing(run_dir):
            write_results(doc, run_dir / "metrics.json")
    return doc


def compare(
    recipe: RerankRecipe,
    data_cfg: DataConfig,
    feats: dict[str, Features],
    cargait: list[dict[str, float]],
    seeds: list[int],
    command: str | None = None,
) -> dict[str, Any]:
    """Rows for no re-ranking and k-reciprocal (deterministic: one value, no seed) and CarGait (one value per
    head seed): the run folder's `metrics.json`."""
    protocol, options = protocol_name(recipe, data_cfg), protocol_options(recipe, data_cfg)
    kr = recipe.kreciprocal
    kreciprocal = KReciprocalReranker(kr.k1, kr.k2, kr.lam, recipe.rerank.metric)
    per_method = {
        "rerank-none": ([evaluate(feats["test"], protocol, recipe.rerank.metric, **options).metrics], []),
        "rerank-kreciprocal": (
            [evaluate(feats["test"], protocol, recipe.rerank.metric, rerank=kreciprocal, **options).metrics],
            [],
        ),
        "rerank-cargait": (cargait, seeds),
    }
    rows = [
        {
            "method": method,
            "label": f"{recipe.label or 'model'} + {method.removeprefix('rerank-')}",
            "model": Path(recipe.model).as_posix(),
            "bits": recipe.bits,
            "seeds": list(row_seeds),
            "metrics": {k: summarize([m[k] for m in metrics]) for k in metrics[0]},
        }
        for method, (metrics, row_seeds) in per_method.items()
    ]
    synth = data_cfg.synth_config
    dataset = {
        "name": data_cfg.dataset,
        "seed": synth.seed if data_cfg.root is None else None,
        "ids": [synth.train, synth.ids - synth.train] if data_cfg.root is None else None,
        "input": list(data_cfg.input_size),
        "frames": data_cfg.test_max_frames,
        "protocol": protocol,
    }
    return make_results(recipe.name, rows, dataset, command)


def measure_cost(recipe: RerankRecipe, probes: int = 100, rounds: int = 9) -> dict[str, Any]:
    """CPU ms per probe of first-stage ranking, CarGait and k-reciprocal on the test set: CASIA-B-like sets rank
    non-NM#01-04 probes against the NM#01-04 gallery, Gait3D-like sets the PROBE_SET against the other sequences."""
    data_cfg, feats = prepare(recipe)
    protocol = protocol_name(recipe, data_cfg)
    test = feats["test"]
    if protocol == "casiab":
        gallery_types = {"nm-01", "nm-02", "nm-03", "nm-04"}
        in_gallery = [m.type.lower() in gallery_types for m in test.meta]
    elif protocol == "gait3d":
        keys = {(m.id, m.type, m.view) for m in protocol_options(recipe, data_cfg)["probe_set"] or ()}
        in_gallery = [(m.id, m.type, m.view) not in keys for m in test.meta]
    else:
        raise GaitCompressError(f"rerank cost: no probe/gallery split for protocol {protocol}", "use casiab or gait3d")
    gallery = [i for i, g in enumerate(in_gallery) if g]
    others = [i for i, g in enumerate(in_gallery) if not g]
    chosen = others[:: max(1, len(others) // probes)][:probes]
    kr = recipe.kreciprocal
    head = next(iter(trained_heads(recipe.run_dir).values()))
    return cost_per_probe(
        test.subset(chosen),
        test.subset(gallery),
        head,
        recipe.rerank.k,
        KReciprocalReranker(kr.k1, kr.k2, kr.lam, recipe.rerank.metric),
        rounds,
        recipe.rerank.metric,
    )


def combine_runs(run_dirs: list[str | Path], name: str, notes: str = "") -> dict[str, Any]:
    """One table from several rerank runs (e.g. teacher, student, w8a8): their `metrics.json` rows, with the
    per-probe re-ranking cost of each run's `cost.json` (when measured) as the rows' `latency`; `notes` (Markdown)
    go below the table."""
    docs = [read_results(Path(d) / "metrics.json") for d in run_dirs]
    rows = []
    for run_dir, doc in zip(run_dirs, docs, strict=True):
        cost_file = Path(run_dir) / "cost.json"
        cost = json.loads(cost_file.read_text()) if cost_file.is_file() else None
        for row in doc["rows"]:
            row = dict(row)
            method = {"rerank-none": "first-stage", "rerank-cargait": "cargait", "rerank-kreciprocal": "kreciprocal"}
            if cost is not None and method.get(row["method"]) in cost["ms_per_probe"]:
                key = method[row["method"]]
                row["latency"] = {
                    "backend": "torch-cpu (1 thread), ranking only, features excluded",
                    "batch": 1,
                    "p50_ms": cost["ms_per_probe"][key],
                    "ratio_to": {"first-stage": cost["ratio_to_first_stage"][key]},
                }
            rows.append(row)
    return make_results(name, rows, docs[0]["dataset"], notes=notes)


def reranker_from(spec: str, k: int = 10) -> KReciprocalReranker | CarGaitReranker:
    """The re-ranker a `--rerank` option names: `kreciprocal`, or a CarGait head checkpoint / rerank run folder.

    CarGait needs the features' `parts`: extract with `extract_features(..., keep_parts=True)` (what
    `evaluate_model(..., rerank=...)` does).
    """
    if spec == "kreciprocal":
        return KReciprocalReranker()
    return CarGaitReranker(next(iter(trained_heads(spec).values())) if Path(spec).is_dir() else load_head(spec), k)
