"""`gaitcompress report RUN_DIR`: reprint a finished pipeline run's table, without running anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gaitcompress.commands._common import console

RunDirArg = Annotated[
    Path, typer.Argument(help="A pipeline run folder (or its report/ folder, or report.json).", show_default=False)
]
TolOpt = Annotated[
    float | None,
    typer.Option(help="Points of rank-1 the recommended model may lose against the teacher (default: the run's)."),
]


def report(run_dir: RunDirArg, tolerance: TolOpt = None) -> None:
    """Reprint a finished pipeline run's summary table and recommendation (report.md holds the wide table).

    Example: [b]gaitcompress report runs/pipeline/synthgait-quick --tolerance 2[/]
    """
    from gaitcompress.commands.pipeline import print_tables
    from gaitcompress.pipeline.report import recommend
    from gaitcompress.results import read_results

    path = find_report(run_dir)
    doc = read_results(path)
    if tolerance is not None:
        doc["recommended"] = recommend(doc["rows"], tolerance)
    print_tables(doc)
    console.print(f"report: {path.with_suffix('.md')}", markup=False, highlight=False)


def find_report(target: Path) -> Path:
    """`report.json` of a run folder, a report folder, or the file itself."""
    from gaitcompress.errors import GaitCompressError

    for candidate in (target, target / "report.json", target / "report" / "report.json"):
        if candidate.is_file() and candidate.suffix == ".json":
            return candidate
    raise GaitCompressError(
        f"no pipeline report in {target} (looked for {target / 'report' / 'report.json'})",
        f"the pipeline writes it at its end: gaitcompress pipeline RECIPE run_dir={target}",
    )
