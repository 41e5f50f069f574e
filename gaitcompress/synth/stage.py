"""The `synth` stages: train a GaitCrafter generator, sample a dataset from it, judge it.

    run_synth_train(recipe)            → run_dir/{recipe.yaml, checkpoints/, final.pt, log.jsonl, metrics.json,
                                          preview.png}
    run_synth_sample(checkpoint, cfg)  → an OpenGait-layout dataset (+ partition.json, synth_manifest.json,
                                          preview.png, preview.gif)
    run_synth_judge(recipe, checkpoint) → judging table (generated vs held-out real; optionally an untrained twin)

The generator learns the recipe's `data:` training split: clips are the loader's sequences (`train_frames`
frames at `input_size`), best sampled `fixed_ordered` so a clip is a contiguous stretch of the walk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gaitcompress.data import DataConfig, build_test_loader, build_train_loader, num_classes
from gaitcompress.data.loader import load_index
from gaitcompress.errors import GaitCompressError
from gaitcompress.progress import NULL, Tracker
from gaitcompress.recipe import from_dict, save_recipe, to_dict
from gaitcompress.results import make_results, summarize, write_results
from gaitcompress.synth.conditioning import Condition, LabelSpace
from gaitcompress.synth.diffusion import DiffusionConfig
from gaitcompress.synth.generator import GaitCrafter, build_generator, load_generator
from gaitcompress.synth.judge import JudgeConfig, collect, judge, label_sensitivity
from gaitcompress.synth.module import GaitCrafterModule, condition_from_meta
from gaitcompress.synth.preview import save_gif, save_png
from gaitcompress.synth.sample import SampleConfig, generate_plan, plan, to_layout, write_dataset
from gaitcompress.train import checkpoint as ckpt_io
from gaitcompress.train.config import OptimConfig, SchedConfig, TrainConfig
from gaitcompress.train.distributed import init_distributed, resolve_device, shutdown_distributed
from gaitcompress.train.engine import Trainer
from gaitcompress.train.stage import dataset_info


@dataclass(frozen=True)
class GeneratorConfig:
    preset: str = "small"  # tiny | small | base | paper (gaitcompress.synth.unet3d.PRESETS)
    unet: dict[str, Any] = field(default_factory=dict)  # overrides of the preset's UNetConfig fields
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)


@dataclass(frozen=True)
class JudgeRecipe:
    recognizer: str = ""  # a trained gait model checkpoint (file or run folder), frozen
    model: str | None = None  # its variant name, for OpenGait checkpoints without a spec
    ids: int = 0  # judge the first N of the generator's ids (0: all)
    views: tuple[str, ...] = ()  # views to generate (empty: all the generator knows)
    types: tuple[str, ...] = ()  # covariates to generate (empty: all)
    per: int = 1  # generated clips per (id, view, covariate)
    steps: int = 0  # DDIM steps (0: the generator's default)
    guidance: float = 1.0
    judge: JudgeConfig = field(default_factory=JudgeConfig)


@dataclass(frozen=True)
class SynthRecipe:
    name: str = "synth"
    method: str = "gaitcrafter"
    seed: int = 0
    run_dir: str = "runs/synth"
    source: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adamw", lr=5e-4, weight_decay=0.0))
    sched: SchedConfig = field(default_factory=lambda: SchedConfig(name="cosine", warmup=50, min_lr_ratio=0.1))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(grad_clip=1.0))
    sample: SampleConfig = field(default_factory=SampleConfig)
    judge: JudgeRecipe = field(default_factory=JudgeRecipe)


def parse(recipe: dict[str, Any]) -> SynthRecipe:
    return from_dict(SynthRecipe, recipe, str(recipe.get("source") or "recipe"))


def label_space(data: DataConfig) -> LabelSpace:
    """The ids, views and covariates of the recipe's training split."""
    train = load_index(data).train
    if not train:
        raise GaitCompressError("the training split is empty", "check data.root / the partition's TRAIN_SET")
    return LabelSpace.from_meta([e.meta.id for e in train], [e.meta.view for e in train], [e.meta.type for e in train])


def new_generator(cfg: SynthRecipe) -> GaitCrafter:
    labels = label_space(cfg.data)
    h, w = cfg.data.input_size
    g = cfg.generator
    return build_generator(
        list(labels.ids), list(labels.views), list(labels.covariates), cfg.data.train_frames, h, w,
        preset=g.preset, unet=g.unet, diffusion=to_dict(g.diffusion),
    )  # fmt: skip


class FixedBatchLoss:
    """`eval_fn`: the ε-MSE on one fixed batch at fixed noise levels — a cheap, comparable progress figure."""

    def __init__(self, cfg: SynthRecipe, device: torch.device) -> None:
        batch = next(build_train_loader(cfg.data, seed=cfg.seed + 10_000))
        self.x0 = (2 * batch.sils - 1)[:, None].to(device)  # [N, 1, T, H, W]
        self.meta = batch.meta
        self.t = torch.linspace(50, 950, self.x0.shape[0]).long().to(device)  # spread over noise levels
        self.noise = torch.randn(self.x0.shape, generator=torch.Generator().manual_seed(0)).to(device)

    def __call__(self, model: nn.Module) -> dict[str, float]:
        cond = condition_from_meta(model.labels, self.meta).to(self.x0.device)
        t = self.t.clamp(max=model.diffusion.cfg.steps - 1)
        eps = model(model.diffusion.q_sample(self.x0, t, self.noise), t, cond)
        return {"eps_mse": float(((eps - self.noise) ** 2).mean())}


def run_synth_train(
    recipe: dict[str, Any], tracker: Tracker = NULL, resume: bool = False, command: str | None = None
) -> dict[str, Any]:
    """Train a generator with the shared engine; returns `{'run_dir', 'metrics', 'wall_s'}`."""
    cfg = parse(recipe)
    ctx = init_distributed(cfg.train.device)
    try:
        tic = time.perf_counter()
        run_dir = Path(cfg.run_dir)
        ckpt_io.seed_everything(cfg.seed)
        if ctx.is_main:
            save_recipe(recipe, run_dir / "recipe.yaml")
        generator = new_generator(cfg)
        loader = partial(build_train_loader, cfg.data, cfg.seed, ctx.rank, ctx.world_size)
        trainer = Trainer(
            GaitCrafterModule(generator), loader, run_dir, cfg.train, cfg.optim, cfg.sched,
            ctx=ctx, eval_fn=FixedBatchLoss(cfg, ctx.device), tracker=tracker, meta={"recipe": recipe, "kind": "fp32"},
        )  # fmt: skip
        metrics = trainer.fit(resume=resume)
        wall = time.perf_counter() - tic
        if ctx.is_main:
            row = {
                "method": cfg.method,
                "label": f"GaitCrafter {cfg.generator.preset} trained by {cfg.source or 'recipe'}",
                "model": f"gaitcrafter_{cfg.generator.preset}",
                "bits": "fp32",
                "seeds": [cfg.seed],
                "metrics": {k: summarize([v]) for k, v in metrics.items()},
                "cost": {"params": sum(p.numel() for p in generator.parameters()), "frames": generator.frames},
                "train": {"iterations": cfg.train.iterations, "wall_s": round(wall, 1)},
            }
            write_results(make_results(cfg.name, [row], dataset_info(cfg.data), command), run_dir / "metrics.json")
            views = generator.labels.views
            views = views[:: max(1, len(views) // 4)][:4]  # a few views spread over the range: a cheap preview
            preview_cfg = SampleConfig(ids=generator.labels.ids[:1], views=views, batch=32, seed=cfg.seed)
            _preview(generator.eval(), preview_cfg, run_dir / "preview.png")
        return {"run_dir": run_dir, "metrics": metrics, "wall_s": wall}
    finally:
        shutdown_distributed(ctx)


def _preview(generator: GaitCrafter, cfg: SampleConfig, path: Path) -> Path:
    p = plan(generator, cfg)
    clips = generate_plan(generator, p, cfg)
    labels = [f"{m.id} {m.type[:2]} {m.view}" for m in p.meta]
    return save_png(to_layout(clips, cfg.threshold)[..., 10:-10], labels, path)


def resolve_generator(source: str | Path) -> GaitCrafter:
    """A generator from a checkpoint file, a run folder, or a synth recipe (its run_dir)."""
    source = Path(source)
    if source.suffix in (".yaml", ".yml"):
        from gaitcompress.recipe import load_recipe

        source = Path(parse(load_recipe(source)).run_dir)
    return load_generator(ckpt_io.resolve_checkpoint(source))


def run_synth_sample(generator: GaitCrafter, cfg: SampleConfig, tracker: Tracker = NULL) -> dict[str, Any]:
    """Generate the requested sequences, write them in the OpenGait layout with previews; returns a summary."""
    p = plan(generator, cfg)
    clips = generate_plan(generator, p, cfg, tracker)
    frames = to_layout(clips, cfg.threshold)  # uint8 [N, T, 64, 64]
    out = Path(cfg.out)
    write_dataset(out, frames, p.meta, p.novel)
    show = list(range(min(len(p.meta), 12)))
    labels = [f"{p.meta[i].id} {p.meta[i].type} {p.meta[i].view}" for i in show]
    save_png(frames[show][..., 10:-10], labels, out / "preview.png")
    save_gif(frames[show][..., 10:-10], out / "preview.gif")
    ids = sorted({m.id for m in p.meta})
    return {"out": out, "sequences": len(p.meta), "ids": ids, "novel": p.novel}


def untrained_twin(generator: GaitCrafter, seed: int) -> GaitCrafter:
    """The same architecture and label space, freshly initialised (the judging baseline)."""
    torch.manual_seed(seed)
    return build_generator(**generator.spec.kwargs).eval()


def run_synth_judge(
    recipe: dict[str, Any],
    generator: GaitCrafter,
    tracker: Tracker = NULL,
    baseline: bool = True,
    out: str | Path | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Judge `generator` (and, with `baseline`, its untrained twin) against held-out real clips; §15 results."""
    from gaitcompress.models.checkpoint import load_checkpoint

    cfg = parse(recipe)
    jr = cfg.judge
    if not jr.recognizer:
        raise GaitCompressError("judge.recognizer is not set", "set judge.recognizer=runs/.../final.pt (a gait model)")
    device = resolve_device(cfg.train.device)
    recognizer = load_checkpoint(ckpt_io.resolve_checkpoint(jr.recognizer), name=jr.model, device=device)
    ids = generator.labels.ids[: jr.ids] if jr.ids else generator.labels.ids
    real_seqs, real_meta = collect(build_test_loader(cfg.data, split="train"), set(ids))
    real_seqs = [s[: generator.frames] for s in real_seqs]  # same clip length as generated
    sample_cfg = SampleConfig(
        ids=ids, views=jr.views, types=jr.types, per=jr.per, steps=jr.steps, guidance=jr.guidance, seed=cfg.seed,
        batch=32,
    )  # fmt: skip
    candidates = [("generated", "GaitCrafter (trained)", generator)]
    if baseline:
        candidates.append(("untrained", "GaitCrafter (untrained twin)", untrained_twin(generator, cfg.seed)))
    rows, figures = [], {}
    for method, label, g in candidates:
        p = plan(g, sample_cfg)
        clips = torch.from_numpy(to_layout(generate_plan(g, p, sample_cfg, tracker))[..., 10:-10]).float() / 255
        clips = _to_input(clips, cfg.data.input_size)
        scores = judge(recognizer, real_seqs, real_meta, clips, p.meta, jr.judge, generator.labels.views, tracker)
        k = min(jr.judge.sensitivity_clips, len(p.meta))
        probe = Condition(p.cond.id_code[:k], p.cond.view[:k], p.cond.covariate[:k])
        with tracker.task(f"label sensitivity ({method})", total=1) as step:
            scores["generated"].update(label_sensitivity(g, probe, cfg.seed, jr.steps or None, jr.guidance))
            step(1)
        figures.setdefault("real", scores["real"])
        figures[method] = scores["generated"]
        rows.append(_judge_row(method, label, scores["generated"], cfg.seed, len(p.meta)))
    rows.insert(
        0, _judge_row("real", "real held-out sequences (reference)", figures["real"], cfg.seed, len(real_meta) // 2)
    )
    doc = make_results(cfg.name, rows, {**dataset_info(cfg.data), "judged_ids": len(ids)}, command)
    if out is not None:
        write_results(doc, out)
    return {"results": doc, "figures": figures}


def _to_input(clips: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Thresholded 64×44 clips [N, T, 64, 44] → the recognizer's input size (the data loader's resize)."""
    from gaitcompress.data.transforms import resize

    return torch.stack([resize(c, tuple(size)) for c in clips])


def _judge_row(method: str, label: str, scores: dict[str, float], seed: int, n: int) -> dict[str, Any]:
    return {
        "method": method, "label": label, "model": "gaitcrafter", "bits": "fp32", "seeds": [seed],
        "metrics": {k: summarize([v]) for k, v in scores.items()}, "clips": n,
    }  # fmt: skip


def run_synth_augment(
    recipes: dict[str, dict[str, Any]], seeds: list[int], tracker: Tracker = NULL, out: str | Path | None = None
) -> dict[str, Any]:
    """Train one recognizer recipe per arm (e.g. real-only, real+synth) over `seeds`; one table, a row per arm.

    Each arm is a plain `gaitcompress train` recipe (its `method` names the row); the generated data enters an arm
    through its `data.mix` section, so this only runs and collects. Runs go to `<run_dir>/seed<s>` (as
    `gaitcompress train --seeds`); a seed whose folder already holds `metrics.json` for the identical recipe is
    read back instead of retrained, so an interrupted experiment continues where it stopped.
    """
    from gaitcompress.models import create_model
    from gaitcompress.train.config import parse_recipe
    from gaitcompress.train.stage import result_row, run_train

    rows, dataset = [], {}
    for label, recipe in recipes.items():
        base_dir = recipe.get("run_dir", "runs/train")
        per_seed, walls = [], []
        for seed in seeds:
            run = {**recipe, "seed": seed, "run_dir": f"{base_dir}/seed{seed}"}
            done = _finished_run(run)
            if done is None:
                done = run_train(run, tracker)
                done = {"metrics": done["metrics"], "wall_s": done["wall_s"]}
            per_seed.append(done["metrics"])
            walls.append(round(done["wall_s"], 1))
        cfg = parse_recipe({**recipe, "seed": seeds[0]})
        model = create_model(cfg.model.name, num_classes=num_classes(cfg.data), **cfg.model.kwargs)
        row = result_row(cfg, model, per_seed, seeds)
        row["label"] = f"{label}: {row['label']}"
        row["train"] = {"iterations": cfg.train.iterations, "wall_s": walls}
        row["data"] = {"max_train_seqs_per_id": cfg.data.max_train_seqs_per_id, "mix": to_dict(cfg.data.mix)}
        rows.append(row)
        dataset = dataset or dataset_info(replace(cfg.data, mix=None))
    doc = make_results("synth-augment-synthgait", rows, dataset)
    if out is not None:
        write_results(doc, out)
    return doc


def _finished_run(run: dict[str, Any]) -> dict[str, Any] | None:
    """`{'metrics', 'wall_s'}` of a run folder that finished this exact recipe, else None."""
    import json

    import yaml

    folder = Path(run["run_dir"])
    if not (folder / "metrics.json").is_file() or not (folder / "recipe.yaml").is_file():
        return None
    saved = yaml.safe_load((folder / "recipe.yaml").read_text())
    if json.dumps(saved, sort_keys=True, default=str) != json.dumps(run, sort_keys=True, default=str):
        return None
    row = json.loads((folder / "metrics.json").read_text())["rows"][0]
    return {"metrics": {k: v["mean"] for k, v in row["metrics"].items()}, "wall_s": row["train"]["wall_s"]}
