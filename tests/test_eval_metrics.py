import pytest
import torch

from gaitcompress.evaluation.metrics import RetrievalScores, label_codes, retrieval_scores


def _case():
    # gallery labels and one distance row shared by all probes: ascending order = gallery order
    gallery = torch.tensor([5, 0, 7, 0, 9])
    dist = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5]] * 3)
    probes = torch.tensor([0, 5, 3])  # hits 01010 / 10000 / none
    return dist, probes, gallery


def test_hand_computed_rank_map_minp():
    dist, probes, gallery = _case()
    s = retrieval_scores(dist, probes, gallery, ranks=(1, 2, 5))
    # probe 0: matches at ranks 2 and 4 → AP = (1/2 + 2/4)/2 = 0.5, INP = 2/4; probe 1: AP = INP = 1
    assert (s.valid, s.skipped) == (2, 1)
    assert s.percent() == pytest.approx({"R1": 50.0, "R2": 100.0, "R5": 100.0, "mAP": 75.0, "mINP": 75.0})


def test_inp_uses_last_true_match():
    # matches at ranks 1, 2 and 5 of 5: INP = 3/5, AP = (1 + 1 + 3/5)/3
    s = retrieval_scores(torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5]]), torch.tensor([1]), torch.tensor([1, 1, 0, 0, 1]))
    assert s.percent()["mINP"] == pytest.approx(60.0)
    assert s.percent()["mAP"] == pytest.approx(100 * (2.6 / 3))


def test_ties_keep_gallery_order_and_chunking_does_not_matter():
    dist = torch.zeros(4, 3)  # all tied: gallery order decides
    probes, gallery = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 2])
    s = retrieval_scores(dist, probes, gallery, ranks=(1, 2))
    assert s.percent()["R1"] == pytest.approx(100 / 3) and s.skipped == 1
    g = torch.Generator().manual_seed(1)
    dist = torch.rand(9, 13, generator=g)
    p, q = torch.randint(0, 4, (9,), generator=g), torch.randint(0, 4, (13,), generator=g)
    assert retrieval_scores(dist, p, q, max_elements=13) == retrieval_scores(dist, p, q)


def test_scores_of_disjoint_probe_sets_add_up():
    dist, probes, gallery = _case()
    whole = retrieval_scores(dist, probes, gallery)
    parts = retrieval_scores(dist[:1], probes[:1], gallery) + retrieval_scores(dist[1:], probes[1:], gallery)
    assert parts == whole


def test_no_valid_probe_gives_no_metrics():
    s = retrieval_scores(torch.zeros(2, 2), torch.tensor([7, 8]), torch.tensor([0, 1]))
    assert s.percent() == {} and s.skipped == 2
    assert retrieval_scores(torch.zeros(2, 0), torch.tensor([7, 8]), torch.tensor([], dtype=torch.long)).skipped == 2
    assert RetrievalScores().percent() == {}


def test_label_codes_are_shared():
    a, b = label_codes(["x", "y"], ["y", "z", "x"])
    assert a.tolist() == [0, 1] and b.tolist() == [1, 2, 0]
