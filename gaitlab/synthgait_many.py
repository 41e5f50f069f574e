"""Record the `many` SynthGait preset's cost and difficulty: `python -m gaitlab.synthgait_many`.

Generates the preset once into its cache folder (`$GAITCOMPRESS_DATA/synthgait-<hash>`, where the
recipes in recipes/synthgait_many/ find it), timing wall and CPU seconds (the worker processes included) with the
1-minute load average (the machine is shared), measures bytes on disk, scores the GEI nearest-neighbour baseline
under the Gait3D protocol (PROBE_SET vs the rest of the test split), and writes
`bench/results/synthgait-many.json` + `.md` in the shared results schema. `--extra` adds rows of other results
files (e.g. the quick teacher's metrics.json: a trained GaitBase's Rank-1 / mAP on the same protocol). When the
set already exists, the `generation` row of the existing `--out` file (measured when it was generated) is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from gaitcompress.data import DataConfig, probe_set
from gaitcompress.data.synthgait.config import preset
from gaitcompress.data.synthgait.writer import cache_dir, generate
from gaitcompress.evaluation import evaluate
from gaitcompress.evaluation.gei import gei_features
from gaitcompress.results import make_results, read_results, summarize, write_results


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class LogTracker:
    """A `Tracker` for a log file: one line every 10 % of a task."""

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        start, done = time.perf_counter(), [0]

        def step(n: int = 1, **_: object) -> None:
            done[0] += n
            if total and done[0] * 10 // total != (done[0] - n) * 10 // total:
                print(f"{description}: {done[0]}/{total} ({time.perf_counter() - start:.0f} s)", flush=True)

        yield step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="many")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", default="bench/results/synthgait-many.json")
    parser.add_argument("--extra", nargs="*", default=[], help="results files whose rows are appended")
    args = parser.parse_args(argv)
    cfg = preset(args.preset)
    folder = cache_dir(cfg)
    rows = []
    if (folder / "synthgait.json").is_file() and Path(args.out).is_file():  # keep the measurement of its generation
        rows = [r for r in read_results(args.out)["rows"] if r["method"] == "generation"]
    if not (folder / "synthgait.json").is_file():
        load = os.getloadavg()[0]
        cpu0, wall0 = _children_cpu() + time.process_time(), time.perf_counter()
        generate(cfg, folder, LogTracker(), processes=args.processes)
        wall, cpu = time.perf_counter() - wall0, _children_cpu() + time.process_time() - cpu0
        files = list(folder.rglob("*.pkl"))
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        print(f"{wall:.1f} s wall, {cpu:.1f} s CPU, load {load:.1f}, {size / 1e6:.1f} MB, {len(files)} sequences")
        rows.append(
            {"method": "generation", "label": f"generate the {args.preset} preset, {args.processes} processes, 1 run",
             "model": "", "bits": "", "seeds": [cfg.seed],
             "metrics": {"wall_s": summarize([wall]), "cpu_s": summarize([cpu]), "load1": summarize([load]),
                         "MB": summarize([size / 1e6]), "sequences": summarize([len(files)])}})  # fmt: skip
    data = DataConfig(dataset="synthgait", root=str(folder), protocol="gait3d", test_batch=64)
    result = evaluate(gei_features(data), "gait3d", metric="euc", probe_set=probe_set(data))
    print(f"GEI-NN {result.metrics} {result.counts}")
    rows.insert(0, {"method": "gei-nn", "label": f"GEI nearest neighbour, Gait3D protocol ({result.counts})",
                    "model": "gei", "bits": "fp32", "seeds": [cfg.seed],
                    "metrics": {k: summarize([v]) for k, v in result.metrics.items()}})  # fmt: skip
    for path in args.extra:
        rows += read_results(path)["rows"]
    dataset = {"name": "synthgait", "seed": cfg.seed, "ids": [cfg.train, cfg.ids - cfg.train], "input": [64, 44],
               "frames": cfg.frames, "protocol": "gait3d", "settings": dataclasses.asdict(cfg),
               "hash": cfg.digest()}  # fmt: skip
    command = " ".join(["python -m gaitlab.synthgait_many", *(sys.argv[1:] if argv is None else argv)])
    path = write_results(make_results(f"synthgait-{args.preset}", rows, dataset, command), args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
