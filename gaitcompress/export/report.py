"""What the export stage must show, measured and written to `bench/results/export-synthgait.{json,md}`.

    python -m gaitcompress.export.report --fp32 runs/synthgait/student_quick \\
        --int8 w8a8=runs/synthgait/export_qat/qgait8_ort --int8 w4a4=runs/synthgait/export_qat/qgait4_ort

1. Parity: each checkpoint is exported (`export_checkpoint`, `--verify`) and scored by PyTorch and by
   onnxruntime on its recipe's SynthGait test set: rank-1 side by side, output gap.
2. Speed: onnxruntime INT8 (the first `--int8`, an `ort`-placement QAT model) against onnxruntime FP32 of
   the same architecture (the FP32 checkpoint it was fine-tuned from), one intra-op thread each, interleaved
   rounds in one process (`device_runner.time_interleaved`), at the recipe's input size and at 64×44. The
   machine is shared, so besides wall time each call's thread CPU time (`time.thread_time`, immune to the
   other processes' preemption) is recorded; ratios are medians of per-round ratios. Fused kernels counted.
3. BitOPs of full-width GaitBase at 64×44 for `--frames` frames at FP32 / w8a8 / w4a4.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gaitcompress.bench.device_runner import latency_summary, random_silhouettes, ratios, time_interleaved
from gaitcompress.export.bitops import bitops_report
from gaitcompress.export.onnx_export import InputSpec, export_onnx
from gaitcompress.export.qdq import export_qdq
from gaitcompress.export.runtime import fused_integer_nodes, make_session
from gaitcompress.export.stage import ExportConfig, export_checkpoint
from gaitcompress.results import make_results, summarize, write_results

CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def speed_ab(paths: dict[str, Path], size: tuple[int, int], frames: int, rounds: int) -> dict[str, Any]:
    """Interleaved timing of single-thread sessions on the same input; per clock: p50s and ratios to the first."""
    sils = random_silhouettes(1, frames, *size)
    runners = {}
    for name, path in paths.items():
        session = make_session(path, threads=1)
        runners[name] = lambda s=session: s.run(None, {"sils": sils})
    reference = next(iter(paths))
    out: dict[str, Any] = {}
    for clock_name, clock in CLOCKS.items():
        samples = time_interleaved(runners, rounds=rounds, warmup=5, clock=clock)
        rel = ratios(samples, reference)
        out[clock_name] = {}
        for name, ms in samples.items():
            summary = latency_summary(ms, 1, frames, "ort-cpu")
            out[clock_name][name] = summary | {"ratio_to": {reference: rel[name]}, "speedup": 1 / rel[name]}
    return out


def _rank1(metrics: dict[str, float]) -> dict[str, Any]:
    return {k: summarize([v]) for k, v in metrics.items() if k.endswith("R1")}


def parity_rows(fp32: Path, int8: dict[str, Path], work: Path, frames: int) -> tuple[list[dict], dict[str, Any]]:
    rows, exported = [], {}
    for tag, ckpt, fmt in [("fp32", fp32, "fp32"), *((t, c, "int8") for t, c in int8.items())]:
        result = export_checkpoint(ckpt, ExportConfig(format=fmt, out=str(work / tag), frames=frames, verify=True))
        p = result.parity
        exported[tag] = result
        for side, metrics in (("pytorch", p.torch_metrics), ("onnxruntime", p.onnx_metrics)):
            rows.append(
                {
                    "method": {"fp32": "fp32", "w8a8": "qgait8", "w4a4": "qgait4"}.get(tag, tag),
                    "label": f"{tag} {side}" + (f" ({result.metadata['placement']})" if fmt == "int8" else ""),
                    "model": result.metadata["name"],
                    "bits": result.metadata["bits"],
                    "metrics": _rank1(metrics),
                    "cost": result.cost.as_cost(),
                    "parity": p.to_dict() | {"fused": result.fused, "checkpoint": str(ckpt)},
                }
            )
    return rows, exported


def speed_rows(exported: dict[str, Any], int8_tag: str, frames: int, rounds: int, work: Path) -> list[dict]:
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
                    "label": f"ort-cpu {name} {size[0]}×{size[1]} (1 thread)",
                    "model": exported[name].metadata["name"],
                    "bits": exported[name].metadata["bits"],
                    "latency": timing["cpu"][name] | {"input": list(size), "clock": "thread_time"},
                    "latency_wall": timing["wall"][name] | {"input": list(size), "clock": "perf_counter"},
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fp32", type=Path, required=True, help="FP32 checkpoint (the student)")
    parser.add_argument("--int8", action="append", default=[], help="TAG=QAT checkpoint (ort placement); repeat")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("runs/export_report"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/export-synthgait.json"))
    args = parser.parse_args(argv)
    int8 = dict(item.split("=", 1) for item in args.int8)
    int8 = {tag: Path(path) for tag, path in int8.items()}
    rows, exported = parity_rows(args.fp32, int8, args.work, args.frames)
    if int8:
        rows += speed_rows(exported, next(iter(int8)), args.frames, args.rounds, args.work)
    rows += bitops_rows(args.frames)
    data_cfg = exported["fp32"].metadata["bitops"]
    dataset = {"name": "synthgait", "split": "test", "input": data_cfg["input"], "frames": args.frames}
    write_results(make_results("export-synthgait", rows, dataset), args.out)
    for row in rows:
        lat = row.get("latency")
        extra = f"  {lat['speedup']:.2f}× fp32 speed (thread CPU time)" if lat else ""
        print(row["label"], {k: round(v["mean"], 2) for k, v in row.get("metrics", {}).items()}, extra)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
