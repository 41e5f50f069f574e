"""`gaitcompress bench`: latency and throughput of any mix of models × backends on the same inputs.

Backends: `torch-cpu`, `torch-cuda` (eager; `compile=True` wraps them in `torch.compile`), `ort-cpu`,
`ort-cuda` (onnxruntime, full graph optimisation so QDQ fuses), `ov-cpu` (OpenVINO: ONNX as it is, QDQ read as
INT8, or IR `.xml`; precision hint f32 unless asked), `trt` (a serialized TensorRT engine).
A model is a file: `.pt` checkpoints run on torch backends, `.onnx` on onnxruntime or OpenVINO, `.xml` on
OpenVINO, `.engine`/`.plan` on TensorRT. Each model runs at the input size its file declares (gaitcompress
metadata, else the input's static dims) and its traced frame count, unless `size` / `frames` say otherwise; a
`size` the file cannot take is an error before anything runs. Timing is the device runner's interleaved core
(`device_runner.time_interleaved`), so the workstation and the device-side script measure identically; CUDA
torch runs are timed with CUDA events. Every row records its input, the runtime's settings and the load average.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gaitcompress.bench.device_runner import (
    OV_HINTS,
    OV_PRECISIONS,
    declared_input,
    latency_summary,
    ort_info,
    ort_runner,
    ov_runner,
    peak_rss_mb,
    random_silhouettes,
    ratios,
    time_interleaved,
    trt_runner,
)
from gaitcompress.errors import GaitCompressError, did_you_mean
from gaitcompress.progress import NULL, Tracker

BACKENDS = ("torch-cpu", "torch-cuda", "ort-cpu", "ort-cuda", "ov-cpu", "trt")
DEFAULT_SIZE, DEFAULT_FRAMES = (64, 44), 30  # for files that declare nothing (checkpoints, engines)
_SUFFIX_BACKENDS = {
    ".pt": ("torch-cpu", "torch-cuda"),
    ".onnx": ("ort-cpu", "ort-cuda", "ov-cpu"),
    ".xml": ("ov-cpu",),
    ".engine": ("trt",),
    ".plan": ("trt",),
}


@dataclasses.dataclass(frozen=True)
class BenchSpec:
    """What to measure: models (name → file), backends, batch sizes, frame counts, input size."""

    models: Mapping[str, str]
    backends: Sequence[str] = ("ort-cpu",)
    batches: Sequence[int] = (1,)
    frames: Sequence[int] | None = None  # None: each file's traced frame count (else 30)
    size: tuple[int, int] | None = None  # None: each file's declared H×W (else 64×44)
    rounds: int = 30
    warmup: int = 3
    threads: int = 0
    compile: bool = False
    reference: str | None = None  # model name that ratios are relative to (default: the first)
    ov_hint: str = "LATENCY"  # ov-cpu PERFORMANCE_HINT
    ov_precision: str = "f32"  # ov-cpu INFERENCE_PRECISION_HINT ('default': OpenVINO's own, BF16 where the CPU has it)


def _check(spec: BenchSpec) -> None:
    for backend in spec.backends:
        if backend not in BACKENDS:
            raise GaitCompressError(f"unknown backend {backend!r}", did_you_mean(backend, BACKENDS))
    for name, path in spec.models.items():
        if not Path(path).is_file():
            raise GaitCompressError(f"model {name!r}: file not found: {path}", "pass NAME=PATH to an existing file")
        if Path(path).suffix not in _SUFFIX_BACKENDS:
            raise GaitCompressError(
                f"model {name!r}: {path} is not .pt/.onnx/.xml/.engine/.plan", "export the model first"
            )
    if spec.reference is not None and spec.reference not in spec.models:
        raise GaitCompressError(
            f"--ratio-to {spec.reference!r} is not a model name", did_you_mean(spec.reference, spec.models)
        )
    if spec.ov_hint not in OV_HINTS:
        raise GaitCompressError(f"unknown OpenVINO hint {spec.ov_hint!r}", did_you_mean(spec.ov_hint, OV_HINTS))
    if spec.ov_precision not in OV_PRECISIONS:
        raise GaitCompressError(
            f"unknown OpenVINO precision {spec.ov_precision!r}", did_you_mean(spec.ov_precision, OV_PRECISIONS)
        )
    if "ov-cpu" in spec.backends:
        try:
            import openvino  # noqa: F401
        except ImportError:
            raise GaitCompressError("backend ov-cpu needs OpenVINO", "pip install 'gaitcompress[openvino]'") from None


def model_inputs(spec: BenchSpec) -> dict[str, tuple[tuple[int, int], list[int]]]:
    """Per model: the (H, W) it runs at and the frame counts, from `spec` or what its file declares.

    A `spec.size` that contradicts a file's declared size is refused here, naming the file, instead of failing
    inside the runtime with a shape error.
    """
    out = {}
    for name, path in spec.models.items():
        declared = declared_input(str(path))
        have = (declared["height"], declared["width"]) if "height" in declared else None
        if spec.size is not None and have is not None and tuple(spec.size) != have:
            raise GaitCompressError(
                f"model {name!r}: {path} takes {have[0]}×{have[1]} inputs, not --size {spec.size[0]} {spec.size[1]}",
                "drop --size (bench reads each file's size), or export the model at that size",
            )
        size = tuple(spec.size) if spec.size is not None else have or DEFAULT_SIZE
        frames = list(spec.frames) if spec.frames else [declared.get("frames", DEFAULT_FRAMES)]
        out[name] = (size, frames)
    return out


def _torch_runner(path: str, sils: np.ndarray, device: str, compile_: bool, threads: int):
    import torch

    from gaitcompress.quant import load_model  # the one loader, with the qat kind registered

    if device == "cuda" and not torch.cuda.is_available():
        raise GaitCompressError("backend torch-cuda asked for, but torch sees no CUDA device", "use torch-cpu")
    if threads:
        torch.set_num_threads(threads)
    model = load_model(path).eval().to(device)
    fn = torch.compile(model) if compile_ else model
    x = torch.from_numpy(sils).to(device)

    def run() -> None:
        with torch.inference_mode():
            fn(x)
        if device == "cuda":
            torch.cuda.synchronize()

    timer = None
    if device == "cuda":

        def timer(runner: Callable[[], Any]) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            with torch.inference_mode():
                fn(x)
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))

    return run, timer


def _runners(
    spec: BenchSpec, inputs: Mapping[str, np.ndarray]
) -> tuple[dict[str, Callable], dict[str, Callable], dict[str, dict[str, Any]]]:
    """Runners keyed `name@backend` on each model's own input, CUDA-event timers, and each one's runtime settings."""
    runners, timers, infos = {}, {}, {}
    for (name, path), backend in itertools.product(spec.models.items(), spec.backends):
        if backend not in _SUFFIX_BACKENDS[Path(path).suffix]:
            continue
        key, sils = f"{name}@{backend}", inputs[name]
        if backend.startswith("torch"):
            runners[key], timer = _torch_runner(path, sils, backend.split("-")[1], spec.compile, spec.threads)
            infos[key] = {"runtime": "torch", "threads": spec.threads or "default"}
            if timer is not None:
                timers[key] = timer
        elif backend.startswith("ort"):
            runners[key], infos[key] = (
                ort_runner(path, sils, backend.split("-")[1], spec.threads),
                ort_info(spec.threads),
            )
        elif backend == "ov-cpu":
            runners[key], infos[key] = ov_runner(path, sils, spec.threads, spec.ov_hint, spec.ov_precision)
        else:
            runners[key], timers[key] = trt_runner(path, sils)
            infos[key] = {"runtime": "tensorrt"}
    if not runners:
        raise GaitCompressError(
            "no model matches the chosen backends", "pass .onnx for ort-*/ov-cpu, .xml for ov-cpu, .pt for torch-*"
        )
    return runners, timers, infos


def run_bench(spec: BenchSpec, tracker: Tracker = NULL) -> list[dict[str, Any]]:
    """Rows in the results form: one per model × backend × batch × frames, with p50/p90/p99 and ratios.

    Each row's `latency` also holds `input` [H, W], `runtime` (name, version, threads; OpenVINO's hint and
    precision as the compiled model reports them) and `load_avg` before/after its rounds.
    """
    _check(spec)
    reference = spec.reference or next(iter(spec.models))
    inputs = model_inputs(spec)
    n_frames = max(len(frames) for _, frames in inputs.values())
    rows = []
    for batch, i in itertools.product(spec.batches, range(n_frames)):
        frames = {name: fr[min(i, len(fr) - 1)] for name, (_, fr) in inputs.items()}
        sils = {name: random_silhouettes(batch, frames[name], *inputs[name][0]) for name in spec.models}
        runners, timers, infos = _runners(spec, sils)
        load_before = list(os.getloadavg())
        label = f"batch {batch}, {'/'.join(map(str, sorted(set(frames.values()))))} frames"
        with tracker.task(label, spec.rounds) as step:
            samples = time_interleaved(runners, spec.rounds, spec.warmup, timers=timers, on_round=lambda _: step(1))
        load = {"before": load_before, "after": list(os.getloadavg())}
        for backend in spec.backends:
            ref_key = f"{reference}@{backend}"
            mine = {k: v for k, v in samples.items() if k.endswith(f"@{backend}")}
            rel = ratios(mine, ref_key) if ref_key in samples else {}
            for key, ms in mine.items():
                name = key.rsplit("@", 1)[0]
                lat = latency_summary(ms, batch, frames[name], backend)
                lat.update(input=list(inputs[name][0]), runtime=infos[key], load_avg=load, peak_rss_mb=peak_rss_mb())
                if key in rel:
                    lat["ratio_to"] = {reference: rel[key]}
                rows.append({"method": name, "label": spec.models[name], "latency": lat})
    return rows
