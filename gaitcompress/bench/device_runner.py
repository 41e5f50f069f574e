#!/usr/bin/env python3
"""Device-side latency runner: numpy + onnxruntime or TensorRT only — no torch, no gaitcompress.

Copy this one file (it is also `bench/device_bench.py` at the repository top level) with your ONNX
models or TensorRT engines to a Jetson or GPU server and run, for example:

    python device_bench.py teacher=teacher.onnx w8a8=student_w8a8.onnx --backend ort-cpu \
        --frames 30 --batch 1 --rounds 50 --out latency.json --ratio-to teacher

Every model runs on the same random binary silhouettes; rounds are interleaved (each round times every
model once, in a rotating order) so that a shared, noisy machine slows all of them alike, and the
result quotes medians and ratios, never one absolute time. The JSON has the gaitcompress results form
(schema gaitcompress.results/1) so `gaitcompress gate` and the plots read it. `gaitcompress bench` imports
the timing core from here, so the device and the workstation measure the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "gaitcompress.results/1"
Runner = Callable[[], Any]  # one timed inference call; must return only after the device is done


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of `values` (q in [0, 100])."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def time_interleaved(
    runners: Mapping[str, Runner],
    rounds: int = 30,
    warmup: int = 3,
    clock: Callable[[], float] = time.perf_counter,
    timers: Mapping[str, Callable[[Runner], float]] | None = None,
    on_round: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """Milliseconds per call for each runner, measured in interleaved rounds after `warmup` calls each.

    The order rotates every round so no runner always follows the same neighbour (cache and
    frequency effects). `timers[name]` replaces wall-clock timing for a runner (CUDA events).
    """
    names = list(runners)
    for name in names:
        for _ in range(warmup):
            runners[name]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            timer = (timers or {}).get(name)
            if timer is not None:
                samples[name].append(timer(runners[name]))
            else:
                start = clock()
                runners[name]()
                samples[name].append((clock() - start) * 1e3)
        if on_round is not None:
            on_round(r)
    return samples


def latency_summary(ms: Sequence[float], batch: int, frames: int, backend: str) -> dict[str, Any]:
    """p50/p90/p99 in ms and throughput in sequences per second (at the median)."""
    p50 = statistics.median(ms)
    return {
        "backend": backend,
        "batch": batch,
        "frames": frames,
        "p50_ms": p50,
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "throughput_seq_s": batch * 1e3 / p50 if p50 > 0 else float("inf"),
        "rounds": len(ms),
    }


def ratios(samples: Mapping[str, Sequence[float]], reference: str) -> dict[str, float]:
    """Median over rounds of (model time / reference time) in the same round — the interleaved ratio."""
    ref = samples[reference]
    return {name: statistics.median(a / b for a, b in zip(ms, ref, strict=True)) for name, ms in samples.items()}


def random_silhouettes(batch: int, frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Binary-ish silhouettes float32 [N, T, H, W] in {0, 1}: the input contract of every gait model."""
    rng = np.random.default_rng(seed)
    return (rng.random((batch, frames, height, width)) > 0.6).astype(np.float32)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB; Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def ort_runner(path: str, sils: np.ndarray, device: str = "cpu", threads: int = 0) -> Runner:
    """An onnxruntime session with full graph optimisation (QDQ → QLinear fusion) as a runner."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise SystemExit(f"{path}: onnxruntime has no CUDA provider here; install onnxruntime-gpu or use ort-cpu")
    session = ort.InferenceSession(path, opts, providers=providers)
    feed = {session.get_inputs()[0].name: sils}
    return lambda: session.run(None, feed)


def trt_runner(path: str, sils: np.ndarray) -> tuple[Runner, Callable[[Runner], float]]:
    """A TensorRT engine runner (TensorRT ≥ 10 tensor API + cuda-python) and a CUDA-event timer for it."""
    try:
        import tensorrt as trt
        from cuda.bindings import runtime as cudart
    except ImportError as exc:
        raise SystemExit(f"{path}: needs the 'tensorrt' and 'cuda-python' packages ({exc})") from exc

    def check(result: Any) -> Any:
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            raise RuntimeError(f"CUDA error {err}")
        return rest[0] if len(rest) == 1 else rest

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(Path(path).read_bytes())
    context = engine.create_execution_context()
    stream = check(cudart.cudaStreamCreate())
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inp = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
    context.set_input_shape(inp, sils.shape)
    buffers = {}
    for name in names:
        shape = tuple(context.get_tensor_shape(name))
        nbytes = int(np.prod(shape)) * np.dtype(trt.nptype(engine.get_tensor_dtype(name))).itemsize
        buffers[name] = check(cudart.cudaMalloc(nbytes))
        context.set_tensor_address(name, buffers[name])
    host = np.ascontiguousarray(sils)
    check(cudart.cudaMemcpy(buffers[inp], host.ctypes.data, host.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))

    def run() -> None:
        context.execute_async_v3(stream)
        check(cudart.cudaStreamSynchronize(stream))

    def event_timer(fn: Runner) -> float:
        start, end = check(cudart.cudaEventCreate()), check(cudart.cudaEventCreate())
        check(cudart.cudaEventRecord(start, stream))
        context.execute_async_v3(stream)
        check(cudart.cudaEventRecord(end, stream))
        check(cudart.cudaEventSynchronize(end))
        return float(check(cudart.cudaEventElapsedTime(start, end)))

    return run, event_timer


def cpu_flags() -> list[str]:
    wanted = ("avx", "fma", "sse4_2", "amx", "neon", "asimd")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return sorted(f for f in line.split(":", 1)[1].split() if f.startswith(wanted))
    except OSError:
        pass
    return []


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine()}
    for mod in ("onnxruntime", "tensorrt"):
        try:
            env[mod] = __import__(mod).__version__
        except ImportError:
            env[mod] = None
    env.update(cpu=platform.processor() or platform.machine(), cpu_flags=cpu_flags(), cores=os.cpu_count())
    return env


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="NAME=PATH (.onnx or .engine/.plan)")
    parser.add_argument("--backend", default="ort-cpu", choices=["ort-cpu", "ort-cuda", "trt"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--size", type=int, nargs=2, default=(64, 44), metavar=("H", "W"))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = default)")
    parser.add_argument("--ratio-to", default=None, help="model NAME that ratios are relative to")
    parser.add_argument("--out", default="latency.json")
    args = parser.parse_args(argv)

    models = {}
    for item in args.models:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            parser.error(f"{item!r}: expected NAME=PATH to an existing file")
        models[name] = path
    sils = random_silhouettes(args.batch, args.frames, *args.size)
    runners, timers = {}, {}
    for name, path in models.items():
        if args.backend == "trt":
            runners[name], timers[name] = trt_runner(path, sils)
        else:
            runners[name] = ort_runner(path, sils, "cuda" if args.backend == "ort-cuda" else "cpu", args.threads)
    samples = time_interleaved(runners, args.rounds, args.warmup, timers=timers)
    reference = args.ratio_to or next(iter(models))
    rel = ratios(samples, reference)
    rows = []
    for name, ms in samples.items():
        lat = latency_summary(ms, args.batch, args.frames, args.backend)
        lat["ratio_to"] = {reference: rel[name]}
        rows.append({"method": name, "label": models[name], "latency": lat})
    doc = {
        "schema": SCHEMA,
        "name": "device-latency",
        "command": " ".join(sys.argv),
        "dataset": {"name": "random-silhouettes", "input": list(args.size), "frames": args.frames},
        "environment": {**environment(), "peak_rss_mb": peak_rss_mb()},
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(doc, indent=2))
    for row in rows:
        lat = row["latency"]
        print(
            f"{row['method']:>16}  p50 {lat['p50_ms']:8.2f} ms  p90 {lat['p90_ms']:8.2f}  "
            f"p99 {lat['p99_ms']:8.2f}  ×{lat['ratio_to'][reference]:.3f} of {reference}"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
