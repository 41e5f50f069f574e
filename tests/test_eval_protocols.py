import csv

import pytest
import torch

from gaitcompress.data.batch import SeqMeta
from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation import PROTOCOLS, Features, evaluate, result_rows

IDS = {"a": 0.0, "b": 10.0, "c": 20.0}  # each id sits at one position on a line
VIEWS = ("000", "090")


def _features(types, perturb=None) -> Features:
    """1-D embeddings [N, 1, 1]: every sequence at its id's position, plus `perturb[(id, type, view)]`."""
    perturb = perturb or {}
    meta = [SeqMeta(i, t, v) for i in IDS for t in types for v in VIEWS]
    x = torch.tensor([IDS[m.id] + perturb.get((m.id, m.type, m.view), 0.0) for m in meta])
    return Features(x.view(-1, 1, 1), meta)


def test_registry_names():
    assert PROTOCOLS.names() == ["casiab", "gait3d", "grew", "oumvlp"]


def test_casiab_hand_case_with_missing_condition():
    types = ["nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "bg-02"]
    # b's bg-01 probe at view 090 sits next to a: wrong in the (090 probe, 000 gallery) cell, 5/6 right
    res = evaluate(_features(types, {("b", "bg-01", "090"): -9.0}), "casiab")
    bg = res.tables["BG"].values
    assert bg[1][0] == pytest.approx(500 / 6) and bg[0][1] == 100.0
    assert res.metrics["NM@R1"] == 100.0
    assert res.metrics["BG@R1"] == pytest.approx((100 + 500 / 6) / 2)
    assert "CL@R1" not in res.metrics and "CL" not in res.tables  # no CL probes: skipped, not NaN
    assert res.metrics["mean@R1"] == pytest.approx((100 + (100 + 500 / 6) / 2) / 2)
    # pooled retrieval against the other view's 12 gallery sequences: b's probe ranks its 4 matches 5..8
    ap = (1 / 5 + 2 / 6 + 3 / 7 + 4 / 8) / 4
    assert res.metrics["BG@mAP"] == pytest.approx(100 * (11 + ap) / 12)
    assert res.metrics["mAP"] == pytest.approx(100 * (23 + ap) / 24)
    assert res.metrics["mINP"] == pytest.approx(100 * (23 + 0.5) / 24)
    assert res.metrics["R1"] == pytest.approx(100 * 23 / 24) and res.metrics["R5"] == 100.0
    assert [k for k, _ in result_rows(res)][:5] == ["NM@R1", "BG@R1", "mean@R1", "R1", "R5"]
    assert '"BG@R1"' in res.to_json()


def test_casiab_copes_with_a_missing_gallery_view():
    types = ["nm-01", "nm-05", "cl-01"]
    feats = _features(types)
    keep = [i for i, m in enumerate(feats.meta) if not (m.type == "nm-01" and m.view == "090")]
    res = evaluate(feats.subset(keep), "casiab", gallery_types=["nm-01"], conditions={"NM": ["nm-05"], "CL": ["cl-01"]})
    assert res.tables["NM"].values == [[100.0, None], [100.0, None]]
    # probe view 000 has no other-view gallery: its row is skipped, the mean comes from view 090 only
    assert res.metrics["NM@R1"] == 100.0 and res.metrics["CL@R1"] == 100.0


def test_casiab_without_gallery_is_a_clear_error():
    with pytest.raises(GaitCompressError, match="no gallery"):
        evaluate(_features(["bg-01"]), "casiab")
    with pytest.raises(GaitCompressError, match="disjoint"):
        PROTOCOLS.build("casiab", conditions={"NM": ["nm-01"]})


def test_oumvlp_is_cross_view_on_sequences_00_and_01():
    res = evaluate(_features(["00", "01"], {("a", "00", "000"): 9.0}), "oumvlp")
    assert res.tables["NM"].values[0][1] == pytest.approx(200 / 3)
    assert res.metrics["NM@R1"] == res.metrics["mean@R1"] == pytest.approx((200 / 3 + 100) / 2)


def test_gait3d_probe_set_and_skipped_probes():
    feats = _features(["s1", "s2"])
    feats = Features(torch.cat([feats.embeddings, torch.tensor([[[30.0]]])]), [*feats.meta, SeqMeta("d", "s1", "000")])
    probe_set = [SeqMeta("a", "s1", "000"), "b-s1-000", "d-s1-000"]  # d has no gallery sequence: skipped
    res = evaluate(feats, "gait3d", probe_set=probe_set)
    assert res.counts == {"probes": 3, "gallery": 10, "skipped": 1}
    assert res.metrics == pytest.approx({"R1": 100.0, "R5": 100.0, "R10": 100.0, "mAP": 100.0, "mINP": 100.0})
    with pytest.raises(GaitCompressError, match="needs the probe"):
        evaluate(feats, "gait3d")


def test_grew_writes_top20_submission(tmp_path):
    meta = [SeqMeta(f"{i:05d}", "00", "00") for i in range(25)] + [SeqMeta("probe", "vidA", "00")]
    x = torch.arange(26, dtype=torch.float32).view(-1, 1, 1)
    x[-1] = 3.2  # nearest gallery: 3, 4, 2, 5, 1, ...
    out = tmp_path / "sub.csv"
    res = evaluate(Features(x, meta), "grew", out=str(out))
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["videoId", *(f"rank{k}" for k in range(1, 21))]
    assert rows[1][:5] == ["vidA", "00003", "00004", "00002", "00005"] and len(rows[1]) == 21
    assert res.files["submission"] == str(out)
    with pytest.raises(GaitCompressError, match="output path"):
        PROTOCOLS.build("grew")
