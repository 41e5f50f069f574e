"""Deployment-size CPU latency (issue 20): every backend a CPU user would pick, at 64×44 × 30 frames, batch 1.

Writes `bench/results/deploy-cpu.{json,md}` (latency per model × variant × threads, ratios to onnxruntime FP32 of the
same model, with each INT8 model's SynthGait accuracy beside it) and `bench/results/deploy-int8-passes.{json,md}`
(the ort export's clean-up passes one by one, with the onnxruntime op-type profile before and after). Steps, each
caching its outputs under `--work` (on the shared 2-core machine: one slot for one thread, both for two):

    X="--teacher RUN/teacher --student RUN/student --qat RUN/quant-qgait8 --work runs/deploy_cpu"
    BOTH="flock /work/.slots/slot0 flock /work/.slots/slot1 env OMP_NUM_THREADS=2"
    /work/slot python -m gaitlab.deploy_cpu build $X
    /work/slot python -m gaitlab.deploy_cpu speed --threads 1 $X
    $BOTH python -m gaitlab.deploy_cpu speed --threads 2 $X
    /work/slot python -m gaitlab.deploy_cpu passes --threads 1 $X   # and --threads 2 under $BOTH
    /work/slot python -m gaitlab.deploy_cpu accuracy $X
    python -m gaitlab.deploy_cpu table $X

Models: `gaitbase` (full width, random init: speed only, its weights do not change the kernels' work), the quick
SynthGait teacher (`gaitbase_w025`) and student (`gaitbase_w0125`, its QGait w8a8 `ort` QAT checkpoint for the
gaitcompress INT8 rows). GaitBase weights do not depend on the input size, so the quick models trained at 32×22 are
exported again at 64×44; accuracy is scored at the training size (32×22, the SynthGait test split, 30-frame clips)
on the same weights and scales, since the 64×44 silhouettes are not what they were trained on.
Variants: onnxruntime FP32 / gaitcompress INT8 / `quantize_static` (uint8 activations, MinMax on training batches);
OpenVINO FP32 (INFERENCE_PRECISION_HINT f32) / BF16 (only where the CPU has it) / the gaitcompress INT8 file as it
is / NNCF post-training INT8 (the anchor, same calibration batches). Timing: all variants of one model interleaved in
one process (`device_runner.time_interleaved`), median of per-round ratios to onnxruntime FP32.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from gaitcompress.bench.device_runner import (
    environment,
    latency_summary,
    ort_info,
    ort_runner,
    ov_compile,
    ov_info,
    ov_runner,
    random_silhouettes,
    ratios,
    time_interleaved,
)

DEPLOY = (64, 44)
FRAMES = 30
MODELS = ("gaitbase", "teacher", "student")
ORT_VARIANTS = ("ort-fp32", "ort-int8-gc", "ort-int8-qstatic")
OV_VARIANTS = ("ov-fp32", "ov-bf16", "ov-int8-gc-onnx", "ov-int8-gc", "ov-int8-nncf")
LABELS = {
    "ort-fp32": "onnxruntime FP32",
    "ort-int8-gc": "onnxruntime INT8, gaitcompress `ort` export",
    "ort-int8-qstatic": "onnxruntime quantize_static (uint8 activations)",
    "ov-fp32": "OpenVINO FP32 (precision hint f32)",
    "ov-bf16": "OpenVINO BF16 (precision hint bf16)",
    "ov-int8-gc-onnx": "OpenVINO running the gaitcompress `ort` .onnx as it is",
    "ov-int8-gc": "OpenVINO, gaitcompress IR (`export --openvino` of the `ort` file)",
    "ov-int8-nncf": "OpenVINO NNCF post-training INT8 (anchor)",
}
# cumulative steps of the ort export's passes; the last is the export as it ships (all of DEPLOY_PASSES)
PASS_STEPS = {"none": [], "shapes": ["shapes"], "+temporal_max": ["shapes", "temporal_max"]}
PASS_STEPS["+float_weights"] = ["shapes", "temporal_max", "float_weights"]
PASS_STEPS["+unsigned_weights"] = ["shapes", "temporal_max", "float_weights", "unsigned_weights"]
# the export as it ships on this CPU, with the stem kernel its width rule did not pick (`export --stem`)
OTHER_STEM = "shipped, other stem"
FP32 = "onnxruntime FP32"  # the passes table's second reference: each step's speed-up over the float model


def _json(path: Path, doc: Any | None = None) -> Any:
    if doc is None:
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return doc


# ------------------------------------------------------------------ build ------------------------------------------


def redeclare_input(src: Path, dst: Path, height: int, width: int) -> Path:
    """Copy of an ONNX file whose input declares `height`×`width` (shape annotations dropped; the graph is size-free).

    Used for post-training anchors calibrated at the training size: same weights and scales, deployment size.
    """
    import onnx

    model = onnx.load(str(src))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = height, width
    del model.graph.value_info[:]
    for out in model.graph.output:
        out.type.tensor_type.shape.Clear()
    onnx.save(model, str(dst))
    return dst


def _calibration(data_cfg: Any, batches: int, seed: int = 0) -> list[np.ndarray]:
    from gaitcompress.data import build_train_loader

    loader = build_train_loader(data_cfg, seed=seed)
    return [next(loader).sils.numpy() for _ in range(batches)]


def _nncf(fp32_onnx: Path, feeds: list[np.ndarray], xml: Path, size: tuple[int, int]) -> Path:
    """NNCF post-training INT8 of the FP32 ONNX on OpenVINO (default preset), reshaped to `size`, saved as IR."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(fp32_onnx))
    quantized = nncf.quantize(model, nncf.Dataset(feeds), subset_size=len(feeds))
    quantized.reshape({quantized.inputs[0]: ov.PartialShape([-1, -1, *size])})
    ov.save_model(quantized, str(xml), compress_to_fp16=False)
    return xml


def _qstatic(fp32_onnx: Path, feeds: list[np.ndarray], out: Path) -> Path:
    from gaitcompress.export.ptq import quantize_onnx_static

    class Feeds:  # onnxruntime's CalibrationDataReader protocol
        def __init__(self) -> None:
            self.items = iter([{"sils": f} for f in feeds])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

        def rewind(self) -> None:
            pass

    return quantize_onnx_static(fp32_onnx, out, Feeds(), activation="uint8")


def _qat_random(model: Any, size: tuple[int, int], seed: int = 0) -> Any:
    """A w8a8 `ort` QAT model with LSQ steps set (MSE init) on one random batch: for speed, not accuracy."""
    import torch

    from gaitcompress.quant.prepare import QConfig, quantize_model

    q = quantize_model(model, QConfig.preset("w8a8", placement="ort", init="mse")).eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        q((torch.rand(2, FRAMES, *size) > 0.6).float())
    return q


def _other_stem(qat: Any, path: Path, spec: Any) -> Path:
    """The shipped `ort` export with the stem kernel the width rule did not pick: the rule's own measurement."""
    from gaitcompress.export.qdq import export_qdq, float_input_quantizers

    narrow = bool(float_input_quantizers(qat))  # the rule (stem=auto) keeps this stem in float
    return export_qdq(qat, path, "ort", spec, stem="int8" if narrow else "float")


def build(args: argparse.Namespace) -> None:
    import torch

    import gaitcompress.quant  # noqa: F401  (registers the QAT checkpoint loader)
    from gaitcompress.checkpoints import load, load_model
    from gaitcompress.data import DataConfig
    from gaitcompress.export.onnx_export import InputSpec, export_onnx
    from gaitcompress.export.openvino_ir import onnx_to_ir
    from gaitcompress.export.qdq import export_qdq
    from gaitcompress.models import create_model
    from gaitcompress.recipe import from_dict

    work = Path(args.work)
    files: dict[str, dict[str, str]] = {}
    deploy = InputSpec(*DEPLOY, frames=FRAMES)

    def out(model: str, name: str) -> Path:
        (work / model).mkdir(parents=True, exist_ok=True)
        return work / model / name

    # full-width GaitBase, random init (speed only)
    torch.manual_seed(0)
    full = create_model("gaitbase", num_classes=74).eval()
    qfull = _qat_random(full, DEPLOY)
    rand_feeds = [random_silhouettes(2, FRAMES, *DEPLOY, seed=s) for s in range(4)]
    f = files["gaitbase"] = {"ort-fp32": str(export_onnx(full, out("gaitbase", "fp32.onnx"), "fp32", deploy))}
    f["ort-int8-gc"] = str(export_qdq(qfull, out("gaitbase", "int8_gc.onnx"), "ort", deploy))
    f["ort-int8-gc-nopass"] = str(export_qdq(qfull, out("gaitbase", "int8_gc_nopass.onnx"), "ort", deploy, passes=[]))
    f["ort-int8-gc-otherstem"] = str(_other_stem(qfull, out("gaitbase", "int8_gc_otherstem.onnx"), deploy))
    f["ort-int8-qstatic"] = str(_qstatic(Path(f["ort-fp32"]), rand_feeds, out("gaitbase", "int8_qstatic.onnx")))
    f["ov-int8-nncf"] = str(_nncf(Path(f["ort-fp32"]), rand_feeds, out("gaitbase", "int8_nncf.xml"), DEPLOY))
    # quarter width (the quick teacher's architecture), random init, for the pass table
    torch.manual_seed(0)
    quarter = create_model("gaitbase_w025", num_classes=74).eval()
    qq = _qat_random(quarter, DEPLOY)
    files["quarter-random"] = {
        "ort-fp32": str(export_onnx(quarter, out("quarter", "fp32.onnx"), "fp32", deploy)),
        "ort-int8-gc": str(export_qdq(qq, out("quarter", "int8_gc.onnx"), "ort", deploy)),
        "ort-int8-gc-nopass": str(export_qdq(qq, out("quarter", "int8_gc_nopass.onnx"), "ort", deploy, passes=[])),
        "ort-int8-gc-otherstem": str(_other_stem(qq, out("quarter", "int8_gc_otherstem.onnx"), deploy)),
    }

    # the quick SynthGait models: trained at 32×22, exported again at 64×44
    for name, run in (("teacher", args.teacher), ("student", args.student)):
        ckpt = load(Path(run) / "final.pt")
        data_cfg = from_dict(DataConfig, ckpt["recipe"]["data"], "checkpoint recipe: data")
        model = load_model(Path(run) / "final.pt")
        quick = InputSpec(*data_cfg.input_size, frames=FRAMES)
        f = files[name] = {"ort-fp32": str(export_onnx(model, out(name, "fp32.onnx"), "fp32", deploy))}
        fp32_quick = export_onnx(model, out(name, "fp32_quick.onnx"), "fp32", quick)
        feeds = _calibration(data_cfg, args.calib_batches)
        qs_quick = _qstatic(fp32_quick, feeds, out(name, "int8_qstatic_quick.onnx"))
        f["ort-int8-qstatic-quick"] = str(qs_quick)
        f["ort-int8-qstatic"] = str(redeclare_input(qs_quick, out(name, "int8_qstatic.onnx"), *DEPLOY))
        quick_size = (quick.height, quick.width)
        f["ov-int8-nncf-quick"] = str(_nncf(fp32_quick, feeds, out(name, "int8_nncf_quick.xml"), quick_size))
        f["ov-int8-nncf"] = str(_nncf(fp32_quick, feeds, out(name, "int8_nncf.xml"), DEPLOY))
        f["input_quick"] = list(data_cfg.input_size)
    qat = load_model(Path(args.qat) / "final.pt")
    data_cfg = from_dict(DataConfig, load(Path(args.qat) / "final.pt")["recipe"]["data"], "checkpoint recipe: data")
    quick = InputSpec(*data_cfg.input_size, frames=FRAMES)
    s = files["student"]
    s["ort-int8-gc"] = str(export_qdq(qat, out("student", "int8_gc.onnx"), "ort", deploy))
    s["ort-int8-gc-nopass"] = str(export_qdq(qat, out("student", "int8_gc_nopass.onnx"), "ort", deploy, passes=[]))
    s["ort-int8-gc-otherstem"] = str(_other_stem(qat, out("student", "int8_gc_otherstem.onnx"), deploy))
    s["ort-int8-gc-quick"] = str(export_qdq(qat, out("student", "int8_gc_quick.onnx"), "ort", quick))
    s["ov-int8-gc-quick"] = str(onnx_to_ir(s["ort-int8-gc-quick"]))
    for f in (files["gaitbase"], s):  # what `gaitcompress export --openvino` writes
        f["ov-int8-gc"] = str(onnx_to_ir(f["ort-int8-gc"]))
    files["checkpoints"] = {"teacher": args.teacher, "student": args.student, "qat": args.qat}  # type: ignore[assignment]
    _json(work / "files.json", files)
    print(f"wrote {work / 'files.json'}")


# ------------------------------------------------------------------ speed ------------------------------------------


def measured_environment(command: str) -> dict[str, Any]:
    """What a measurement ran on, taken when it ran: versions (OpenVINO and NNCF too), CPU, flags, load average.

    The table step runs later, so its own environment cannot speak for the load the figures were taken under.
    """
    env = {**environment(), "command": command, "utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    try:
        import nncf

        env["nncf"] = nncf.__version__
    except ImportError:
        env["nncf"] = None
    return env


def attach_environments(doc: dict[str, Any], measured: dict[str, dict[str, Any]]) -> None:
    """Put each measurement's environment into a results document (`measured_environment`, keyed by step)."""
    for key in ("openvino", "nncf"):
        versions = {env.get(key) for env in measured.values()}
        doc["environment"][key] = versions.pop() if len(versions) == 1 else sorted(map(str, versions))
    doc["measured_environment"] = measured


def render_environments(doc: dict[str, Any]) -> list[str]:
    """Markdown lines: the table's environment, CPU flags, and each measurement's command, time and load average."""
    env = doc["environment"]
    lines = [
        "Environment: " + ", ".join(f"{k}={v}" for k, v in env.items() if k != "cpu_flags"),
        "CPU flags (SIMD, /proc/cpuinfo): " + " ".join(env.get("cpu_flags", [])),
    ]
    for m in doc.get("measured_environment", {}).values():
        lines.append(f"- `{m['command']}`: started {m['utc']} UTC, load average {m['load_avg']}")
    return [*lines, ""]


def _bf16_supported() -> bool:
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


# the file each variant runs (a key of files.json) and, for OpenVINO, its precision hint
SOURCE = {v: (v, "f32") for v in ORT_VARIANTS + ("ov-int8-nncf",)}
SOURCE.update({"ov-fp32": ("ort-fp32", "f32"), "ov-bf16": ("ort-fp32", "bf16"), "ov-int8-gc": ("ov-int8-gc", "f32")})
SOURCE["ov-int8-gc-onnx"] = ("ort-int8-gc", "f32")


def _runner(variant: str, files: dict[str, str], sils: np.ndarray, threads: int) -> tuple[Any, dict[str, Any]]:
    key, precision = SOURCE[variant]
    if variant.startswith("ort"):
        return ort_runner(files[key], sils, "cpu", threads), ort_info(threads)
    return ov_runner(files[key], sils, threads, "LATENCY", precision)


def interleave(
    variants: dict[str, Any], sils: np.ndarray, threads: int, rounds: int, reference: str, also: str | None = None
) -> dict[str, dict[str, Any]]:
    """Latency of each variant (name → (runner, runtime info)), interleaved, with ratios to `reference` (and `also`)."""
    runners = {k: v[0] for k, v in variants.items()}
    load_before = list(os.getloadavg())
    samples = time_interleaved(runners, rounds=rounds, warmup=2)
    load = {"before": load_before, "after": list(os.getloadavg())}
    rel = ratios(samples, reference)
    rel_also = ratios(samples, also) if also else {}
    out = {}
    for name, ms in samples.items():
        lat = latency_summary(ms, sils.shape[0], sils.shape[1], "ov-cpu" if name.startswith("ov") else "ort-cpu")
        lat.update(
            input=list(sils.shape[2:]),
            runtime={**variants[name][1], "threads": threads},
            load_avg=load,
            ratio_to={reference: rel[name], **({also: rel_also[name]} if also else {})},
            speedup=1 / rel[name],
        )
        out[name] = lat
    return out


def speed(args: argparse.Namespace) -> None:
    work = Path(args.work)
    files = _json(work / "files.json")
    sils = random_silhouettes(1, FRAMES, *DEPLOY)
    result: dict[str, Any] = {"bf16_supported": _bf16_supported(), "environment": measured_environment(args.command)}
    for model in args.models:
        variants = {}
        for v in ORT_VARIANTS + OV_VARIANTS:
            if (v == "ov-bf16" and not result["bf16_supported"]) or SOURCE[v][0] not in files[model]:
                continue  # no BF16 here; no gaitcompress INT8 of the teacher (the pipeline quantizes the student)
            variants[v] = _runner(v, files[model], sils, args.threads)
        rounds = args.rounds if model != "gaitbase" else max(5, args.rounds // 2)
        print(f"{model}: {len(variants)} variants × {rounds} rounds, {args.threads} thread(s)", flush=True)
        result[model] = interleave(variants, sils, args.threads, rounds, "ort-fp32")
        del variants
        _json(work / f"speed-t{args.threads}.json", result)  # after each model: a later failure keeps it
    print(f"wrote {work / f'speed-t{args.threads}.json'}")


def passes(args: argparse.Namespace) -> None:
    """The ort export's clean-up passes, cumulative, interleaved; op profile of the first and last."""
    from gaitcompress.export.runtime import op_profile

    work = Path(args.work)
    files = _json(work / "files.json")
    sils = random_silhouettes(1, FRAMES, *DEPLOY)
    result: dict[str, Any] = {"environment": measured_environment(args.command)}
    profiled = ("none", shipped_step(), OTHER_STEM)
    for model in ("gaitbase", "quarter-random", "student"):
        steps = _pass_files(work, model, files[model]["ort-int8-gc-nopass"])
        steps[OTHER_STEM] = files[model]["ort-int8-gc-otherstem"]
        timed = {**steps, FP32: files[model]["ort-fp32"]}
        variants = {
            step: (ort_runner(path, sils, "cpu", args.threads), ort_info(args.threads)) for step, path in timed.items()
        }
        rounds = args.rounds if model != "gaitbase" else max(5, args.rounds // 2)
        print(f"passes {model}: {rounds} rounds, {args.threads} thread(s)", flush=True)
        result[model] = {"latency": interleave(variants, sils, args.threads, rounds, "none", also=FP32)}
        result[model]["profile"] = {
            step: op_profile(path, {"sils": sils}, args.threads, runs=3)
            for step, path in steps.items()
            if step in profiled
        }
    _json(work / f"passes-t{args.threads}.json", result)
    print(f"wrote {work / f'passes-t{args.threads}.json'}")


def shipped_step() -> str:
    """The pass step `export_qdq` ships on this CPU (unsigned weights only on x86 without VNNI)."""
    from gaitcompress.export.cpu_int8 import int8_weights_for

    return "+unsigned_weights" if int8_weights_for("auto") == "unsigned" else "+float_weights"


def _pass_files(work: Path, model: str, nopass: str) -> dict[str, str]:
    """The cumulative pass steps as files: re-running the passes on the no-pass export (numpy + onnx, cheap)."""
    import onnx

    from gaitcompress.export.onnx_passes import DEPLOY_PASSES

    out = {"none": nopass}
    for step, names in PASS_STEPS.items():
        if step in out:
            continue
        graph = onnx.load(nopass)
        for name in names:
            DEPLOY_PASSES[name](graph)
        path = Path(nopass).parent / f"int8_gc_{step.strip('+')}.onnx"
        onnx.save(graph, str(path))
        out[step] = str(path)
    return {step: out[step] for step in PASS_STEPS}


# ------------------------------------------------------------------ accuracy ---------------------------------------


class OvGaitModel:
    """An OpenVINO compiled model as a gait model for `evaluate_model`: one sequence per call over its valid frames."""

    def __init__(self, path: str, threads: int = 1) -> None:
        self.compiled = ov_compile(path, threads, "LATENCY", "f32")
        self.info = ov_info(self.compiled)

    def __call__(self, sils: Any, lengths: Any = None) -> dict[str, Any]:
        import torch

        n, t = sils.shape[:2]
        rows = [
            self.compiled({0: sils[i : i + 1, : int(lengths[i]) if lengths is not None else t].numpy()})[0]
            for i in range(n)
        ]
        return {"embeddings": torch.from_numpy(np.concatenate(rows))}


def accuracy(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from gaitcompress.checkpoints import load
    from gaitcompress.data import DataConfig
    from gaitcompress.evaluation import evaluate_model
    from gaitcompress.export.ptq import OrtGaitModel
    from gaitcompress.recipe import from_dict

    work = Path(args.work)
    files = _json(work / "files.json")
    path = work / "accuracy.json"
    done = _json(path) if path.is_file() else {}
    ckpt = load(Path(files["checkpoints"]["student"]) / "final.pt")
    data_cfg = replace(from_dict(DataConfig, ckpt["recipe"]["data"], "checkpoint recipe: data"), test_max_frames=FRAMES)
    jobs = {
        ("student", "ort-int8-gc"): lambda: OrtGaitModel(files["student"]["ort-int8-gc-quick"], threads=1),
        ("student", "ov-int8-nncf"): lambda: OvGaitModel(files["student"]["ov-int8-nncf-quick"]),
        ("student", "ort-int8-qstatic"): lambda: OrtGaitModel(files["student"]["ort-int8-qstatic-quick"], threads=1),
        ("student", "ov-int8-gc"): lambda: OvGaitModel(files["student"]["ov-int8-gc-quick"]),
        ("teacher", "ort-int8-qstatic"): lambda: OrtGaitModel(files["teacher"]["ort-int8-qstatic-quick"], threads=1),
        ("teacher", "ov-int8-nncf"): lambda: OvGaitModel(files["teacher"]["ov-int8-nncf-quick"]),
    }
    for (model, variant), make in jobs.items():
        key = f"{model}/{variant}"
        if key in done:
            continue
        print(f"scoring {key} on the SynthGait test split", flush=True)
        done[key] = dict(evaluate_model(make(), data_cfg).metrics)
        _json(path, done)
    print(f"wrote {path}")


# ------------------------------------------------------------------ table ------------------------------------------


def _fp32_accuracy(run: str) -> dict[str, float]:
    metrics = _json(Path(run) / "metrics.json")["rows"][0]["metrics"]
    return {k: v["mean"] for k, v in metrics.items()}


def table(args: argparse.Namespace) -> None:
    from gaitcompress.results import make_results, summarize, write_results

    work = Path(args.work)
    files = _json(work / "files.json")
    acc = _json(work / "accuracy.json") if (work / "accuracy.json").is_file() else {}
    ckpts = files["checkpoints"]
    fp32_acc = {"teacher": _fp32_accuracy(ckpts["teacher"]), "student": _fp32_accuracy(ckpts["student"])}
    qat_acc = _fp32_accuracy(ckpts["qat"])
    rows = []
    speeds = {t: _json(work / f"speed-t{t}.json") for t in (1, 2) if (work / f"speed-t{t}.json").is_file()}
    bf16 = next(iter(speeds.values()))["bf16_supported"] if speeds else False
    for model in MODELS:
        for variant in ORT_VARIANTS + OV_VARIANTS:
            row: dict[str, Any] = {"method": variant, "label": LABELS[variant], "model": model}
            row["bits"] = "fp32" if "fp32" in variant else "bf16" if "bf16" in variant else "int8"
            if variant == "ov-bf16" and not bf16:
                row["skipped"] = "this CPU has no BF16 (OpenVINO OPTIMIZATION_CAPABILITIES lacks it)"
                rows.append(row)
                continue
            if SOURCE[variant][0] not in files[model]:
                row["skipped"] = "no gaitcompress INT8 of this model (the pipeline quantizes the student only)"
                rows.append(row)
                continue
            key = f"{model}/{variant}"
            if model != "gaitbase":
                metrics = acc.get(key) or (fp32_acc[model] if "fp32" in variant else None)
                if metrics is None and key == "student/ort-int8-gc":
                    metrics = qat_acc
                if metrics:
                    row["metrics"] = {k: summarize([v]) for k, v in metrics.items() if k.endswith("R1") or k == "mAP"}
                    row["accuracy_at"] = "32x22 (training size), SynthGait test split, 30-frame clips"
            for t, doc in speeds.items():
                if variant in doc.get(model, {}):
                    row.setdefault("latency_by_threads", {})[str(t)] = doc[model][variant]
            if "1" in row.get("latency_by_threads", {}):
                row["latency"] = row["latency_by_threads"]["1"]
            rows.append(row)
    notes = _notes(rows, speeds, files)
    doc = make_results(
        "deploy-cpu",
        rows,
        {
            "name": "random-silhouettes (speed); synthgait test split (accuracy)",
            "input": list(DEPLOY),
            "frames": FRAMES,
        },
        command=args.command,
        notes=notes,
    )
    attach_environments(doc, {f"speed-t{t}": d["environment"] for t, d in speeds.items()})
    write_results(doc, Path(args.out) / "deploy-cpu.json")
    _replace_md(Path(args.out) / "deploy-cpu.md", _render(rows, doc))
    passes_doc = _passes_table(work, args.command)
    if passes_doc is not None:
        write_results(passes_doc, Path(args.out) / "deploy-int8-passes.json")
        _replace_md(Path(args.out) / "deploy-int8-passes.md", _render_passes(passes_doc))
    print(f"wrote {args.out}/deploy-cpu.{{json,md}}")


def _replace_md(path: Path, text: str) -> None:
    path.write_text(text)


def _ms(lat: dict[str, Any] | None) -> str:
    if not lat:
        return "–"
    return f"{lat['p50_ms']:.1f} ms ({lat['speedup']:.2f}×)"


def _cpu_line(env: dict[str, Any], gc_file: str) -> str:
    """The measuring CPU (from the flags recorded with the figures) and the weight encoding the timed file holds."""
    from gaitcompress.export.cpu_int8 import VNNI
    from gaitcompress.export.onnx_export import read_metadata

    vnni = any(f in (env.get("cpu_flags") or []) for f in VNNI)
    unsigned = "unsigned_weights" in read_metadata(gc_file).get("passes", [])
    held = "uint8 conv weights (u8×u8 kernel)" if unsigned else "int8 conv weights (u8×s8 kernel)"
    kernels = "has VNNI" if vnni else "has no VNNI (int8 GEMMs in AVX2 instructions; u8×s8 saturates)"
    return f"- This CPU ({env.get('cpu', '?')}) {kernels}; the timed gaitcompress `ort` file holds {held}."


def _render(rows: list[dict[str, Any]], doc: dict[str, Any]) -> str:
    lines = [
        "# deploy-cpu",
        "",
        f"Command: `{doc['command']}`",
        "",
        f"Input {DEPLOY[0]}×{DEPLOY[1]}, {FRAMES} frames, batch 1 (deployment size). Cells: median latency "
        "(speed-up over onnxruntime FP32 of the same model: median of per-round ratios, interleaved rounds in one "
        "process). Accuracy: SynthGait test split at the training size 32×22 (same weights and scales), 30-frame "
        "clips; INT8 rows scored in the runtime of the row (onnxruntime or OpenVINO), FP32 rows are the checkpoint's "
        "PyTorch figure.",
        "",
        "| model | variant | 1 thread | 2 threads | mean@R1 | NM / BG / CL @R1 |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lat = r.get("latency_by_threads", {})
        m = r.get("metrics", {})
        acc = f"{m['mean@R1']['mean']:.2f}" if "mean@R1" in m else ""
        split = " / ".join(f"{m[k]['mean']:.1f}" for k in ("NM@R1", "BG@R1", "CL@R1") if k in m)
        cells = [_ms(lat.get("1")), _ms(lat.get("2"))] if "skipped" not in r else [r["skipped"], ""]
        lines.append(f"| {r['model']} | {r['label']} | {cells[0]} | {cells[1]} | {acc} | {split} |")
    lines += ["", doc.get("notes", ""), "", *render_environments(doc)]
    return "\n".join(lines)


def _mac_line() -> str:
    """What the 10× goal asks of INT8: the teacher/student MAC ratio at 64×44 × 30 frames leaves the rest to it."""
    from gaitcompress.models import create_model
    from gaitcompress.models.cost import model_cost

    macs = {
        a: model_cost(create_model(a, num_classes=74), FRAMES, DEPLOY).macs for a in ("gaitbase_w025", "gaitbase_w0125")
    }
    ratio = macs["gaitbase_w025"] / macs["gaitbase_w0125"]
    return (
        f"MACs at 64×44 × 30 frames: teacher (gaitbase_w025) {macs['gaitbase_w025'] / 1e9:.2f} G, student "
        f"(gaitbase_w0125) {macs['gaitbase_w0125'] / 1e9:.2f} G, {ratio:.2f}× fewer: a 10× student needs INT8 "
        f"{10 / ratio:.2f}× faster than FP32 at eighth width, on top of FP32 running the narrow student as "
        "efficiently per MAC as the wider teacher (it does not: see the two FP32 rows)"
    )


def _notes(rows: list[dict[str, Any]], speeds: dict[int, Any], files: dict[str, Any]) -> str:
    """Claims checked from the rows (goals of issue 20), the setting, and what this machine lacks."""
    by = {(r["model"], r["method"]): r for r in rows}
    out = ["## Checked from the rows", ""]
    for t in sorted(speeds):
        for model in MODELS:
            lat = {v: by[(model, v)].get("latency_by_threads", {}).get(str(t)) for v in ORT_VARIANTS + OV_VARIANTS}
            have = {v: x for v, x in lat.items() if x}
            if "ov-int8-nncf" not in have:
                continue
            anchor = have["ov-int8-nncf"]["p50_ms"]
            ours = {v: have[v]["p50_ms"] for v in ("ort-int8-gc", "ov-int8-gc") if v in have}
            if not ours:
                continue  # no gaitcompress INT8 of this model (the pipeline quantizes the student only)
            best = min(ours, key=ours.get)
            gap = ours[best] / anchor - 1
            out.append(
                f"- {model}, {t} thread(s): best gaitcompress backend {best} {ours[best]:.1f} ms vs NNCF anchor "
                f"{anchor:.1f} ms ({gap:+.1%}; goal ≤ +5 %: {'met' if gap <= 0.05 else 'NOT met'})"
            )
    for t in sorted(speeds):
        te = by[("teacher", "ort-fp32")].get("latency_by_threads", {}).get(str(t))
        for variant in ("ort-int8-gc", "ov-int8-gc"):
            s = by[("student", variant)].get("latency_by_threads", {}).get(str(t))
            if s and te:
                ratio = te["p50_ms"] / s["p50_ms"]
                out.append(
                    f"- student w8a8 ({variant}) vs onnxruntime FP32 teacher at 64×44, {t} thread(s): {ratio:.1f}× "
                    f"faster (goal ≥ 10×: {'met' if ratio >= 10 else 'NOT met'}); ratio of medians from one "
                    "interleaved session each, not a per-round ratio (they ran in different model groups)"
                )
    out.append(f"- {_mac_line()}")
    out += [
        "",
        "## Setting",
        "",
        "- `gaitbase` is full-width GaitBase with random weights (speed only; the kernels' work does not depend on "
        "the values); its INT8 steps come from one random batch. The quick teacher/student were trained by "
        f"`gaitcompress pipeline recipes/synthgait/pipeline_quick.yaml` ({files['checkpoints']}).",
        "- quantize_static and NNCF are calibrated on the same training batches at 32×22, then re-declared/reshaped to "
        "64×44 (same weights and scales). For `gaitbase` they are calibrated on random silhouettes.",
        "- No GPU was lent in this session: no CUDA rows (issue 20 item 5 not measured).",
        _cpu_line(next(iter(speeds.values()))["environment"], files["gaitbase"]["ort-int8-gc"]),
        "- The machine is shared (2 cores, other agents): see each row's load_avg in the JSON.",
    ]
    return "\n".join(out)


def _passes_table(work: Path, command: str) -> dict[str, Any] | None:
    from gaitcompress.results import make_results

    docs = {t: _json(work / f"passes-t{t}.json") for t in (1, 2) if (work / f"passes-t{t}.json").is_file()}
    if not docs:
        return None
    rows = []
    for t, doc in docs.items():
        for model, res in doc.items():
            if model == "environment":
                continue
            for step, lat in res["latency"].items():
                row = {"method": f"passes{step}", "label": step, "model": model, "threads": t, "latency": lat}
                if step in res["profile"]:
                    row["profile_ms"] = res["profile"][step]
                rows.append(row)
    notes = (
        "Cumulative passes of the `ort` INT8 export (gaitcompress.export.onnx_passes.DEPLOY_PASSES); `shapes`, "
        "`temporal_max` and `float_weights` are exact (tests/test_export_onnx.py: identical outputs at 1, 5 and 300 "
        "frames). `unsigned_weights` stores the conv weights as uint8 with zero point 128: the same values, but it "
        "moves onnxruntime from its u8×s8 kernel (which saturates int16 pair sums on CPUs without VNNI, so `none` "
        "to `+float_weights` are exact only with VNNI) to its u8×u8 kernel. The export ships `+unsigned_weights` "
        "on x86 without VNNI, `+float_weights` elsewhere (`export --int8-weights auto`). Every step runs the stem "
        "(the one-channel first conv) as the export's width rule says: integer from 32 output channels (full "
        "GaitBase: 64), float below (quarter: 16, the student: 8); `shipped, other stem` is the shipped export "
        "with the other stem kernel, the measurement behind the rule (qdq.float_input_quantizers). Speed-up = "
        "median of per-round ratios to the no-pass export, interleaved; `vs FP32`: the same to onnxruntime FP32 "
        "of the same model, timed in the same rounds. `quarter-random` = gaitbase_w025 with "
        "random weights; `student` = the trained quick student (eighth width). Profile: onnxruntime kernel ms per "
        "run by op type (one session, not interleaved: read its shares, not its absolute times)."
    )
    doc = make_results(
        "deploy-int8-passes",
        rows,
        {"name": "random-silhouettes", "input": list(DEPLOY), "frames": FRAMES},
        command=command,
        notes=notes,
    )
    doc["shipped_step"] = shipped_step()
    attach_environments(doc, {f"passes-t{t}": d["environment"] for t, d in docs.items()})
    return doc


def _profile_cells(before: dict[str, float], after: dict[str, float], top: int = 9) -> str:
    ops = sorted(set(before) | set(after), key=lambda o: -max(before.get(o, 0), after.get(o, 0)))
    cells = ", ".join(f"{o} {before.get(o, 0):.2f}→{after.get(o, 0):.2f}" for o in ops[:top])
    return f"total {sum(before.values()):.1f}→{sum(after.values()):.1f}; {cells}"


def _render_passes(doc: dict[str, Any]) -> str:
    lines = ["# deploy-int8-passes", "", f"Command: `{doc['command']}`", "", doc["notes"], ""]
    lines += ["| model | threads | passes | p50 ms | speed-up vs none | vs FP32 |", "|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        lat = r["latency"]
        fp32 = lat["ratio_to"].get(FP32)
        vs = f"{1 / fp32:.2f}×" if fp32 else ""
        lines.append(
            f"| {r['model']} | {r['threads']} | {r['label']} | {lat['p50_ms']:.1f} | {lat['speedup']:.3f}× | {vs} |"
        )
    shipped = doc["shipped_step"]
    goals = {("gaitbase", 1): 3.9, ("gaitbase", 2): 3.5, ("quarter-random", 1): 3.0, ("quarter-random", 2): 3.0}
    lines += ["", "## Checked from the rows (issue 20 item 4: onnxruntime INT8 as shipped vs FP32)", ""]
    for r in doc["rows"]:
        goal = goals.get((r["model"], r["threads"]))
        fp32 = r["latency"]["ratio_to"].get(FP32)
        if r["label"] == shipped and goal and fp32:
            met = "met" if 1 / fp32 >= goal else "NOT met"
            lines.append(f"- {r['model']}, {r['threads']} thread(s): {1 / fp32:.2f}× (goal ≥ {goal}×: {met})")
    lines += ["", f"## Op-type profile (ms per run): none → shipped ({shipped}), and shipped → other stem", ""]
    for r in doc["rows"]:
        if r["label"] != "none" or "profile_ms" not in r:
            continue
        same = [x for x in doc["rows"] if x["model"] == r["model"] and x["threads"] == r["threads"]]
        after = next(x["profile_ms"] for x in same if x["label"] == shipped)
        other = next((x.get("profile_ms") for x in same if x["label"] == OTHER_STEM), None)
        lines.append(f"- {r['model']}, {r['threads']} thread(s): {_profile_cells(r['profile_ms'], after)}")
        if other:
            lines.append(f"  - other stem: {_profile_cells(after, other)}")
    lines += ["", *render_environments(doc)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["build", "speed", "passes", "accuracy", "table"])
    parser.add_argument("--work", default="runs/deploy_cpu")
    parser.add_argument("--teacher", default="runs/pipeline/synthgait-quick/teacher")
    parser.add_argument("--student", default="runs/pipeline/synthgait-quick/student")
    parser.add_argument("--qat", default="runs/pipeline/synthgait-quick/quant-qgait8")
    parser.add_argument("--calib-batches", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args(argv)
    args.command = "python -m gaitlab.deploy_cpu " + " ".join(sys.argv[1:] if argv is None else argv)
    {"build": build, "speed": speed, "passes": passes, "accuracy": accuracy, "table": table}[args.step](args)


if __name__ == "__main__":
    main()
