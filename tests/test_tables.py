"""Terminal tables fit 80 columns (every CI log is 80 wide): nothing cut to `…`."""

from __future__ import annotations

from rich.console import Console

from gaitcompress.commands._tables import view_tables
from gaitcompress.evaluation.result import ViewTable


class _Result:
    """The one attribute `view_tables` reads: CASIA-B's 11 views, every cell at its widest."""

    views = [f"{i * 18:03d}" for i in range(11)]
    tables = {"NM": ViewTable(views, views, [[None if i == j else 99.9 for j in range(11)] for i in range(11)])}


def test_casiab_view_matrix_fits_80_columns() -> None:
    console = Console(width=80, record=True, color_system=None)
    for table in view_tables(_Result()):
        console.print(table)
    text = console.export_text()
    assert "…" not in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    assert "99.9" in text and " 180" in text  # every gallery view is a column, values as printed
