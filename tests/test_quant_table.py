"""The table driver's claim check: mean differences against the issue's bounds, with the seed noise."""

from __future__ import annotations

from gaitcompress.results import summarize
from gaitlab.quant_table import claims, render_claims


def row(method, values):
    return {"method": method, "metrics": {"mean@R1": summarize(values)}}


def test_claims_hold_or_fail_on_the_mean():
    rows = [row("fp32", [50.0]), row("qgait8", [49.8, 49.6]), row("qgait4", [47.0, 47.2]), row("lsq4", [47.5, 47.3])]
    got = {c["row"] + "-" + c["ref"]: c for c in claims(rows)}
    assert got["qgait8-fp32"]["holds"] and abs(got["qgait8-fp32"]["diff"] + 0.3) < 1e-9
    assert not got["qgait4-fp32"]["holds"]  # −2.9 < −2
    assert not got["qgait4-lsq4"]["holds"] and got["qgait4-lsq4"]["diff"] < 0
    text = render_claims(claims(rows))
    assert text.count("does NOT hold") == 2 and "holds" in text


def test_claims_skip_missing_rows():
    assert claims([row("fp32", [50.0])]) == []
