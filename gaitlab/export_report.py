"""What the export stage must show, measured and written to `bench/results/export-synthgait.{json,md}`.

    python -m gaitlab.export_report --fp32 runs/synthgait/student_quick \\
        --int8 w8a8-ort=runs/synthgait/export_qat/w8a8_ort --int8 w8a8-trt=runs/synthgait/export_qat/w8a8_trt \\
        --int8 w4a4-ort=runs/synthgait/export_qat/w4a4_ort --int8 w4a4-trt=runs/synthgait/export_qat/w4a4_trt

with the QAT checkpoints made from the same student by (B in 8, 4; P in ort, trt)

    gaitcompress quantize recipes/synthgait/quant_qgaitB.yaml quant.placement=P \\
        run_dir=runs/synthgait/export_qat/wBaB_P

1. Parity: the FP32 checkpoint is exported as FP32 and FP16, each `--int8` QAT checkpoint as INT8 QDQ in its own
   placement, all through `export_checkpoint(..., strict=False)` with `--verify`: every export is a row, failed
   or not (with its reason: the gap and the tensor where it starts). Per export: rank-1 from PyTorch (the QAT model
   as trained, and the reference the graph must equal: `parity.verify_export`) and from onnxruntime, side by side;
   the largest gap at a quantizer in steps in the float simulation and in the deployed (fused) session, on one
   test batch; the integer kernels onnxruntime fused.
2. Speed: onnxruntime INT8 (the first `--int8` with the `ort` placement) against onnxruntime FP32 of the same
   architecture (the FP32 checkpoint it was fine-tuned from), one intra-op thread each, interleaved rounds in one
   process (`device_runner.time_interleaved`), at the recipe's input size and at 64×44. The machine is shared, so
   besides wall time each call's thread CPU time (`time.thread_time`, immune to the other processes' preemption)
   is recorded, with the load average before and after; ratios are medians of per-round ratios.
3. BitOPs of full-width GaitBase at 64×44 for `--frames` frames at FP32 / w8a8 / w4a4.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gaitcompress.bench.device_runner import latency_summary, random_silhouettes, ratios, time_interleaved
from gaitcompress.export.onnx_export import InputSpec, export_onnx
from gaitcompress.export.qdq import export_qdq
from gaitcompress.export.runtime import fused_integer_nodes, make_session
from gaitcompress.export.stage import ExportConfig, ExportResult, export_checkpoint
from gaitcompress.quant.cost import bitops_report
from gaitcompress.results import make_results, summarize, write_results

CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
RANK1 = ("NM@R1", "BG@R1", "CL@R1", "mean@R1")
METHODS = {"w8a8": "qgait8", "w4a4": "qgait4"}


def speed_ab(paths: dict[str, Path], size: tuple[int, int], frames: int, rounds: int) -> dict[str, Any]:
    """Interleaved timing of single-thread sessions on the same input; per clock: p50s and ratios to the first."""
    sils = random_silhouettes(1, frames, *size)
    runners = {}
    for name, path in paths.items():
        session = make_session(path, threads=1)
        runners[name] = lambda s=session: s.run(None, {"sils": sils})
    reference = next(iter(paths))
    out: dict[str, Any] = {"load_before": list(os.getloadavg())}
    for clock_name, clock in CLOCKS.items():
        samples = time_interleaved(runners, rounds=rounds, warmup=5, clock=clock)
        rel = ratios(samples, reference)
        out[clock_name] = {}
        for name, ms in samples.items():
            summary = latency_summary(ms, 1, frames, "ort-cpu")
            out[clock_name][name] = summary | {"ratio_to": {reference: rel[name]}, "speedup": 1 / rel[name]}
    out["load_after"] = list(os.getloadavg())
    return out


def _rank1(metrics: dict[str, float] | None) -> dict[str, Any]:
    return {k: summarize([metrics[k]]) for k in RANK1 if metrics and k in metrics}


def _exports(fp32: Path, int8: dict[str, Path]) -> list[tuple[str, Path, str]]:
    return [("fp32", fp32, "fp32"), ("fp16", fp32, "fp16"), *((tag, c, "int8") for tag, c in int8.items())]


def parity_rows(fp32: Path, int8: dict[str, Path], work: Path, frames: int) -> tuple[list[dict], dict[str, Any]]:
    """One row per export and side (PyTorch as trained, the PyTorch reference when different, onnxruntime)."""
    rows, exported = [], {}
    for tag, ckpt, fmt in _exports(fp32, int8):
        cfg = ExportConfig(format=fmt, out=str(work / tag), frames=frames, verify=True)
        result = export_checkpoint(ckpt, cfg, strict=False)
        exported[tag] = result
        p = result.parity
        placement = result.metadata["placement"]
        sides = [("pytorch", p.trained_metrics)] if p.trained_metrics else []
        ort_side = "onnxruntime" + (f" without {', '.join(p.disabled_optimizers)}" if p.disabled_optimizers else "")
        sides += [(p.reference, p.torch_metrics), (ort_side, p.onnx_metrics)]
        for side, metrics in sides:
            rows.append(
                {
                    "method": METHODS.get(result.cost.bits, result.cost.bits) if fmt == "int8" else fmt,
                    "label": f"{tag} {side}" + (f" ({placement} placement)" if placement else ""),
                    "model": result.metadata["name"],
                    "bits": result.metadata["bits"],
                    "metrics": _rank1(metrics),
                    "cost": result.cost.as_cost(),
                    "parity": p.to_dict() | {"fused": result.fused, "checkpoint": str(ckpt), "file": str(result.onnx)},
                }
            )
    return rows, exported


def speed_rows(exported: dict[str, ExportResult], int8_tag: str, frames: int, rounds: int, work: Path) -> list[dict]:
    """FP32 vs INT8 at the checkpoint's input size and at 64×44 (the same weights re-exported)."""
    from gaitcompress.checkpoints import load_model

    fp32_onnx, int8_onnx = exported["fp32"].onnx, exported[int8_tag].onnx
    quick = tuple(exported["fp32"].metadata["bitops"]["input"])
    sizes = {quick: {"fp32": fp32_onnx, int8_tag: int8_onnx}}
    if quick != (64, 44):
        spec = InputSpec(64, 44, frames)
        fp32_model = load_model(exported["fp32"].metadata["checkpoint"])
        int8_model = load_model(exported[int8_tag].metadata["checkpoint"])
        placement = exported[int8_tag].metadata["placement"]
        sizes[(64, 44)] = {
            "fp32": export_onnx(fp32_model, work / "fp32_64x44.onnx", "fp32", spec),
            int8_tag: export_qdq(int8_model, work / f"{int8_tag}_64x44.onnx", placement, spec),
        }
    rows = []
    for size, paths in sizes.items():
        timing = speed_ab(paths, size, frames, rounds)
        fused = fused_integer_nodes(paths[int8_tag])
        for name, path in paths.items():
            rows.append(
                {
                    "method": "fp32" if name == "fp32" else "qgait8",
                    "label": f"ort-cpu {name} {size[0]}×{size[1]} (1 thread, thread CPU time)",
                    "model": exported[name].metadata["name"],
                    "bits": exported[name].metadata["bits"],
                    "latency": timing["cpu"][name] | {"input": list(size), "clock": "thread_time"},
                    "latency_wall": timing["wall"][name] | {"input": list(size), "clock": "perf_counter"},
                    "load": {"before": timing["load_before"], "after": timing["load_after"]},
                    "fused": fused if name != "fp32" else {},
                    "onnx": str(path),
                }
            )
    return rows


def bitops_rows(frames: int) -> list[dict]:
    from gaitcompress.models import create_model
    from gaitcompress.quant.prepare import QConfig, quantize_model

    model = create_model("gaitbase", num_classes=74)
    rows = []
    for method, m in [
        ("fp32", model),
        ("qgait8", quantize_model(model, QConfig.preset("w8a8"))),
        ("qgait4", quantize_model(model, QConfig.preset("w4a4"))),
    ]:
        report = bitops_report(m, frames, (64, 44))
        rows.append(
            {
                "method": method,
                "label": f"GaitBase 64×44, {frames} frames: BitOPs",
                "model": "gaitbase",
                "bits": report.bits,
                "cost": report.as_cost() | {"flop_counter_macs": report.flop_counter_macs},
            }
        )
    return rows


def _cell(metrics: dict[str, Any], key: str) -> str:
    return f"{metrics[key]['mean']:.2f}" if key in metrics else "–"


def notes(rows: Sequence[dict]) -> str:
    """Markdown beside the table: per export the parity verdict, gaps in steps, kernels; the speed ratios."""
    lines = [
        "## Parity per export (rank-1 NM / BG / CL / mean, %)",
        "",
        "| export | PyTorch as trained | PyTorch reference | onnxruntime | Δ mean (ort − ref) | Δ mean (ort − trained) "
        "| max steps: simulation / deployed | first deployed departure | fused kernels | parity |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    seen = set()
    for row in rows:
        p = row.get("parity")
        if p is None or p["file"] in seen:
            continue
        seen.add(p["file"])
        trained = p["trained"] or p["torch"]

        def four(m: dict[str, float]) -> str:
            return " / ".join(f"{m[k]:.2f}" for k in RANK1 if k in m)

        def steps(v: float | None) -> str:
            return "–" if v is None else f"{v:.0f}"

        first = p["fused_first"]
        where = "none"
        if first:
            where = f"{first['path']} ({100 * first['frac_step']:.2g} % of values, {first['steps']:.0f} step)"
        kernels = ", ".join(f"{k} {v}" for k, v in p["fused"].items()) or "none (float)"
        if p.get("onnxruntime_disabled_optimizers"):
            kernels += f"; {', '.join(p['onnxruntime_disabled_optimizers'])} off (float bias, as TensorRT)"
        verdict = "passed" if p["passed"] else f"FAILED: {p['reason']}"
        lines.append(
            f"| {row['label'].split(' ')[0]} ({Path(p['file']).name}) | {four(trained)} | {p['reference']}: "
            f"{four(p['torch'])} | {four(p['onnx'])} | {p['onnx']['mean@R1'] - p['torch']['mean@R1']:+.2f} "
            f"| {p['onnx']['mean@R1'] - trained['mean@R1']:+.2f} | {steps(p['probe_max_steps'])} / "
            f"{steps(p['fused_max_steps'])} | {where} | {kernels} | {verdict} |"
        )
    speed = [r for r in rows if "latency" in r]
    if speed:
        lines += ["", "## onnxruntime INT8 vs FP32, one thread, interleaved (median of per-round ratios)", ""]
        for r in speed:
            if r["method"] == "fp32":
                continue
            cpu, wall = r["latency"], r["latency_wall"]
            ref = next(iter(cpu["ratio_to"]))
            lines.append(
                f"- {r['label']}: p50 {cpu['p50_ms']:.2f} ms thread CPU time, speedup {cpu['speedup']:.2f}× over {ref} "
                f"(wall clock {wall['speedup']:.2f}×, p50 {wall['p50_ms']:.2f} ms); fused "
                f"{', '.join(f'{k} {v}' for k, v in r['fused'].items())}; load average before/after "
                f"{r['load']['before'][0]:.2f} / {r['load']['after'][0]:.2f} (1 min)"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fp32", type=Path, required=True, help="FP32 checkpoint (the student)")
    parser.add_argument("--int8", action="append", default=[], help="TAG=QAT checkpoint; repeat")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("runs/export_report"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/export-synthgait.json"))
    args = parser.parse_args(argv)
    int8 = {tag: Path(path) for tag, path in (item.split("=", 1) for item in args.int8)}
    rows, exported = parity_rows(args.fp32, int8, args.work, args.frames)
    ort_int8 = [t for t in int8 if exported[t].metadata["placement"] == "ort" and exported[t].cost.bits == "w8a8"]
    if ort_int8:
        rows += speed_rows(exported, ort_int8[0], args.frames, args.rounds, args.work)
    rows += bitops_rows(args.frames)
    input_size = exported["fp32"].metadata["bitops"]["input"]
    dataset = {"name": "synthgait", "split": "test", "input": input_size, "frames": args.frames}
    command = shlex.join(["python", "-m", "gaitlab.export_report", *(sys.argv[1:] if argv is None else argv)])
    write_results(make_results("export-synthgait", rows, dataset, command, notes(rows)), args.out)
    for row in rows:
        lat = row.get("latency")
        extra = f"  {lat['speedup']:.2f}× fp32 speed (thread CPU time)" if lat else ""
        print(row["label"], {k: round(v["mean"], 2) for k, v in row.get("metrics", {}).items()}, extra)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
