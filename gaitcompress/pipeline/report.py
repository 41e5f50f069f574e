"""The pipeline report: every stage's accuracy, cost and latency side by side, and which model to ship.

Rows come from each stage's own `metrics.json` (so the report never recomputes accuracy), cost from
`quant.cost.bitops_report` on the saved model (BitOPs = MACs for FP32 layers), file sizes from the exports,
and latency from the bench stage: at the training size (`latency`) and, when the pipeline exports at the size users
deploy, there too (`latency_deploy`, with the untrained full-width reference model's in the document's `deploy`
block). The JSON is the shared results form, so `gaitcompress gate` can check it.

One name per model everywhere (terminal, report.md, plots): the stage name (`teacher`, `student`,
`quant-qgait8`, …); each row's `method` stays the results-form method name (`gaitkd`, `qgait8`), which the gate
matches on. The report recommends a model: the fastest (bench p50 at deployment size where measured, else at the
training size; BitOPs without a bench stage) whose deployed
accuracy — the exported graph's in onnxruntime, PyTorch's where there is no verified export — is within
`tolerance` points of the teacher's and whose export passed parity. The tolerance is the pipeline recipe's
`report: {tolerance: …}` when it has one (read from the run folder's `pipeline.yaml`), else `TOLERANCE`.
Rows whose speed needs a word (w4a4 runs in INT8 containers; a `trt`-placement model timed on onnxruntime CPU)
carry `notes`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from gaitcompress.bench.plots import plot_latency, plot_pareto
from gaitcompress.results import make_results, read_results, render_markdown, write_results

ACCURACY_KEYS = ("NM@R1", "BG@R1", "CL@R1", "mean@R1", "R1", "R5", "mAP", "mINP")
TOLERANCE = 1.0  # points of the headline rank-1 a recommended model may lose against the teacher
REFERENCE = "teacher"
NOTES = {
    "int8-containers": "w{b}a{b} runs as INT8 containers holding {b}-bit grids (DESIGN §10): INT8 speed and about "
    "INT8 size, not {b}-bit; its gain over w8a8 is BitOPs, realised only on hardware with {b}-bit kernels",
    "trt-on-cpu": "`trt` placement: Q/DQ laid out for TensorRT (symmetric int8, nothing for onnxruntime to fuse), "
    "so onnxruntime CPU runs it as simulation; time it with TensorRT, or quantize with quant.placement=ort for CPU",
}


def stage_rows(
    outputs: Mapping[str, Mapping[str, Any]],
    models: Sequence[str],
    frames: int,
    input_size: tuple[int, int],
) -> list[dict[str, Any]]:
    """One row per model stage: its metrics.json row plus cost at `frames` frames of `input_size`."""
    from gaitcompress.checkpoints import load_model
    from gaitcompress.quant.cost import bitops_report

    rows = []
    for stage in models:
        out = outputs[stage]
        row: dict[str, Any] = {"method": stage, "stage": stage}
        if "metrics" in out:
            row.update(read_results(out["metrics"])["rows"][0])
            row["stage"] = stage
        row["cost"] = bitops_report(load_model(out["checkpoint"]), frames, input_size).as_cost()
        exports = out.get("exports") or {}
        if exports:
            row["exports"] = exports
            row["cost"]["onnx_bytes"] = {fmt: Path(p).stat().st_size for fmt, p in exports.items()}
        rows.append(row)
    # the row each model was compressed from, by its method: the gate's compression-loss checks pair them
    method = {r["stage"]: r["method"] for r in rows}
    for row in rows:
        parent = outputs[row["stage"]].get("parent")
        if parent in method:
            row["parent"] = method[parent]
    return rows


def attach_latency(
    rows: list[dict[str, Any]], latency_rows: Sequence[Mapping[str, Any]], key: str = "latency"
) -> dict[str, Mapping[str, Any]]:
    """Give each model row, as `row[key]`, the bench latency measured for the same stage name; returns every bench
    row's latency by name (a bench may time models that are not stages: the deployment-size reference)."""
    by_name = {r["method"]: r["latency"] for r in latency_rows}
    for row in rows:
        if row["stage"] in by_name:
            row[key] = by_name[row["stage"]]
    return by_name


def deploy_block(latency: Mapping[str, Mapping[str, Any]], reference: str | None) -> dict[str, Any] | None:
    """The report's `deploy` block: the deployment size, frames and backend, and the reference model's latency."""
    first = next(iter(latency.values()), None)
    if first is None:
        return None
    ref = latency.get(reference) if reference else None
    block = {k: first.get(k) for k in ("input", "frames", "batch", "backend")}
    block["reference"] = {"name": reference, "bits": "fp32", "latency": ref} if ref else None
    return block


def deploy_rows(doc: Mapping[str, Any]) -> list[tuple[str, str, float, float | None, float | None]]:
    """(model, bits, p50 ms, × teacher, × reference) at deployment size: every timed row, then the reference.

    × teacher is the bench's median of per-round ratios (interleaved rounds); × reference divides two of them (each
    model's and the reference's ratio to the teacher). Without the bench's ratios, p50s are divided."""
    deploy = doc.get("deploy") or {}
    timed = [(name(r), str(r.get("bits", "")), r["latency_deploy"]) for r in doc["rows"] if "latency_deploy" in r]
    ref = (deploy.get("reference") or {}).get("latency")
    if ref is not None:
        timed.append((f"{deploy['reference']['name']} (untrained)", "fp32", ref))
    teacher = next((lat for model, _, lat in timed if model == REFERENCE), None)

    def to_teacher(lat: Mapping[str, Any]) -> float | None:
        ratio = (lat.get("ratio_to") or {}).get(REFERENCE)
        return ratio if ratio is not None else (lat["p50_ms"] / teacher["p50_ms"] if teacher else None)

    ref_ratio = to_teacher(ref) if ref is not None else None
    out = []
    for model, bits, lat in timed:
        ratio = to_teacher(lat)
        out.append((model, bits, lat["p50_ms"], ratio, ratio / ref_ratio if ratio is not None and ref_ratio else None))
    return out


def deploy_caption(doc: Mapping[str, Any]) -> str:
    """What the deployment-size table measured, in one line."""
    d = doc.get("deploy") or {}
    size = "×".join(map(str, d.get("input") or [])) or "?"
    return f"{size}, {d.get('frames')} frames, batch {d.get('batch')}, {d.get('backend')}, same weights as above"


def name(row: Mapping[str, Any]) -> str:
    """The one name of a model in every view: its stage name (a results row without one: its method)."""
    return str(row.get("stage") or row.get("method") or "?")


def headline(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rank-1 the report leads with: CASIA-B's mean over NM/BG/CL, else plain R1."""
    return "mean@R1" if any("mean@R1" in r.get("metrics", {}) for r in rows) else "R1"


def deployed(row: Mapping[str, Any], metric: str) -> float | None:
    """The accuracy of what ships: the exported graph's (`onnx <metric>`), else PyTorch's."""
    m = row.get("metrics", {})
    value = (m.get(f"onnx {metric}") or m.get(metric) or {}).get("mean")
    return float(value) if value is not None and math.isfinite(float(value)) else None


def parity_ok(row: Mapping[str, Any]) -> bool | None:
    """True/False when the row's exports were verified, None when they were not."""
    checks = [c for c in (row.get("parity") or {}).values() if isinstance(c, Mapping) and "passed" in c]
    return all(c["passed"] for c in checks) if checks else None


def placement(row: Mapping[str, Any]) -> str | None:
    """A quantized row's placement: from its QAT row, else from its INT8 file name (`…_w8a8_trt.onnx`)."""
    found = (row.get("quant") or {}).get("placement")
    if found:
        return found
    for path in (row.get("exports") or {}).values():
        stem = Path(path).stem
        for p in ("trt", "ort"):
            if stem.endswith(f"_{p}"):
                return p
    return None


def speed_notes(row: Mapping[str, Any]) -> list[str]:
    """Why a row's latency is not what its bits suggest (keys of `NOTES`)."""
    notes = []
    bits = str(row.get("bits", ""))
    if bits.startswith("w") and "a" in bits:
        w, a = bits[1:].split("a", 1)
        if w.isdigit() and a.isdigit() and max(int(w), int(a)) < 8:
            notes.append("int8-containers")
    backend = str((row.get("latency") or {}).get("backend", ""))
    if placement(row) == "trt" and backend.startswith("ort") and not backend.startswith("ort-trt"):
        notes.append("trt-on-cpu")
    return notes


def note_text(key: str, row: Mapping[str, Any]) -> str:
    bits = str(row.get("bits", "w4a4"))
    return NOTES[key].format(b=bits[1:].split("a", 1)[0] if key == "int8-containers" else "")


def recommend(rows: Sequence[Mapping[str, Any]], tolerance: float = TOLERANCE) -> dict[str, Any] | None:
    """The model to ship (module docstring), with why; None when no row can be compared with the teacher."""
    metric = headline(rows)
    ref = next((r for r in rows if name(r) == REFERENCE), rows[0] if rows else None)
    ref_acc = deployed(ref, metric) if ref else None
    if ref_acc is None:
        return None
    timing = next((k for k in ("latency_deploy", "latency") if all(k in r for r in rows)), None)
    ok = [r for r in rows if (deployed(r, metric) or -math.inf) >= ref_acc - tolerance and parity_ok(r) is not False]

    def speed(r: Mapping[str, Any]) -> float:
        return float(r[timing]["p50_ms"]) if timing else float(r.get("cost", {}).get("bitops", math.inf))

    best = min(ok, key=speed) if ok else ref
    return {
        "stage": name(best),
        "method": best.get("method"),
        "metric": metric,
        "deployed": deployed(best, metric),
        "reference": {"stage": name(ref), "deployed": ref_acc},
        "tolerance": tolerance,
        "by": "p50_ms" if timing else "bitops",
        "at": list(best[timing].get("input") or []) if timing else None,  # the input size the latency was timed at
        "speed": speed(best),
        "onnx": next(iter((best.get("exports") or {}).values()), None),
        "within": bool(ok),
    }


def recommendation_text(rec: Mapping[str, Any] | None) -> str:
    """One sentence: what to ship and why (or why nothing qualifies)."""
    if rec is None:
        return "recommended: none (no teacher accuracy to compare with)"
    ref = rec["reference"]
    if not rec["within"]:
        return (f"recommended: {ref['stage']} — no model is within {rec['tolerance']:g} points of its "
                f"{rec['metric']} {ref['deployed']:.1f} with parity")  # fmt: skip
    at = f" at {'×'.join(map(str, rec['at']))}" if rec.get("at") else ""
    by = f"{rec['speed']:.2f} ms p50{at}" if rec["by"] == "p50_ms" else f"{rec['speed'] / 1e9:.3g} GBitOPs"
    return (
        f"recommended: {rec['stage']} ({by}, deployed {rec['metric']} {rec['deployed']:.1f} vs {ref['stage']} "
        f"{ref['deployed']:.1f}, tolerance {rec['tolerance']:g}): {rec['onnx'] or 'no ONNX'}"
    )


def recipe_tolerance(run_dir: Path) -> float | None:
    """`report.tolerance` of the pipeline recipe saved in the run folder, if it sets one."""
    path = Path(run_dir) / "pipeline.yaml"
    if not path.is_file():
        return None
    value = ((yaml.safe_load(path.read_text()) or {}).get("report") or {}).get("tolerance")
    return float(value) if value is not None else None


def render_report(doc: Mapping[str, Any], plots: Sequence[Path] = ()) -> str:
    """report.md: the wide table (every metric, ONNX files with sizes per format, latency), the recommendation,
    the notes under rows that need them, then the plots and the shared results rendering's footer."""
    rows, metric = doc["rows"], headline(doc["rows"])
    marks, notes = footnotes(rows)
    lines = [f"# {doc['name']}", "", f"Command: `{doc['command']}`", ""]
    ds = doc.get("dataset", {})
    lines += [f"Dataset: {ds.get('name')}, input {ds.get('input')}, {ds.get('frames')} training frames", ""]
    head = ["model", "method", "bits", metric, f"ONNX {metric}", "parity", "GMACs", "GBitOPs", "params (M)",
            "ONNX files", "p50 ms", "× teacher"]  # fmt: skip
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m, c, lat = r.get("metrics", {}), r.get("cost", {}), r.get("latency") or {}
        files = "<br>".join(f"{fmt}: `{p}` ({c.get('onnx_bytes', {}).get(fmt, 0) / 2**20:.2f} MB)"
                            for fmt, p in (r.get("exports") or {}).items())  # fmt: skip
        ratio = next(iter(lat.get("ratio_to", {}).values()), None)
        ok = parity_ok(r)
        lines.append("| " + " | ".join([
            name(r) + marks.get(name(r), ""), str(r.get("method", "")), str(r.get("bits", "")),
            f"{m[metric]['mean']:.2f}" if metric in m else "", f"{m['onnx ' + metric]['mean']:.2f}"
            if f"onnx {metric}" in m else "", "" if ok is None else ("ok" if ok else "**FAILED**"),
            f"{c.get('macs', 0) / 1e9:.3f}", f"{c.get('bitops', 0) / 1e9:.3f}", f"{c.get('params', 0) / 1e6:.3f}",
            files, f"{lat['p50_ms']:.2f}" if lat else "", f"{ratio:.2f}" if ratio is not None else "",
        ]) + " |")  # fmt: skip
    if doc.get("deploy"):
        head = "| model | bits | p50 ms | × teacher | × reference |"
        lines += ["", f"Latency at deployment size ({deploy_caption(doc)}):", "", head, "|---|---|---|---|---|"]
        for model, bits, p50, to_teacher, to_ref in deploy_rows(doc):
            ratios = [f"{x:.2f}" if x is not None else "" for x in (to_teacher, to_ref)]
            lines.append(f"| {model} | {bits} | {p50:.2f} | {' | '.join(ratios)} |")
    lines += ["", f"**{recommendation_text(doc.get('recommended'))}**", "", *notes]
    if plots:
        lines += ["", *(f"![{p.stem}]({p.name})" for p in plots)]
    footer = render_markdown({**doc, "rows": rows})
    lines += ["", "## Every metric", "", footer.split("\n", 6)[-1]]  # the results rendering without its header
    return "\n".join(lines) + "\n"


SUPERSCRIPTS = "¹²³⁴⁵⁶⁷⁸⁹"


def footnotes(rows: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """One footnote per kind of note (numbered in order of first use): each row's marks (`quant-qgait4²³`) and the
    footnote lines (`² w4a4 runs as INT8 containers …`), shared by the terminal table and report.md."""
    numbers: dict[str, int] = {}
    marks: dict[str, str] = {}
    lines: list[str] = []
    for row in rows:
        for key in row.get("notes", []):
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                lines.append(f"{SUPERSCRIPTS[numbers[key] - 1]} {note_text(key, row)}.")
            marks[name(row)] = marks.get(name(row), "") + SUPERSCRIPTS[numbers[key] - 1]
    return marks, lines


def write_report(
    rows: Sequence[Mapping[str, Any]],
    dataset: Mapping[str, Any],
    folder: str | Path,
    title: str,
    command: str | None = None,
    tolerance: float | None = None,
    deploy: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`report.json` + `report.md` and PNG plots in `folder` (the run folder's `report/`); returns the document.

    `tolerance` defaults to the pipeline recipe's `report.tolerance`, else `TOLERANCE`; `deploy` is the
    deployment-size block (`deploy_block`) when the bench timed one.
    """
    folder = Path(folder)
    tol = tolerance if tolerance is not None else recipe_tolerance(folder.parent)
    tol = TOLERANCE if tol is None else tol
    rows = [dict(r) for r in rows]
    for row in rows:
        notes = speed_notes(row)
        if notes:
            row["notes"] = notes
    doc = make_results(title, rows, dataset, command)
    if deploy:
        doc["deploy"] = dict(deploy)
    doc["recommended"] = recommend(rows, tol)
    write_results(doc, folder / "report.json")
    plots = _plots(rows, dataset, folder, title)
    (folder / "report.md").write_text(render_report(doc, plots))
    return doc


def _plots(rows: list[dict[str, Any]], dataset: Mapping[str, Any], folder: Path, title: str) -> list[Path]:
    """Latency and Pareto plots labelled by stage name, titled with input size, frames, backend and CPU."""
    from gaitcompress.results import cpu_name

    named = [{**r, "method": name(r)} for r in rows]  # the plots label by `method`: show the stage name
    h, w = (dataset.get("input") or ["?", "?"])[:2]
    lat = next((r["latency"] for r in rows if "latency" in r), None)
    setting = f"{h}×{w}" + (f", {lat['frames']} frames, {lat['backend']}, {cpu_name()}" if lat else "")
    plots = []
    if lat is not None:
        plots.append(plot_latency(named, folder / "latency.png", title=f"{title}: latency ({setting})"))
        plots.append(plot_pareto(named, folder / "pareto_latency.png", x="latency", title=f"accuracy vs latency "
                                 f"({setting})"))  # fmt: skip
    plots.append(plot_pareto(named, folder / "pareto_bitops.png", x="bitops", title=f"accuracy vs BitOPs ({h}×{w})"))
    return plots
