#!/usr/bin/env python3
"""Device-side latency runner: numpy + onnxruntime, OpenVINO or TensorRT only — no torch, no gaitcompress.

Copy this one file (it is also `bench/device_bench.py` at the repository top level) with your ONNX
models, OpenVINO IR (.xml + .bin) or TensorRT engines to a Jetson, GPU server or Intel CPU box and run:

    python device_bench.py teacher=teacher.onnx w8a8=student_w8a8.onnx --backend ort-cpu \
        --frames 30 --batch 1 --rounds 50 --out latency.json --ratio-to teacher
    python device_bench.py w8a8=student_w8a8.onnx --backend ov-cpu --threads 1 --ov-hint LATENCY

`ov-cpu` runs ONNX files as they are (OpenVINO reads QDQ as INT8) or IR; its FP32 figure is taken with the
precision hint f32 (OpenVINO's CPU default is BF16 where the CPU has it), and the hint, threads and runtime
version go into every row's `runtime`. Input size and frames default to what the first model declares.

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


def concurrent_throughput(
    runners: Sequence[Runner], seconds: float, batch: int = 1, clock: Callable[[], float] = time.perf_counter
) -> dict[str, float]:
    """Sequences per second when every runner loops on its own thread for `seconds` (one per camera stream).

    onnxruntime and OpenVINO release the GIL while they run, so the threads compute concurrently. Returns the
    total rate and the median per-call latency over all streams.
    """
    import threading

    calls: list[list[float]] = [[] for _ in runners]
    start = clock()
    deadline = start + seconds

    def loop(i: int) -> None:
        while clock() < deadline:
            t0 = clock()
            runners[i]()
            calls[i].append((clock() - t0) * 1e3)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(runners))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = clock() - start
    done = sum(len(c) for c in calls)
    return {"seq_s": done * batch / elapsed, "p50_ms": statistics.median(x for c in calls for x in c), "calls": done}


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
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    # pool threads spin after a run by default and steal the cores of the next session timed beside it: measured
    # on 2 cores, the quick student's FP32 at 2 threads ran 24.2 ms interleaved vs 9.5 ms alone; with spinning
    # stopped at the end of each run, 9.9 vs 10.1 (spinning inside a run, what a deployment sees, is kept)
    opts.add_session_config_entry("session.force_spinning_stop", "1")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise SystemExit(f"{path}: onnxruntime has no CUDA provider here; install onnxruntime-gpu or use ort-cpu")
    session = ort.InferenceSession(path, opts, providers=providers)
    feed = {session.get_inputs()[0].name: sils}
    return lambda: session.run(None, feed)


def ort_info(threads: int = 0) -> dict[str, Any]:
    """What an onnxruntime figure was taken with (recorded in every row)."""
    import onnxruntime as ort

    return {
        "runtime": "onnxruntime",
        "version": ort.__version__,
        "threads": threads or "default",
        "spinning": "stopped after each run",
    }


OV_HINTS = ("LATENCY", "THROUGHPUT")
OV_PRECISIONS = ("f32", "bf16", "f16", "default")


def ov_compile(path: str, threads: int = 0, hint: str = "LATENCY", precision: str = "f32", streams: int = 0) -> Any:
    """An OpenVINO CPU compiled model of an ONNX file (QDQ read as INT8) or an IR `.xml`.

    `precision` is INFERENCE_PRECISION_HINT for the float parts ('default' leaves OpenVINO's choice: BF16 on
    CPUs with it); a precision the CPU lacks is refused (OPTIMIZATION_CAPABILITIES), not silently replaced.
    """
    try:
        import openvino as ov
    except ImportError as exc:
        raise SystemExit(f"{path}: backend ov-cpu needs the 'openvino' package ({exc})") from exc
    if hint not in OV_HINTS or precision not in OV_PRECISIONS:
        raise SystemExit(f"ov-cpu: hint must be one of {OV_HINTS}, precision one of {OV_PRECISIONS}")
    core = ov.Core()
    capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if precision not in ("f32", "default") and precision.upper() not in capabilities:
        raise SystemExit(f"ov-cpu: this CPU does not support {precision} (capabilities: {', '.join(capabilities)})")
    config: dict[str, Any] = {"PERFORMANCE_HINT": hint}
    if precision != "default":
        config["INFERENCE_PRECISION_HINT"] = precision
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    if streams:
        config["NUM_STREAMS"] = streams
    return core.compile_model(path, "CPU", config)


def ov_info(compiled: Any) -> dict[str, Any]:
    """The settings an OpenVINO figure was taken with, read back from the compiled model (not what was asked)."""
    import openvino as ov

    info: dict[str, Any] = {"runtime": "openvino", "version": ov.get_version()}
    for key, prop in (
        ("threads", "INFERENCE_NUM_THREADS"),
        ("hint", "PERFORMANCE_HINT"),
        ("precision", "INFERENCE_PRECISION_HINT"),
        ("streams", "NUM_STREAMS"),
    ):
        value = compiled.get_property(prop)
        info[key] = value.get_type_name() if hasattr(value, "get_type_name") else str(value)  # ov.Type → 'f32'
    return info


def ov_runner(
    path: str, sils: np.ndarray, threads: int = 0, hint: str = "LATENCY", precision: str = "f32"
) -> tuple[Runner, dict[str, Any]]:
    """An OpenVINO CPU infer request as a runner, and the settings it runs with (`ov_info`)."""
    compiled = ov_compile(path, threads, hint, precision)
    request = compiled.create_infer_request()
    feed = {0: sils}
    return (lambda: request.infer(feed)), ov_info(compiled)


def declared_input(path: str) -> dict[str, Any]:
    """Input `height`, `width` (and `frames` where the file says) that a model file declares; {} when unknown.

    ONNX: the `input` entry of gaitcompress metadata (its traced frame count included), else the input's static
    dims; OpenVINO IR: the input's static dims. Engines and checkpoints declare nothing here.
    """
    if path.endswith(".onnx"):
        import onnx

        model = onnx.load(path, load_external_data=False)
        meta = next((p.value for p in model.metadata_props if p.key == "input"), None)
        if meta is not None:
            spec = json.loads(meta)
            out = {"height": int(spec["shape"][2]), "width": int(spec["shape"][3])}
            return {**out, "frames": int(spec["traced_frames"])} if spec.get("traced_frames") else out
        dims = [d.dim_value or None for d in model.graph.input[0].type.tensor_type.shape.dim]
    elif path.endswith(".xml"):
        import openvino as ov

        shape = ov.Core().read_model(path).inputs[0].get_partial_shape()
        dims = [d.get_length() if d.is_static else None for d in shape]
    else:
        return {}
    if len(dims) != 4 or dims[2] is None or dims[3] is None:
        return {}
    return {"height": dims[2], "width": dims[3], **({"frames": dims[1]} if dims[1] else {})}


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


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
    for mod in ("onnxruntime", "openvino", "tensorrt"):
        try:
            env[mod] = __import__(mod).__version__
        except ImportError:
            env[mod] = None
    env.update(cpu=cpu_model(), cpu_flags=cpu_flags(), cores=os.cpu_count(), load_avg=list(os.getloadavg()))
    return env


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="NAME=PATH (.onnx, OpenVINO .xml, or .engine/.plan)")
    parser.add_argument("--backend", default="ort-cpu", choices=["ort-cpu", "ort-cuda", "ov-cpu", "trt"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--frames", type=int, default=None, help="frames per sequence (default: declared, else 30)")
    parser.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"), help="default: declared")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = the runtime's default)")
    parser.add_argument("--ov-hint", default="LATENCY", choices=OV_HINTS, help="ov-cpu PERFORMANCE_HINT")
    parser.add_argument("--ov-precision", default="f32", choices=OV_PRECISIONS, help="ov-cpu INFERENCE_PRECISION_HINT")
    parser.add_argument("--ratio-to", default=None, help="model NAME that ratios are relative to")
    parser.add_argument("--out", default="latency.json")
    args = parser.parse_args(argv)

    models = {}
    for item in args.models:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            parser.error(f"{item!r}: expected NAME=PATH to an existing file")
        models[name] = path
    declared = declared_input(next(iter(models.values())))
    size = tuple(args.size) if args.size else (declared.get("height", 64), declared.get("width", 44))
    frames = args.frames or declared.get("frames", 30)
    sils = random_silhouettes(args.batch, frames, *size)
    runners, timers, infos = {}, {}, {}
    for name, path in models.items():
        if args.backend == "trt":
            runners[name], timers[name] = trt_runner(path, sils)
            infos[name] = {"runtime": "tensorrt"}
        elif args.backend == "ov-cpu":
            runners[name], infos[name] = ov_runner(path, sils, args.threads, args.ov_hint, args.ov_precision)
        else:
            runners[name] = ort_runner(path, sils, "cuda" if args.backend == "ort-cuda" else "cpu", args.threads)
            infos[name] = ort_info(args.threads)
    load_before = list(os.getloadavg())
    samples = time_interleaved(runners, args.rounds, args.warmup, timers=timers)
    load = {"before": load_before, "after": list(os.getloadavg())}
    reference = args.ratio_to or next(iter(models))
    rel = ratios(samples, reference)
    rows = []
    for name, ms in samples.items():
        lat = latency_summary(ms, args.batch, frames, args.backend)
        lat.update(ratio_to={reference: rel[name]}, runtime=infos[name], load_avg=load, input=list(size))
        rows.append({"method": name, "label": models[name], "latency": lat})
    doc = {
        "schema": SCHEMA,
        "name": "device-latency",
        "command": " ".join(sys.argv),
        "dataset": {"name": "random-silhouettes", "input": list(size), "frames": frames},
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
    print(f"wrote {args.out} ({size[0]}×{size[1]}, {frames} frames, batch {args.batch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
