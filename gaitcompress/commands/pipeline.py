"""`gaitcompress pipeline`: one recipe from a full-precision model to an edge engine, with a report."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from gaitcompress.commands._common import OverridesArg, RecipeArg, RichTracker, console, out, stage_run


def pipeline(
    recipe: RecipeArg,
    overrides: OverridesArg = None,
    stage_override: Annotated[
        list[str] | None,
        typer.Option("--all", help="key=value for every stage recipe that has the section (e.g. data.root=…)."),
    ] = None,
    redo: Annotated[
        str | None, typer.Option(help="Re-run this stage (e.g. student, export-teacher) and every stage after it.")
    ] = None,
    threads: Annotated[
        int, typer.Option(help="PyTorch CPU threads (0: the default). 1 makes CPU runs bit-reproducible.")
    ] = 0,
    allow_parity_failure: Annotated[
        bool, typer.Option(help="Exit 0 even when an export's onnxruntime accuracy differs from PyTorch's.")
    ] = False,
) -> None:
    """Teacher → GaitKD student → QGait w8a8/w4a4 → ONNX → benchmark → report; finished stages are skipped.

    Exits 1 when an export fails parity (after writing the report), unless --allow-parity-failure.
    Example: gaitcompress pipeline recipes/synthgait/pipeline_quick.yaml
    """
    import torch

    from gaitcompress.harness import RunInterrupted
    from gaitcompress.pipeline.run import run_pipeline
    from gaitcompress.recipe import load_recipe
    from gaitcompress.results import command_line

    if threads < 0:
        raise typer.BadParameter("must be 0 (default) or more", param_hint="--threads")
    if threads:
        torch.set_num_threads(threads)
    cfg = load_recipe(recipe, overrides or [])
    if stage_override:
        cfg["overrides"] = [*cfg.get("overrides", []), *stage_override]
    log = lambda msg: console.print(msg, markup=False, highlight=False)  # noqa: E731 - stage names in [brackets]
    command = command_line()
    hint = f"resume with: {command}  (finished stages are skipped; the interrupted one continues)"
    with stage_run():  # stage notices; Ctrl-C: what was saved and the command that resumes, exit 130
        try:
            run = run_pipeline(cfg, RichTracker(), log=log, redo=redo, command=command)
        except RunInterrupted as exc:  # the stage's hint would name the stage command: the pipeline resumes itself
            raise RunInterrupted(exc.message, hint) from None
        except KeyboardInterrupt:  # between stages, or in export / bench
            raise RunInterrupted("interrupted", hint) from None
    doc = run.report(command)
    print_tables(doc)
    console.print(f"report: {run.run_dir / 'report' / 'report.md'}", markup=False, highlight=False)
    for failure in run.parity_failures:
        console.print(f"[bold red]parity failed:[/] {failure}", highlight=False)
    if run.parity_failures and not allow_parity_failure:
        raise typer.Exit(1)


def print_tables(doc: dict) -> None:
    """The report's terminal view: the summary table, then latency at deployment size when it was timed."""
    out.print(summary_table(doc))
    if doc.get("deploy"):
        out.print(deploy_table(doc))


def summary_table(doc: dict) -> Table:
    """The report at 80 columns: one line per model (stage name), what ships and why, notes under the table.

    Accuracy is the headline rank-1 in PyTorch and as deployed (ONNX); size is the benchmarked (first) export;
    the wide table with every metric and each file's path is report.md.
    """
    from gaitcompress.pipeline.report import footnotes, headline, name, parity_ok, recommendation_text

    rows, metric = doc["rows"], headline(doc["rows"])
    ds = doc.get("dataset", {})
    size = "×".join(map(str, ds.get("input") or [])) or "?"
    table = Table(title=f"{doc['name']} ({ds.get('name')}, {size})", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)  # fmt: skip
    short = metric.replace("mean@", "")  # 'R1' (mean over NM/BG/CL) keeps the header narrow
    for col in ("model", "bits", short, f"ONNX {short}", "parity", "GBitOPs", "MB", "p50 ms", "× teacher"):
        table.add_column(col, justify="left" if col in ("model", "bits") else "right", no_wrap=True)
    marks, notes = footnotes(rows)
    for r in rows:
        m, c, lat = r.get("metrics", {}), r.get("cost", {}), r.get("latency") or {}
        ok = parity_ok(r)
        sizes = list((c.get("onnx_bytes") or {}).values())
        ratio = next(iter(lat.get("ratio_to", {}).values()), None)
        table.add_row(
            name(r) + marks.get(name(r), ""), r.get("bits", ""),
            f"{m[metric]['mean']:.1f}" if metric in m else "", f"{m['onnx ' + metric]['mean']:.1f}"
            if f"onnx {metric}" in m else "", "" if ok is None else ("ok" if ok else "[red]FAILED[/]"),
            f"{c.get('bitops', 0) / 1e9:.3f}", f"{sizes[0] / 2**20:.2f}" if sizes else "",
            f"{lat['p50_ms']:.2f}" if lat else "", f"{ratio:.2f}" if ratio is not None else "",
        )  # fmt: skip
    caption = [f"{short} = {metric} (%), PyTorch and as deployed in onnxruntime; MB = the benchmarked ONNX file",
               recommendation_text(doc.get("recommended")), *notes]  # fmt: skip
    table.caption = "\n".join(caption)
    table.caption_justify = "left"
    return table


def deploy_table(doc: dict) -> Table:
    """Latency at the size users deploy (the same weights re-exported), with the untrained full-width reference."""
    from gaitcompress.pipeline.report import deploy_caption, deploy_rows

    ref = (doc["deploy"].get("reference") or {}).get("name") or "reference"
    table = Table(title="latency at deployment size", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("model", "bits", "p50 ms", "× teacher", f"× {ref}"):
        table.add_column(col, justify="left" if col in ("model", "bits") else "right", no_wrap=True)
    for model, bits, p50, to_teacher, to_ref in deploy_rows(doc):
        ratios = [f"{x:.2f}" if x is not None else "" for x in (to_teacher, to_ref)]
        table.add_row(model, bits, f"{p50:.2f}", *ratios)
    table.caption = deploy_caption(doc)
    table.caption_justify = "left"
    return table
