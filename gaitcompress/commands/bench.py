"""`gaitcompress bench`: interleaved latency of models × backends, a table, JSON and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gaitcompress.commands._common import RichTracker, console, out

_ACC = "Accuracy + Pareto"


def bench(
    models: Annotated[list[str], typer.Argument(help="NAME=PATH, .pt → torch-*, .onnx → ort-*, .engine → trt.")],
    backend: Annotated[list[str] | None, typer.Option(help="torch-cpu|torch-cuda|ort-cpu|ort-cuda|trt.")] = None,
    batch: Annotated[list[int] | None, typer.Option(help="Batch sizes (sequences per call).")] = None,
    frames: Annotated[list[int] | None, typer.Option(help="Frames per sequence.")] = None,
    size: Annotated[tuple[int, int], typer.Option(help="Input H W.")] = (64, 44),
    rounds: Annotated[int, typer.Option(help="Interleaved rounds.")] = 30,
    warmup: Annotated[int, typer.Option(help="Warm-up calls per runner.")] = 3,
    threads: Annotated[int, typer.Option(help="CPU threads (0 = library default).")] = 0,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the torch models.")] = False,
    ratio_to: Annotated[str | None, typer.Option(help="Model NAME for ratios (default: first).")] = None,
    out_json: Annotated[Path, typer.Option("--out", help="Results JSON (+ .md beside it).")] = Path("bench.json"),
    plots: Annotated[Path | None, typer.Option(help="Folder for latency and Pareto PNGs.")] = None,
    accuracy: Annotated[
        list[Path] | None,
        typer.Option(help="Results JSON with accuracy/BitOPs rows to join by method name.", rich_help_panel=_ACC),
    ] = None,
) -> None:
    """Measure latency interleaved in one process; report medians, p90/p99, throughput and ratios.

    Example: gaitcompress bench teacher=t.onnx w8a8=s8.onnx --backend ort-cpu --frames 30 --plots bench/plots
    """
    from gaitcompress.bench.latency import BenchSpec, run_bench
    from gaitcompress.bench.report import join_accuracy, write_bench

    pairs = dict(m.split("=", 1) if "=" in m else (Path(m).stem, m) for m in models)
    spec = BenchSpec(
        pairs,
        tuple(backend or ["ort-cpu"]),
        tuple(batch or [1]),
        tuple(frames or [30]),
        size,
        rounds,
        warmup,
        threads,
        compile,
        ratio_to,
    )
    rows = run_bench(spec, RichTracker())
    doc = write_bench(rows, spec, out_json, join_accuracy(rows, accuracy or []), plots)
    table = Table(title=f"latency ({doc['environment']['cpu']})")
    for col in ("model", "backend", "batch", "frames", "p50 ms", "p90 ms", "p99 ms", "seq/s", "ratio"):
        table.add_column(col, justify="left" if col in ("model", "backend") else "right")
    for r in doc["rows"]:
        lat = r["latency"]
        ratio = ", ".join(f"{v:.3f}× {k}" for k, v in lat.get("ratio_to", {}).items())
        table.add_row(
            r["method"],
            lat["backend"],
            str(lat["batch"]),
            str(lat["frames"]),
            f"{lat['p50_ms']:.2f}",
            f"{lat['p90_ms']:.2f}",
            f"{lat['p99_ms']:.2f}",
            f"{lat['throughput_seq_s']:.1f}",
            ratio,
        )
    out.print(table)
    console.print(f"wrote {out_json}" + (f" and plots in {plots}" if plots else ""))
