"""`gaitcompress bench`: latency and throughput of any mix of models × backends on the same inputs.

Backends: `torch-cpu`, `torch-cuda` (eager; `compile=True` wraps them in `torch.compile`), `ort-cpu`,
`ort-cuda` (onnxruntime, full graph optimisation so QDQ fuses), `trt` (a serialized TensorRT engine).
A model is a file: `.pt` checkpoints run on torch backends, `.onnx` on onnxruntime, `.engine`/`.plan`
on TensorRT. Timing is the device runner's interleaved core (`device_runner.time_interleaved`), so the
workstation and the device-side script measure identically; CUDA torch runs are timed with CUDA events.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gaitcompress.bench.device_runner import (
    latency_summary,
    ort_runner,
    peak_rss_mb,
    random_silhouettes,
    ratios,
    time_interleaved,
    trt_runner,
)
from gaitcompress.errors import GaitCompressError, did_you_mean
from gaitcompress.progress import NULL, Tracker

BACKENDS = ("torch-cpu", "torch-cuda", "ort-cpu", "ort-cuda", "trt")
_SUFFIX_BACKENDS = {
    ".pt": ("torch-cpu", "torch-cuda"),
    ".onnx": ("ort-cpu", "ort-cuda"),
    ".engine": ("trt",),
    ".plan": ("trt",),
}


@dataclasses.dataclass(frozen=True)
class BenchSpec:
    """What to measure: models (name → file), backends, batch sizes, frame counts, input size."""

    models: Mapping[str, str]
    backends: Sequence[str] = ("ort-cpu",)
    batches: Sequence[int] = (1,)
    frames: Sequence[int] = (30,)
    size: tuple[int, int] = (64, 44)
    rounds: int = 30
    warmup: int = 3
    threads: int = 0
    compile: bool = False
    reference: str | None = None  # model name that ratios are relative to (default: the first)


def _check(spec: BenchSpec) -> None:
    for backend in spec.backends:
        if backend not in BACKENDS:
            raise GaitCompressError(f"unknown backend {backend!r}", did_you_mean(backend, BACKENDS))
    for name, path in spec.models.items():
        if not Path(path).is_file():
            raise GaitCompressError(f"model {name!r}: file not found: {path}", "pass NAME=PATH to an existing file")
        if Path(path).suffix not in _SUFFIX_BACKENDS:
            raise GaitCompressError(f"model {name!r}: {path} is not .pt/.onnx/.engine", "export the model first")
    if spec.reference is not None and spec.reference not in spec.models:
        raise GaitCompressError(
            f"--ratio-to {spec.reference!r} is not a model name", did_you_mean(spec.reference, spec.models)
        )


def _torch_runner(path: str, sils: np.ndarray, device: str, compile_: bool, threads: int):
    import torch

    from gaitcompress.checkpoints import load_model

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


def _runners(spec: BenchSpec, sils: np.ndarray) -> tuple[dict[str, Callable], dict[str, Callable]]:
    runners, timers = {}, {}
    for (name, path), backend in itertools.product(spec.models.items(), spec.backends):
        if backend not in _SUFFIX_BACKENDS[Path(path).suffix]:
            continue
        key = f"{name}@{backend}"
        if backend.startswith("torch"):
            runners[key], timer = _torch_runner(path, sils, backend.split("-")[1], spec.compile, spec.threads)
            if timer is not None:
                timers[key] = timer
        elif backend.startswith("ort"):
            runners[key] = ort_runner(path, sils, backend.split("-")[1], spec.threads)
        else:
            runners[key], timers[key] = trt_runner(path, sils)
    if not runners:
        raise GaitCompressError("no model matches the chosen backends", "pass .onnx for ort-*, .pt for torch-*")
    return runners, timers


def run_bench(spec: BenchSpec, tracker: Tracker = NULL) -> list[dict[str, Any]]:
    """Rows in the results form: one per model × backend × batch × frames, with p50/p90/p99 and ratios."""
    _check(spec)
    reference = spec.reference or next(iter(spec.models))
    rows = []
    for batch, frames in itertools.product(spec.batches, spec.frames):
        sils = random_silhouettes(batch, frames, *spec.size)
        runners, timers = _runners(spec, sils)
        with tracker.task(f"batch {batch}, {frames} frames", spec.rounds) as step:
            samples = time_interleaved(runners, spec.rounds, spec.warmup, timers=timers, on_round=lambda _: step(1))
        for backend in spec.backends:
            ref_key = f"{reference}@{backend}"
            rel = (
                ratios({k: v for k, v in samples.items() if k.endswith(f"@{backend}")}, ref_key)
                if (ref_key in samples)
                else {}
            )
            for key, ms in samples.items():
                if not key.endswith(f"@{backend}"):
                    continue
                name = key.rsplit("@", 1)[0]
                lat = latency_summary(ms, batch, frames, backend)
                lat["peak_rss_mb"] = peak_rss_mb()
                if key in rel:
                    lat["ratio_to"] = {reference: rel[key]}
                rows.append({"method": name, "label": spec.models[name], "latency": lat})
    return rows
