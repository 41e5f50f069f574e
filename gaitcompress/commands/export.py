"""`gaitcompress export CHECKPOINT`: ONNX (FP32 / FP16 / INT8 QDQ), cost, parity, TensorRT commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gaitcompress.commands._common import RichTracker, out

CheckpointArg = Annotated[Path, typer.Argument(help="A checkpoint (.pt) or run folder from train/distill/quantize.")]
FormatOpt = Annotated[str, typer.Option("--format", help="fp32 | fp16 | int8 (int8 needs a QAT checkpoint).")]
PlacementOpt = Annotated[
    str | None, typer.Option("--placement", help="trt | ort: must match the QAT checkpoint (default: its own).")
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Output folder (default: <checkpoint folder>/export).")]
FramesOpt = Annotated[int, typer.Option("--frames", help="Frames per sequence to trace and to cost.")]
OpsetOpt = Annotated[int, typer.Option("--opset", help="ONNX opset: 11..20 (int8: 13..20).")]
VerifyOpt = Annotated[bool, typer.Option("--verify", help="Parity with PyTorch on the recipe's test set.")]
TrtOpt = Annotated[bool, typer.Option("--trt", help="Also build a TensorRT engine here (needs tensorrt).")]
PartsOpt = Annotated[bool, typer.Option("--parts", help="Also output strip features `parts` (for re-ranking).")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Variant of an OpenGait checkpoint (default gaitbase).")]
Int8WeightsOpt = Annotated[
    str,
    typer.Option(
        "--int8-weights",
        help="ort int8 conv weights: signed (fast and exact with VNNI) | unsigned (exact on x86 without VNNI) | "
        "auto (this CPU's).",
    ),
]
StemOpt = Annotated[
    str,
    typer.Option(
        "--stem",
        help="ort int8 stem conv kernel: float | int8 | auto (int8 from 32 output channels, where it is faster).",
    ),
]
OpenvinoOpt = Annotated[
    bool, typer.Option("--openvino", help="Also write the OpenVINO IR (.xml + .bin) of the ONNX (needs openvino).")
]


def export(
    checkpoint: CheckpointArg,
    format: FormatOpt = "fp32",
    placement: PlacementOpt = None,
    out_dir: OutOpt = None,
    frames: FramesOpt = 30,
    opset: OpsetOpt = 17,
    verify: VerifyOpt = False,
    trt: TrtOpt = False,
    parts: PartsOpt = False,
    name: NameOpt = None,
    openvino: OpenvinoOpt = False,
    int8_weights: Int8WeightsOpt = "auto",
    stem: StemOpt = "auto",
) -> None:
    """Export a checkpoint to ONNX; print its cost, fused integer kernels and (with --verify) parity.

    Example: gaitcompress export runs/synthgait/quant_qgait8 --format int8 --openvino
    """
    from gaitcompress.export.stage import ExportConfig, export_checkpoint

    if openvino:
        from gaitcompress.export.openvino_ir import import_openvino

        import_openvino()  # refuse before any work is done
    cfg = ExportConfig(format, placement, out_dir and str(out_dir), frames, opset, parts, verify, trt, name,
                       int8_weights=int8_weights, stem=stem)  # fmt: skip
    result = export_checkpoint(checkpoint, cfg, RichTracker())
    out.print(_table(result))
    if openvino:
        from gaitcompress.export.openvino_ir import onnx_to_ir

        out.print(
            f"OpenVINO IR: {onnx_to_ir(result.onnx)} (+ .bin); run it with: gaitcompress bench m=… --backend ov-cpu"
        )


def _table(result):
    from rich.table import Table

    c = result.cost
    table = Table("", "", title=str(result.onnx), show_header=False)
    rows = [
        (
            "bits",
            result.metadata["bits"] + (f" ({result.metadata['placement']})" if result.metadata["placement"] else ""),
        ),
        (f"MACs ({c.frames} frames)", f"{c.macs:,}"),
        ("BitOPs", f"{c.bitops:,.0f}"),
        ("params / bytes", f"{c.params:,} / {c.bytes:,.0f}"),
        ("fused integer kernels", ", ".join(f"{k} {v}" for k, v in result.fused.items()) or "-"),
        ("TensorRT", str(result.engine or result.commands)),
        ("results", str(result.results)),
    ]
    if result.parity is not None:
        p = result.parity
        for key, gap in p.rank1_gaps.items():
            rows.append((f"{key} torch → onnx", f"{p.torch_metrics[key]:.2f} → {p.onnx_metrics[key]:.2f} ({gap:+.2f})"))
        steps = f", {p.probe_max_steps:.0f} steps max in simulation" if p.probe_max_steps is not None else ""
        rows.append(("embeddings max |Δ|", f"{p.max_abs:.3g} ({p.max_rel:.2%} of range){steps}"))
        rows.append(("parity", "[green]passed[/]" if p.passed else f"[red]{p.reason()}[/]"))
    for key, value in rows:
        table.add_row(key, value)
    return table
