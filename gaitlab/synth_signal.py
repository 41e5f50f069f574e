"""How many pixels each label moves in real SynthGait clips: the reference for the GaitCrafter judge's Δ figures.

    python -m gaitlab.synth_signal --ids 30 --generator runs/synthgait/synth_critic_w1 \
        --out bench/results/synth-signal-synthgait

The judge's label sensitivity (`gaitcompress.synth.judge.label_sensitivity`) counts the % of thresholded pixels of
a generated clip that change when one label moves to the next while the starting noise stays. The renderer gives
the same figure for real clips, with everything else held: the subject's own session and nuisance draws (camera
jitter, segmentation noise, starting phase) and
- Δid: the next subject's identity walks in the subject's place (`render_sequence(..., identity=)`),
- Δview: the next camera azimuth, Δcov: the next covariate (nm → bg → cl → nm, same session number),
- Δnoise: another session of the same labels (nm-01 → nm-02 …): what the starting noise stands for.
Clips are cut and resized as the reader gives them to the recognizer (`--size`, first `--frames` frames),
thresholded at 0.5, over the first `--ids` training subjects × every view × one session of each covariate.
A generator that renders labels faithfully moves about these many pixels; the issue's "10× today's Δid" is
measured against them.

With `--generator RUN` (a `synth train` run folder, repeatable), the same question asked of the training objective:
on `--clips` real training clips of the run's recipe, at fixed noise and steps t, by how many % the ε-MSE grows
when one label is moved to the next (`ε+id@t` …). That is what the DDPM loss pays the generator for reading a
label: a label worth little loss is learned last. Writes `OUT.json` + `OUT.md` (`gaitcompress.results` schema).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from gaitcompress.data import build_train_loader
from gaitcompress.data.synthgait.config import preset
from gaitcompress.data.synthgait.identity import sample_identity
from gaitcompress.data.synthgait.writer import render_sequence
from gaitcompress.data.transforms import resize
from gaitcompress.recipe import load_recipe
from gaitcompress.results import make_results, summarize, write_results
from gaitcompress.synth.conditioning import Condition
from gaitcompress.synth.module import condition_from_meta
from gaitcompress.synth.stage import parse, resolve_generator

NEXT_COVARIATE = {"nm": "bg", "bg": "cl", "cl": "nm"}


def to_input(seq: np.ndarray, size: tuple[int, int], frames: int) -> np.ndarray:
    """uint8 [T, 64, 64] → bool [frames, *size]: the reader's 64×44 cut and resize, thresholded at 0.5."""
    return resize(seq[:frames, :, 10:-10].astype(np.float32) / 255, size) >= 0.5


def label_moves(ids: int, size: tuple[int, int], frames: int) -> dict[str, list[float]]:
    """Per (subject, view, covariate): % of pixels each label change moves, keyed as the judge's Δ figures."""
    cfg = preset("default")
    out: dict[str, list[float]] = {"Δid": [], "Δview": [], "Δcov": [], "Δnoise": []}
    for subject in range(1, ids + 1):
        other = sample_identity(cfg.seed, subject % ids + 1)
        for i, view in enumerate(cfg.views):
            for cov in ("nm", "bg", "cl"):
                type_ = f"{cov}-01"

                def clip(s: int = subject, t: str = type_, v: int = view, **kw: object) -> np.ndarray:
                    return to_input(render_sequence(cfg, s, t, v, **kw), size, frames)

                base = clip()
                moved = {
                    "Δid": clip(identity=other),
                    "Δview": clip(v=cfg.views[(i + 1) % len(cfg.views)]),
                    "Δcov": clip(t=f"{NEXT_COVARIATE[cov]}-01"),
                    "Δnoise": clip(t=f"{cov}-02"),
                }
                for key, c in moved.items():
                    out[key].append(100.0 * float((c ^ base).mean()))
    return out


STEPS = (50, 200, 400, 600, 800)


@torch.no_grad()
def objective_share(run_dir: Path, clips: int) -> dict[str, list[float]]:
    """% growth of the ε-MSE when each label moves to the next, per t in STEPS (one value per batch of clips)."""
    cfg = parse(load_recipe(run_dir / "recipe.yaml"))
    g = resolve_generator(run_dir).eval()
    views, covs = len(g.labels.views), len(g.labels.covariates)
    out: dict[str, list[float]] = {}
    loader = build_train_loader(cfg.data, seed=cfg.seed + 20_000)
    seen, gen = 0, torch.Generator().manual_seed(0)
    while seen < clips:
        batch = next(loader)
        x0 = (2 * batch.sils - 1)[:, None]
        c = condition_from_meta(g.labels, batch.meta)
        moved = {
            "id": Condition(c.id_code.roll(1, dims=1), c.view, c.covariate),
            "view": Condition(c.id_code, c.view % views + 1, c.covariate),
            "cov": Condition(c.id_code, c.view, c.covariate % covs + 1),
        }
        for step in STEPS:
            t = torch.full((len(c),), step)
            noise = torch.randn(x0.shape, generator=gen)
            x_t = g.diffusion.q_sample(x0, t, noise)
            base = float(((g(x_t, t, c) - noise) ** 2).mean())
            for key, m in moved.items():
                err = float(((g(x_t, t, m) - noise) ** 2).mean())
                out.setdefault(f"ε+{key}@{step}", []).append(100.0 * (err / base - 1))
        seen += len(c)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ids", type=int, default=30, help="first N training subjects of the default SynthGait")
    ap.add_argument("--size", type=int, nargs=2, default=(32, 22), help="the recognizer's input (H W)")
    ap.add_argument("--frames", type=int, default=16, help="frames per clip, as the generator's")
    ap.add_argument("--generator", action="append", default=[], help="a synth train run folder (repeatable)")
    ap.add_argument("--clips", type=int, default=64, help="real training clips per generator")
    ap.add_argument("--out", required=True, help="OUT.json / OUT.md are written")
    args = ap.parse_args(argv)
    moves = label_moves(args.ids, tuple(args.size), args.frames)
    row = {
        "method": "real",
        "label": f"SynthGait renderer, {len(moves['Δid'])} clips (mean ± std over clips)",
        "model": "synthgait",
        "bits": "",
        "seeds": [0],
        "metrics": {k: summarize(v) for k, v in moves.items()},
    }
    rows = [row]
    for run in args.generator:
        share = objective_share(Path(run), args.clips)
        rows.append({
            "method": Path(run).name, "label": f"{run}: ε-MSE growth, {args.clips} clips (mean ± std over batches)",
            "model": "gaitcrafter", "bits": "fp32", "seeds": [0],
            "metrics": {k: summarize(v) for k, v in share.items()},
        })  # fmt: skip
    command = "python -m gaitlab.synth_signal " + shlex.join(sys.argv[1:] if argv is None else argv)
    dataset = {"name": "synthgait", "input": list(args.size), "frames": args.frames, "ids": args.ids}
    out = Path(args.out)
    write_results(make_results("synth-signal-synthgait", rows, dataset, command), out.with_suffix(".json"))
    print(f"wrote {out.with_suffix('.json')} and .md")


if __name__ == "__main__":
    main()
