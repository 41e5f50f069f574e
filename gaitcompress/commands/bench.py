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
    backend: Annotated[list[str] | None, typer.Option(help="torch-cpu|torch-cuda|ort-cpu|ort-cuda|ov-cpu|trt.")] = None,
    batch: Annotated[list[int] | None, typer.Option(help="Batch sizes (sequences per call).")] = None,
    frames: Annotated[
        list[int] | None, typer.Option(help="Frames per sequence (default: the file's traced count, else 30).")
    ] = None,
    size: Annotated[
        tuple[int, int] | None, typer.Option(help="Input H W (default: what each file declares, else 64 44).")
    ] = None,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds.")] = 30,
    warmup: Annotated[int, typer.Option(help="Warm-up calls per runner.")] = 3,
    threads: Annotated[int, typer.Option(help="CPU threads (0 = library default).")] = 0,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the torch models.")] = False,
    ratio_to: Annotated[str | None, typer.Option(help="Model NAME for ratios (default: first).")] = None,
    ov_hint: Annotated[str, typer.Option(help="ov-cpu PERFORMANCE_HINT: LATENCY | THROUGHPUT.")] = "LATENCY",
    ov_precision: Annotated[
        str, typer.Option(help="ov-cpu INFERENCE_PRECISION_HINT: f32 | bf16 | f16 | default (OpenVINO's choice).")
    ] = "f32",
    out_json: Annotated[Path, typer.Option("--out", help="Results JSON (+ .md beside it).")] = Path("bench.json"),
    plots: Annotated[Path | None, typer.Option(help="Folder for latency and Pareto PNGs.")] = None,
    accuracy: Annotated[
        list[Path] | None,
        typer.Option(
            help="Results JSON (e.g. a pipeline report.json) whose rows get the latency of the model NAME equal to"
            " their method or stage; unmatched ones are listed, never given old timings.",
            rich_help_panel=_ACC,
        ),
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
        tuple(frames) if frames else None,
        size,
        rounds,
        warmup,
        threads,
        compile,
        ratio_to,
        ov_hint,
        ov_precision,
    )
    rows = run_bench(spec, RichTracker())
    joined = join_accuracy(rows, accuracy or [])
    doc = write_bench(rows, spec, out_json, joined.rows, plots)
    table = Table(title=f"latency ({doc['environment']['cpu']})")
    for col in ("model", "backend", "input", "batch", "frames", "p50 ms", "p90 ms", "p99 ms", "seq/s", "ratio"):
        table.add_column(col, justify="left" if col in ("model", "backend") else "right")
    for r in doc["rows"]:
        lat = r["latency"]
        ratio = ", ".join(f"{v:.3f}× {k}" for k, v in lat.get("ratio_to", {}).items())
        table.add_row(
            r["method"],
            lat["backend"],
            "×".join(map(str, lat.get("input", []))),
            str(lat["batch"]),
            str(lat["frames"]),
            f"{lat['p50_ms']:.2f}",
            f"{lat['p90_ms']:.2f}",
            f"{lat['p99_ms']:.2f}",
            f"{lat['throughput_seq_s']:.1f}",
            ratio,
        )
    out.print(table)
    if accuracy:
        console.print(f"accuracy joined for {len(joined.rows)} row(s) by model name (= method or stage)")
        if joined.unmatched_rows:
            console.print(f"[yellow]no bench model for accuracy rows:[/] {', '.join(joined.unmatched_rows)}")
        if joined.unmatched_models:
            console.print(f"[yellow]no accuracy row for bench models:[/] {', '.join(joined.unmatched_models)}")
    console.print(f"wrote {out_json}" + (f" and plots in {plots}" if plots else ""))
