"""How many camera streams one CPU serves (issue 20): sequences/s at batch 1/8/32 and with concurrent streams.

    BOTH="flock /work/.slots/slot0 flock /work/.slots/slot1"   # both cores quiet, also for the 1-core run
    $BOTH python -m gaitlab.throughput measure --cores 1 --work runs/deploy_cpu
    $BOTH python -m gaitlab.throughput measure --cores 2 --work runs/deploy_cpu
    python -m gaitlab.throughput table --work runs/deploy_cpu

Models: the files `gaitlab.deploy_cpu build` wrote (the quick student at 64×44 × 30 frames: onnxruntime FP32 and
INT8, OpenVINO FP32 and the same INT8 file). `--cores N` is the thread budget of the whole measurement: the process
is pinned to N cores (run it holding as many slots).
1. Batch: one session with N threads, batch 1, 8, 32; all variants interleaved per batch (median of rounds).
2. Streams (S cameras, each sending one 30-frame sequence at a time): (a) one session per camera, each with
   max(1, N // S) threads, every camera looping on its own Python thread (the runtimes release the GIL); for
   OpenVINO one compiled model with NUM_STREAMS=S (THROUGHPUT hint) and S infer requests, OpenVINO's own way of
   serving streams; (b) one batched session with N threads running batch S (each camera waits for the batch).
   (a) and (b) alternate in `--rounds` windows of `--window` seconds; medians of the windows and of their ratios.
Writes `bench/results/throughput-cpu.{json,md}` and `throughput-cpu.png` (latency against throughput).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from gaitcompress.bench.device_runner import (
    concurrent_throughput,
    latency_summary,
    ort_info,
    ort_runner,
    ov_compile,
    ov_info,
    ov_runner,
    random_silhouettes,
    time_interleaved,
)
from gaitlab.deploy_cpu import attach_environments, measured_environment, render_environments

FRAMES, SIZE = 30, (64, 44)
VARIANTS = {  # name → (runtime, file key in deploy_cpu's files.json)
    "ort-fp32": ("ort", "ort-fp32"),
    "ort-int8-gc": ("ort", "ort-int8-gc"),
    "ov-fp32": ("ov", "ort-fp32"),
    "ov-int8-gc": ("ov", "ov-int8-gc"),  # the IR `gaitcompress export --openvino` writes
}


def _runner(variant: str, path: str, batch: int, threads: int) -> tuple[Any, dict[str, Any]]:
    sils = random_silhouettes(batch, FRAMES, *SIZE)
    if VARIANTS[variant][0] == "ort":
        return ort_runner(path, sils, "cpu", threads), ort_info(threads)
    return ov_runner(path, sils, threads, "LATENCY", "f32")


def _per_camera(variant: str, path: str, streams: int, cores: int) -> tuple[list[Any], dict[str, Any]]:
    """S runners for S cameras: S onnxruntime sessions, or one OpenVINO model compiled with S streams."""
    sils = random_silhouettes(1, FRAMES, *SIZE)
    threads = max(1, cores // streams)
    if VARIANTS[variant][0] == "ort":
        return [ort_runner(path, sils, "cpu", threads) for _ in range(streams)], ort_info(threads)
    compiled = ov_compile(path, cores, "THROUGHPUT", "f32", streams=streams)
    requests = [compiled.create_infer_request() for _ in range(streams)]
    return [lambda r=r: r.infer({0: sils}) for r in requests], ov_info(compiled)


def measure(args: argparse.Namespace) -> None:
    files = json.loads((Path(args.work) / "files.json").read_text())[args.model]
    # the budget is real only if the process cannot spill onto other cores (S per-camera threads would)
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    doc: dict[str, Any] = {"cores": args.cores, "model": args.model, "batch": {}, "streams": {}}
    doc["environment"] = measured_environment(args.command)
    out = Path(args.work) / f"throughput-c{args.cores}.json"
    for batch in args.batches:
        runners, infos = {}, {}
        for v, (_, key) in VARIANTS.items():
            runners[v], infos[v] = _runner(v, files[key], batch, args.cores)
        load = list(os.getloadavg())
        samples = time_interleaved(runners, rounds=args.rounds, warmup=1)
        doc["batch"][str(batch)] = {
            v: {
                **latency_summary(ms, batch, FRAMES, v.split("-")[0] + "-cpu"),
                "runtime": infos[v],
                "load_avg": {"before": load, "after": list(os.getloadavg())},
            }
            for v, ms in samples.items()
        }
        print(
            f"batch {batch}: "
            + ", ".join(f"{v} {r['throughput_seq_s']:.1f}/s" for v, r in doc["batch"][str(batch)].items()),
            flush=True,
        )
        del runners
        out.write_text(json.dumps(doc, indent=2))  # after each part: a later failure keeps it
    for streams in args.streams:
        for v, (_, key) in VARIANTS.items():
            cams, cam_info = _per_camera(v, files[key], streams, args.cores)
            batched, batch_info = _runner(v, files[key], streams, args.cores)
            for r in [*cams, batched]:
                r()  # warm-up
            load = list(os.getloadavg())
            a, b = [], []
            for _ in range(args.rounds // 2 or 1):
                a.append(concurrent_throughput(cams, args.window))
                b.append(concurrent_throughput([batched], args.window, batch=streams))
            doc["streams"].setdefault(str(streams), {})[v] = {
                "per_camera": {
                    "seq_s": statistics.median(x["seq_s"] for x in a),
                    "p50_ms": statistics.median(x["p50_ms"] for x in a),
                    "runtime": cam_info,
                },
                "batched": {
                    "seq_s": statistics.median(x["seq_s"] for x in b),
                    "p50_ms": statistics.median(x["p50_ms"] for x in b),
                    "runtime": batch_info,
                },
                "per_camera_over_batched": statistics.median(
                    x["seq_s"] / y["seq_s"] for x, y in zip(a, b, strict=True)
                ),
                "windows": len(a),
                "window_s": args.window,
                "load_avg": {"before": load, "after": list(os.getloadavg())},
            }
            s = doc["streams"][str(streams)][v]
            print(
                f"{streams} streams {v}: per-camera {s['per_camera']['seq_s']:.1f}/s, "
                f"batched {s['batched']['seq_s']:.1f}/s",
                flush=True,
            )
            del cams, batched
            out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}")


def table(args: argparse.Namespace) -> None:
    from gaitcompress.bench.plots import plot_latency_throughput
    from gaitcompress.results import make_results, write_results

    rows, points, measured = [], [], {}
    for cores in (1, 2):
        path = Path(args.work) / f"throughput-c{cores}.json"
        if not path.is_file():
            continue
        doc = json.loads(path.read_text())
        measured[f"throughput-c{cores}"] = doc["environment"]
        for batch, per in doc["batch"].items():
            for v, lat in per.items():
                rows.append(
                    {"method": v, "label": f"batch {batch}", "model": doc["model"], "cores": cores, "latency": lat}
                )
                points.append((f"{v}, {cores} core(s)", lat["p50_ms"], lat["throughput_seq_s"], f"b{batch}"))
        for streams, per in doc["streams"].items():
            for v, res in per.items():
                rows.append(
                    {"method": v, "label": f"{streams} streams", "model": doc["model"], "cores": cores, "streams": res}
                )
                points.append(
                    (f"{v}, {cores} core(s)", res["per_camera"]["p50_ms"], res["per_camera"]["seq_s"], f"{streams}cam")
                )
    notes = (
        "Sequences per second (64×44, 30 frames). Batch rows: one session, all variants interleaved, median of rounds "
        "(`latency.throughput_seq_s`). Stream rows: S cameras, one session per camera (OpenVINO: NUM_STREAMS=S) vs one "
        "session running batch S, alternating windows; `per_camera_over_batched` is the median of per-window ratios. "
        "Model: the quick SynthGait student (w8a8 QAT for INT8). No GPU lent in this session. The machine is shared "
        "(2 cores, other agents): load averages are in each row."
    )
    doc = make_results(
        "throughput-cpu",
        rows,
        {"name": "random-silhouettes", "input": list(SIZE), "frames": FRAMES},
        command=args.command,
        notes=notes,
    )
    attach_environments(doc, measured)
    out = Path(args.out)
    write_results(doc, out / "throughput-cpu.json")
    (out / "throughput-cpu.md").write_text(_render(doc))
    plot_latency_throughput(
        points,
        out / "throughput-cpu.png",
        title=f"quick student, {SIZE[0]}×{SIZE[1]}×{FRAMES}, {doc['environment']['cpu']}",
    )
    print(f"wrote {out}/throughput-cpu.{{json,md,png}}")


def _render(doc: dict[str, Any]) -> str:
    lines = ["# throughput-cpu", "", f"Command: `{doc['command']}`", "", doc["notes"], ""]
    lines += ["| variant | cores | batch | p50 ms / call | seq/s |", "|---|---|---|---|---|"]
    for r in doc["rows"]:
        if "latency" in r:
            lat = r["latency"]
            lines.append(
                f"| {r['method']} | {r['cores']} | {lat['batch']} | {lat['p50_ms']:.1f} | "
                f"{lat['throughput_seq_s']:.1f} |"
            )
    lines += [
        "",
        "| variant | cores | cameras | per-camera sessions: seq/s (p50 ms) | one batched session: seq/s (p50 ms) "
        "| ratio |",
    ]
    lines += ["|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        if "streams" in r:
            s = r["streams"]
            a, b = s["per_camera"], s["batched"]
            lines.append(
                f"| {r['method']} | {r['cores']} | {r['label'].split()[0]} | {a['seq_s']:.1f} ({a['p50_ms']:.1f}) | "
                f"{b['seq_s']:.1f} ({b['p50_ms']:.1f}) | {s['per_camera_over_batched']:.2f}× |"
            )
    lines += ["", *render_environments(doc)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["measure", "table"])
    parser.add_argument("--work", default="runs/deploy_cpu")
    parser.add_argument("--model", default="student")
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--streams", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args(argv)
    args.command = "python -m gaitlab.throughput " + " ".join(sys.argv[1:] if argv is None else argv)
    {"measure": measure, "table": table}[args.step](args)


if __name__ == "__main__":
    main()
