"""Record the default SynthGait set's cost and difficulty: `python -m gaitlab.synthgait_benchmark`.

Generates the set `--runs` times into fresh temporary folders (wall and CPU seconds, including the worker
processes, and the 1-minute load average, because the machine is shared), measures bytes on disk, scores
the GEI nearest-neighbour baseline under the CASIA-B protocol, and writes
`bench/results/synthgait-default.json` + `.md` in the shared results schema.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gaitcompress.data.config import DataConfig
from gaitcompress.data.synthgait.config import SynthConfig
from gaitcompress.data.synthgait.writer import generate
from gaitcompress.evaluation.gei import gei_baseline, same_view_rank1
from gaitcompress.results import make_results, summarize, write_results


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", default="bench/results/synthgait-default.json")
    args = parser.parse_args(argv)
    cfg = SynthConfig()
    walls, cpus, loads, size = [], [], [], 0
    keep = None
    for run in range(args.runs):
        folder = Path(tempfile.mkdtemp(prefix="synthgait-bench-"))
        loads.append(os.getloadavg()[0])
        cpu0, wall0 = _children_cpu() + time.process_time(), time.perf_counter()
        generate(cfg, folder, processes=args.processes)
        walls.append(time.perf_counter() - wall0)
        cpus.append(_children_cpu() + time.process_time() - cpu0)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        print(f"run {run}: {walls[-1]:.1f} s wall, {cpus[-1]:.1f} s CPU, load {loads[-1]:.1f}, {size / 1e6:.1f} MB")
        if keep is None:
            keep = folder
        else:
            shutil.rmtree(folder)
    result = gei_baseline(DataConfig(dataset="synthgait", root=str(keep), test_batch=64))
    shutil.rmtree(keep)
    same = same_view_rank1(result)
    r1 = {k: summarize([v]) for k, v in result.metrics.items() if k.endswith("@R1")}
    rows = [
        {"method": "gei-nn", "label": "GEI nearest neighbour, CASIA-B protocol (cross-view)", "model": "gei",
         "bits": "fp32", "seeds": [cfg.seed], "metrics": r1},
        {"method": "gei-nn-same-view", "label": "GEI nearest neighbour, identical-view cells only (diagnostic)",
         "model": "gei", "bits": "fp32", "seeds": [cfg.seed],
         "metrics": {f"{c}@R1": summarize([v]) for c, v in same.items()}},
        {"method": "generation", "label": f"generate the default set, {args.processes} processes, {args.runs} runs",
         "model": "", "bits": "", "seeds": [cfg.seed],
         "metrics": {"wall_s": summarize(walls), "cpu_s": summarize(cpus), "load1": summarize(loads),
                     "MB": summarize([size / 1e6])},
         "median_wall_s": statistics.median(walls)},
    ]  # fmt: skip
    dataset = {"name": "synthgait", "seed": cfg.seed, "ids": [cfg.train, cfg.ids - cfg.train], "input": [64, 44],
               "frames": cfg.frames, "settings": dataclasses.asdict(cfg), "hash": cfg.digest()}  # fmt: skip
    command = " ".join(["python -m gaitlab.synthgait_benchmark", *(sys.argv[1:] if argv is None else argv)])
    path = write_results(make_results("synthgait-default", rows, dataset, command), args.out)
    print(f"median wall {statistics.median(walls):.1f} s; GEI-NN {result.metrics}; wrote {path}")


if __name__ == "__main__":
    main()
