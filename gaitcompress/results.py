"""The one results form (DESIGN.md §15) that every stage, bench table and the CI gate share.

`metrics.json` in a run folder and `bench/results/NAME.json` both hold
`{"schema": "gaitcompress.results/1", "name", "command", "dataset", "environment", "rows": [...]}`;
`write_results` also renders `NAME.md` beside the JSON. Metrics are percentages, each
`{"mean", "std", "values"}` over seeds.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SCHEMA = "gaitcompress.results/1"


def cpu_flags() -> list[str]:
    """SIMD flags that matter for inference speed (from /proc/cpuinfo; empty where unavailable)."""
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            have = set(line.split(":", 1)[1].split())
            return sorted(f for f in have if f.startswith(wanted))
    return []


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Versions, CPU name and flags, core count: recorded with every result."""
    from gaitcompress import __version__

    env: dict[str, Any] = {"gaitcompress": __version__, "python": platform.python_version()}
    for mod in ("torch", "onnxruntime", "onnx", "numpy"):
        try:
            env[mod] = __import__(mod).__version__
        except ImportError:
            env[mod] = None
    env.update(cpu=cpu_name(), cpu_flags=cpu_flags(), cores=os.cpu_count())
    try:
        import torch

        if torch.cuda.is_available():
            env["cuda_device"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return env


def command_line() -> str:
    """The command that is running, as a user would type it."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("gaitcompress", "cli.py", "__main__.py")):
        argv[0] = "gaitcompress"
    return shlex.join(argv)


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """{'mean', 'std', 'values'} of per-seed values (population std is 0 for one seed)."""
    vals = [float(v) for v in values]
    return {
        "mean": statistics.fmean(vals) if vals else float("nan"),
        "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
        "values": vals,
    }


def make_results(
    name: str,
    rows: Sequence[Mapping[str, Any]],
    dataset: Mapping[str, Any],
    command: str | None = None,
    notes: str = "",
) -> dict[str, Any]:
    """Assemble a results document in the shared schema.

    `notes`: Markdown the table's reader needs (setting, claims checked from the rows); rendered below the table.
    """
    doc = {
        "schema": SCHEMA,
        "name": name,
        "command": command or command_line(),
        "dataset": dict(dataset),
        "environment": environment(),
        "rows": [dict(r) for r in rows],
    }
    if notes:
        doc["notes"] = notes
    return doc


def read_results(path: str | Path) -> dict[str, Any]:
    """Load a results JSON, checking its schema tag."""
    from gaitcompress.errors import GaitCompressError

    path = Path(path)
    if not path.is_file():
        raise GaitCompressError(f"results file not found: {path}", "run the stage that writes it first")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GaitCompressError(f"{path}: not valid JSON ({exc})", "regenerate the file") from exc
    if doc.get("schema") != SCHEMA:
        raise GaitCompressError(
            f"{path}: schema is {doc.get('schema')!r}, expected {SCHEMA!r}",
            "regenerate it with this version of gaitcompress",
        )
    return doc


def _fmt(metric: Mapping[str, Any]) -> str:
    if len(metric.get("values", [])) > 1:
        return f"{metric['mean']:.2f} ± {metric['std']:.2f}"
    return f"{metric['mean']:.2f}"


def render_markdown(doc: Mapping[str, Any]) -> str:
    """A markdown table of a results document: one row per method, one column per metric."""
    rows = doc["rows"]
    metric_names: list[str] = []
    for row in rows:
        for key in row.get("metrics", {}):
            if key not in metric_names:
                metric_names.append(key)
    extra = []
    if any("cost" in r for r in rows):
        extra += ["MACs (G)", "BitOPs (G)", "params (M)"]
    if any("latency" in r for r in rows):
        extra += ["p50 ms", "ratio"]
    head = ["method", "label", "model", "bits", "seeds", *metric_names, *extra]
    lines = [
        f"# {doc['name']}",
        "",
        f"Command: `{doc['command']}`",
        "",
        f"Dataset: `{json.dumps(doc['dataset'])}`",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = [
            r.get("method", ""),
            r.get("label", ""),
            r.get("model", ""),
            r.get("bits", ""),
            ",".join(str(s) for s in r.get("seeds", [])),
        ]
        cells += [_fmt(r["metrics"][m]) if m in r.get("metrics", {}) else "" for m in metric_names]
        if "MACs (G)" in extra:
            c = r.get("cost", {})
            cells += [
                f"{c['macs'] / 1e9:.3f}" if "macs" in c else "",
                f"{c['bitops'] / 1e9:.3f}" if "bitops" in c else "",
                f"{c['params'] / 1e6:.3f}" if "params" in c else "",
            ]
        if "p50 ms" in extra:
            lat = r.get("latency", {})
            ratio = lat.get("ratio_to", {})
            cells += [
                f"{lat['p50_ms']:.2f}" if "p50_ms" in lat else "",
                ", ".join(f"{v:.2f}× {k}" for k, v in ratio.items()),
            ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if doc.get("notes"):
        lines += ["", doc["notes"].rstrip()]
    env = doc.get("environment", {})
    lines += [
        "",
        "Environment: " + ", ".join(f"{k}={v}" for k, v in env.items() if k != "cpu_flags"),
        "CPU flags: " + " ".join(env.get("cpu_flags", [])),
        "",
    ]
    return "\n".join(lines)


def write_results(doc: Mapping[str, Any], path: str | Path) -> Path:
    """Write `NAME.json` and its `NAME.md` rendering atomically: a full or read-only disk is one error, no temp left."""
    from gaitcompress.checkpoints import atomic_write_text  # torch-importing; the same core layer

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, text in ((path, json.dumps(doc, indent=2)), (path.with_suffix(".md"), render_markdown(doc))):
        atomic_write_text(text, target)
    return path
