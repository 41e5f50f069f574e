"""Freeze a finished pipeline run's models as the CI gate's committed checkpoints.

    python -m gaitlab.ci_baseline runs/pipeline/synthgait-quick [--out bench/baselines/ci-checkpoints]

The gate's absolute checks are only as trustworthy as the numbers are repeatable. A model retrained on another
CPU lands points away (multithreaded and vector kernels sum in different orders), so CI does not gate retrained
models absolutely: it exports and scores these committed checkpoints, single-threaded, through
`recipes/synthgait/pipeline_ci.yaml`, where every run gives the same rank-1 to within float noise. Each file keeps
what export and evaluation read (weights, spec, kind, quantizer config, recipe, metrics) and drops the optimizer,
scheduler and RNG state, so the four files stay small enough to commit.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gaitcompress.checkpoints import atomic_save, load

KEEP = ("model", "spec", "kind", "qconfig", "recipe", "metrics", "iteration", "trusted_iteration")
STAGES = {"teacher": "teacher", "student": "student", "quant-qgait8": "qgait8", "quant-qgait4": "qgait4"}


def freeze(run_dir: Path, out: Path) -> list[Path]:
    """Copy each model stage's `final.pt` of `run_dir`, slimmed to `KEEP`, to `out/<name>.pt`."""
    written = []
    for stage, name in STAGES.items():
        ckpt = load(run_dir / stage / "final.pt")
        written.append(atomic_save({k: ckpt[k] for k in KEEP if k in ckpt}, out / f"{name}.pt"))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a finished pipeline_quick run folder")
    parser.add_argument("--out", type=Path, default=Path("bench/baselines/ci-checkpoints"))
    args = parser.parse_args()
    for path in freeze(args.run_dir, args.out):
        print(f"{path}  {path.stat().st_size / 2**20:.2f} MB")


if __name__ == "__main__":
    main()
