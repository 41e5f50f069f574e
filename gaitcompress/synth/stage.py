"""The `synth` stages: train a GaitCrafter generator, sample a dataset from it, judge it.

    run_synth_train(recipe)            → run_dir/{recipe.yaml, checkpoints/, final.pt, log.jsonl, metrics.json,
                                          preview.png}; with train.eval_every and judge.recognizer, log.jsonl
                                          also holds the judged learning curve (iteration 0 = untrained)
    run_synth_sample(checkpoint, cfg)  → an OpenGait-layout dataset (+ partition.json, synth_manifest.json,
                                          preview.png, preview.gif)
    run_synth_judge(recipe, [(name, generator), ...]) → judging table: real reference, a row per generator and
                                          guidance scale, optionally an untrained twin

The generator learns the recipe's `data:` training split at the recognizer's input size: clips are the loader's
sequences (`train_frames` frames at `input_size`), best sampled `fixed_ordered` so a clip is a contiguous stretch
of the walk. Judging reads only training-split ids, so choices made on it (guidance scale, budget) never see the
test split.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gaitcompress import checkpoints
from gaitcompress.data import DataConfig, build_test_loader, build_train_loader
from gaitcompress.data.loader import load_index
from gaitcompress.errors import GaitCompressError
from gaitcompress.harness import Run, StageResult, run_stage, writing
from gaitcompress.models import load_checkpoint
from gaitcompress.progress import NULL, Tracker
from gaitcompress.recipe import from_dict, to_dict
from gaitcompress.results import make_results, summarize, write_results
from gaitcompress.synth.conditioning import Condition, LabelSpace
from gaitcompress.synth.critic import CriticConfig, IdentityCritic
from gaitcompress.synth.diffusion import DiffusionConfig
from gaitcompress.synth.generator import GaitCrafter, build_generator, load_generator
from gaitcompress.synth.judge import JudgeConfig, Reference, collect, label_sensitivity
from gaitcompress.synth.module import GaitCrafterModule, condition_from_meta
from gaitcompress.synth.preview import save_gif, save_png
from gaitcompress.synth.sample import Plan, SampleConfig, generate_plan, plan, to_layout, write_dataset
from gaitcompress.train.config import OptimConfig, SchedConfig, TrainConfig
from gaitcompress.train.distributed import resolve_device
from gaitcompress.train.engine import Trainer
from gaitcompress.train.logging import RunLogger
from gaitcompress.train.stage import dataset_info


@dataclass(frozen=True)
class GeneratorConfig:
    preset: str = "small"  # tiny | small | base | paper (gaitcompress.synth.unet3d.PRESETS)
    unet: dict[str, Any] = field(default_factory=dict)  # overrides of the preset's UNetConfig fields
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)


@dataclass(frozen=True)
class CurveConfig:
    """What the learning curve judges every `train.eval_every` iterations: a small, cheap generated set."""

    views: tuple[str, ...] = ("018", "090", "144")
    types: tuple[str, ...] = ("nm",)
    steps: int = 10  # DDIM steps
    sensitivity_clips: int = 8  # conditions probed for label sensitivity


@dataclass(frozen=True)
class JudgeRecipe:
    recognizer: str = ""  # a trained gait model checkpoint (file or run folder), frozen
    model: str | None = None  # its variant name, for OpenGait checkpoints without a spec
    ids: int = 0  # judge the first N of the generator's ids (0: all)
    views: tuple[str, ...] = ()  # views to generate (empty: all the generator knows)
    types: tuple[str, ...] = ()  # covariates to generate (empty: all)
    per: int = 1  # generated clips per (id, view, covariate)
    steps: int = 0  # DDIM steps (0: the generator's default)
    guidance: float = 1.0  # the scale the learning curve samples at (and the table's, when `scales` is empty)
    scales: tuple[float, ...] = ()  # classifier-free guidance scales, a table row each (0 = unconditional)
    novel: int = 0  # novel ids (blends of two judged ids) judged for forming identities of their own
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    curve: CurveConfig = field(default_factory=CurveConfig)


@dataclass(frozen=True)
class SynthRecipe:
    name: str = "synth"
    method: str = "gaitcrafter"
    seed: int = 0
    run_dir: str = "runs/synth"
    source: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)  # an identity term in training (optional)
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


class JudgeProbe:
    """`eval_fn` for the learning curve: FixedBatchLoss plus the judge on a small generated set.

    The recognizer, the real reference (gallery embeddings, view classifier) and the request are fixed at
    construction, so each call costs only the sampling: `id@R1`, `view@acc`, `FD` of the `curve` set at the
    recipe's guidance scale, and the label sensitivity of its first `curve.sensitivity_clips` conditions.
    """

    def __init__(self, cfg: SynthRecipe, labels: LabelSpace, device: torch.device, tracker: Tracker = NULL) -> None:
        jr = cfg.judge
        self.loss = FixedBatchLoss(cfg, device)
        self.reference, ids = judge_reference(cfg, labels, device, tracker)
        c = jr.curve
        self.sample = SampleConfig(
            ids=ids, views=c.views, types=c.types, steps=c.steps, guidance=jr.guidance, seed=cfg.seed, batch=32
        )
        self.size, self.sensitivity = cfg.data.input_size, c.sensitivity_clips

    def __call__(self, model: nn.Module) -> dict[str, float]:
        out = self.loss(model)
        out.update(_judge_generated(model, self.reference, self.sample, self.size, self.sensitivity))
        return out


def run_synth_train(
    recipe: dict[str, Any], tracker: Tracker = NULL, resume: bool = False, command: str | None = None,
    restart: bool = False,
) -> StageResult:  # fmt: skip
    """Train a generator with the shared engine in the harness life cycle (`gaitcompress.harness.run_stage`)."""
    return run_stage(
        recipe, SynthRecipe, _synth_train, parse=parse, tracker=tracker, resume=resume, restart=restart,
        command=command,
    )  # fmt: skip


def new_critic(cfg: SynthRecipe, device: torch.device) -> IdentityCritic | None:
    """The recipe's identity critic, or None; it may not be the judge's recognizer (see synth.critic)."""
    c = cfg.critic
    if not c.recognizer:
        return None
    path = checkpoints.resolve_checkpoint(c.recognizer)
    if cfg.judge.recognizer and path == checkpoints.resolve_checkpoint(cfg.judge.recognizer):
        raise GaitCompressError(
            f"critic.recognizer and judge.recognizer are the same model ({path}): the judge would score a "
            "generator trained to please it",
            "train a second recognizer (e.g. the teacher recipe with seed=1) and set critic.recognizer to it",
            key="critic.recognizer",
        )
    return IdentityCritic(load_checkpoint(path, name=c.model, device=device), c)


def _synth_train(run: Run) -> StageResult:
    tic, cpu = time.perf_counter(), time.process_time()
    cfg, ctx = run.cfg, run.ctx
    generator = new_generator(cfg)
    loader = partial(build_train_loader, cfg.data, cfg.seed, ctx.rank, ctx.world_size)
    curve = bool(cfg.train.eval_every and cfg.judge.recognizer)
    eval_fn = JudgeProbe(cfg, generator.labels, ctx.device) if curve else FixedBatchLoss(cfg, ctx.device)
    trainer = Trainer(
        GaitCrafterModule(generator, new_critic(cfg, ctx.device)), loader, run.run_dir, cfg.train, cfg.optim, cfg.sched,
        ctx=ctx, eval_fn=eval_fn, tracker=run.tracker, meta={"recipe": run.recipe, "kind": "fp32"},
    )  # fmt: skip
    resumed = run.resume and trainer.resume() is not None
    if curve and not resumed and ctx.is_main:  # the curve's first point: the untrained generator (iteration 0)
        RunLogger(run.run_dir, start=0, tensorboard=False).log(0, trainer.evaluate(), prefix="eval")
    metrics = trainer.fit()
    wall, cpu = time.perf_counter() - tic, time.process_time() - cpu
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
    doc = make_results(cfg.name, [row], dataset_info(cfg.data), run.command)
    run.write_results(doc)
    if ctx.is_main:
        views = generator.labels.views
        views = views[:: max(1, len(views) // 4)][:4]  # a few views spread over the range: a cheap preview
        preview_cfg = SampleConfig(ids=generator.labels.ids[:1], views=views, batch=32, seed=cfg.seed)
        with writing(run.run_dir):
            _preview(generator.eval(), preview_cfg, run.run_dir / "preview.png")
    return StageResult(run.run_dir, metrics, doc, wall_s=wall, cpu_s=cpu, model=generator)


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
    return load_generator(checkpoints.resolve_checkpoint(source))


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


def judge_reference(
    cfg: SynthRecipe, labels: LabelSpace, device: torch.device, tracker: Tracker = NULL
) -> tuple[Reference, tuple[str, ...]]:
    """The frozen recognizer's view of the real training clips of the judged ids (the first `judge.ids`)."""
    jr = cfg.judge
    if not jr.recognizer:
        raise GaitCompressError("judge.recognizer is not set", "set judge.recognizer=runs/.../final.pt (a gait model)")
    recognizer = load_checkpoint(checkpoints.resolve_checkpoint(jr.recognizer), name=jr.model, device=device)
    ids = labels.ids[: jr.ids] if jr.ids else labels.ids
    real_seqs, real_meta = collect(build_test_loader(cfg.data, split="train"), set(ids))
    real_seqs = [s[: cfg.data.train_frames] for s in real_seqs]  # same clip length as generated
    return Reference(recognizer, real_seqs, real_meta, jr.judge, labels.views, tracker), ids


def _generated_input(g: GaitCrafter, p: Plan, sample: SampleConfig, size: tuple[int, int]) -> torch.Tensor:
    """Sample a plan and bring the clips to what the data reader would give the recognizer: [N, T, h, w]."""
    clips = torch.from_numpy(to_layout(generate_plan(g, p, sample), sample.threshold)[..., 10:-10]).float() / 255
    return _to_input(clips, size)


def _judge_generated(
    g: GaitCrafter, reference: Reference, sample: SampleConfig, size: tuple[int, int], sensitivity_clips: int
) -> dict[str, float]:
    """id@R1 / FD / view@acc of the planned set, and label sensitivity of its first `sensitivity_clips` rows."""
    p = plan(g, sample)
    scores = reference.scores(_generated_input(g, p, sample, size), p.meta)
    k = min(sensitivity_clips, len(p.meta))
    probe = Condition(p.cond.id_code[:k], p.cond.view[:k], p.cond.covariate[:k])
    scores.update(label_sensitivity(g, probe, sample.seed, sample.steps or None, sample.guidance))
    return scores


def run_synth_judge(
    recipe: dict[str, Any],
    generators: Sequence[tuple[str, GaitCrafter]],
    tracker: Tracker = NULL,
    baseline: bool = True,
    out: str | Path | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Judge each named generator at each guidance scale (and an untrained twin) against held-out real clips.

    Rows: the real reference, then one per (generator, scale) in `judge.scales` (default: `judge.guidance`), then,
    with `baseline`, the first generator's untrained twin. With `judge.novel`, each generated row also judges that
    many novel ids blended from two judged ids (`novel@self`, `novel@real`). Everything is on training-split ids:
    the test split is never read, so choosing a scale on this table does not touch it.
    """
    cfg = parse(recipe)
    if out is not None:
        checkpoints.check_writable(Path(out).parent)  # before the judging, not after it
    jr = cfg.judge
    device = resolve_device(cfg.train.device)
    reference, ids = judge_reference(cfg, generators[0][1].labels, device, tracker)
    size = cfg.data.input_size
    sample = SampleConfig(
        ids=ids, views=jr.views, types=jr.types, per=jr.per, steps=jr.steps, guidance=jr.guidance, seed=cfg.seed,
        batch=32,
    )  # fmt: skip
    candidates = [(name, g, w) for name, g in generators for w in (jr.scales or (jr.guidance,))]
    if baseline:
        # its zero-initialised output layer predicts ε̂ = 0 whatever the labels: guidance cannot change it
        candidates.append(("untrained", untrained_twin(generators[0][1], cfg.seed), 1.0))
    real = reference.real_scores()
    rows = [_judge_row("real", "real held-out sequences (reference)", real, cfg.seed, len(reference.held))]
    figures: dict[str, dict[str, float]] = {"real": real}
    with tracker.task("judging", total=len(candidates)) as step:
        for name, g, w in candidates:
            s = replace(sample, guidance=w)
            scores = _judge_generated(g, reference, s, size, jr.judge.sensitivity_clips)
            if jr.novel:
                novel = replace(s, ids=(), real=False, novel=jr.novel, pool=ids)
                p = plan(g, novel)
                scores.update(reference.novel_scores(_generated_input(g, p, novel, size), p.meta))
            label = f"{name} (guidance {w:g})"
            figures[label] = scores
            row = _judge_row(name, label, scores, cfg.seed, len(plan(g, s).meta))
            row["guidance"] = w
            row["generator"] = {"unet": g.spec.kwargs.get("unet"), "diffusion": g.spec.kwargs.get("diffusion")}
            rows.append(row)
            step(1)
    doc = make_results(cfg.name, rows, {**dataset_info(cfg.data), "judged_ids": len(ids)}, command)
    if out is not None:
        with writing(Path(out).parent):
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
    recipes: dict[str, dict[str, Any]], seeds: list[int], tracker: Tracker = NULL, out: str | Path | None = None,
    command: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train one recognizer recipe per arm (e.g. real-only, real+synth) over `seeds`; one table, a row per arm.

    Each arm is a plain `gaitcompress train` recipe (its `method` names the row); the generated data enters an arm
    through its `data.mix` section, so this only runs and collects. Each arm is the harness's seed loop
    (`gaitcompress train --seeds --resume`: runs in `<run_dir>/seed<s>`, a finished seed read back, an unfinished
    one continued), so an interrupted experiment continues where it stopped; a finished seed whose recipe differs
    in a key that shapes the training (`data.mix`, `data.max_train_seqs_per_id`, ...) is refused, naming the keys.
    """
    from gaitcompress.train.config import parse_recipe
    from gaitcompress.train.stage import run_seeds

    if out is not None:
        checkpoints.check_writable(Path(out).parent)
    rows, dataset = [], {}
    for label, recipe in recipes.items():
        row = dict(run_seeds(recipe, seeds, tracker, resume=True, command=command).row)
        cfg = parse_recipe({**recipe, "seed": seeds[0]})
        row["label"] = f"{label}: {row['label']}"
        row["data"] = {"max_train_seqs_per_id": cfg.data.max_train_seqs_per_id, "mix": to_dict(cfg.data.mix)}
        rows.append(row)
        dataset = dataset or dataset_info(replace(cfg.data, mix=None))
    doc = make_results("synth-augment-synthgait", rows, dataset, command)
    if out is not None:
        with writing(Path(out).parent):
            write_results(doc, out)
    return doc
