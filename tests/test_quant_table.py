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


def test_issue17_claims_need_a_lead_larger_than_the_seed_std():
    from gaitlab.quant_table import CLAIMS_17

    rows = [row("fp32", [50.0]), row("qgait4", [49.5, 49.7]), row("lsq4", [49.0, 49.6]),
            row("qgait4-vanillakd", [49.8, 49.8]), row("qgait4-fixedk", [49.0, 49.2])]  # fmt: skip
    got = {c["ref"]: c for c in claims(rows, which=CLAIMS_17)}
    assert got["fp32"]["holds"]  # −0.4 > −1
    lead = got["lsq4"]  # +0.3, but lsq4's std is 0.42: not a resolved lead
    assert not lead["holds"] and lead["bound"] == lead["noise"] and abs(lead["noise"] - 0.4243) < 1e-3
    assert not got["qgait4-vanillakd"]["holds"] and got["qgait4-fixedk"]["holds"]
