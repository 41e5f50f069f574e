"""Losses against hand-computed cases, and the recipe-built LossSet's routing and errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from gaitcompress.errors import GaitCompressError
from gaitcompress.train.losses import LossSet, PartCrossEntropy, TripletLoss, gather_for_triplet, pairwise_euclidean


def _brute_triplet(emb: torch.Tensor, labels: torch.Tensor, margin: float) -> float:
    """Batch-all triplet by explicit loops: per part, mean of non-zero terms; then mean over parts."""
    n, _, p = emb.shape
    per_part = []
    for k in range(p):
        terms = []
        for a, i, j in itertools.product(range(n), repeat=3):
            if labels[a] == labels[i] and labels[a] != labels[j]:
                d_ap = (emb[a, :, k] - emb[i, :, k]).norm()
                d_an = (emb[a, :, k] - emb[j, :, k]).norm()
                terms.append(max(0.0, float(d_ap - d_an + margin)))
        nz = [t for t in terms if t > 0]
        per_part.append(sum(nz) / len(nz) if nz else 0.0)
    return sum(per_part) / p


def test_triplet_hand_computed():
    # part 0: 1-D points 0, 1 | 3, 5 with margin 1.5 → violating terms 0.5 (a=1), 0.5 and 1.5 (a=2): mean 5/6
    # part 1: all points equal → all 16 valid terms equal the margin: mean 1.5
    emb = torch.tensor([[0.0, 7.0], [1.0, 7.0], [3.0, 7.0], [5.0, 7.0]]).unsqueeze(1)  # [N=4, C=1, P=2]
    labels = torch.tensor([0, 0, 1, 1])
    loss, stats = TripletLoss(margin=1.5)(emb, labels)
    assert loss.item() == pytest.approx((5 / 6 + 1.5) / 2, abs=1e-6)
    assert stats["nonzero_frac"].item() == pytest.approx((3 + 16) / 32)


def test_triplet_unbalanced_matches_brute_force():
    torch.manual_seed(0)
    emb = torch.randn(7, 3, 2)
    labels = torch.tensor([0, 0, 0, 1, 2, 2, 1])
    loss, _ = TripletLoss(margin=0.2)(emb, labels)
    assert loss.item() == pytest.approx(_brute_triplet(emb, labels, 0.2), abs=1e-5)


def test_triplet_all_satisfied_is_zero_with_finite_grad():
    emb = torch.tensor([[0.0], [0.0], [10.0], [10.0]]).unsqueeze(-1).requires_grad_()  # [4, 1, 1]
    loss, stats = TripletLoss(margin=0.2)(emb, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert loss.item() == 0.0 and stats["nonzero_frac"].item() == 0.0
    assert torch.isfinite(emb.grad).all()


def test_pairwise_euclidean_exact_zero_and_grad():
    x = torch.randn(2, 5, 4, requires_grad=True)
    d = pairwise_euclidean(x, x)
    assert torch.allclose(d, torch.cdist(x, x), atol=1e-4)
    assert (d.diagonal(dim1=1, dim2=2) == 0).all()
    d.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_ce_label_smoothing_hand_computed():
    logits = torch.tensor([[0.5, -0.5]]).unsqueeze(-1)  # [N=1, K=2, P=1] cosines → scaled ±8
    loss, stats = PartCrossEntropy(scale=16, label_smoothing=0.1)(logits, torch.tensor([0]))
    log_p0 = -math.log1p(math.exp(-16))
    log_p1 = -16 + log_p0
    expected = -(0.95 * log_p0 + 0.05 * log_p1)  # smoothed target (1-ε)·onehot + ε/K
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert stats["acc"].item() == 1.0


def test_ce_averages_over_parts():
    torch.manual_seed(0)
    logits, labels = torch.randn(3, 5, 4).tanh(), torch.tensor([0, 3, 4])
    loss, _ = PartCrossEntropy()(logits, labels)
    per_part = [PartCrossEntropy()(logits[:, :, p : p + 1], labels)[0] for p in range(4)]
    assert loss.item() == pytest.approx(torch.stack(per_part).mean().item(), rel=1e-6)


def test_loss_set_routes_weights_and_repr():
    loss_set = LossSet.from_config({"triplet": {"weight": 1.0, "margin": 0.2}, "ce": {"weight": 0.5, "scale": 16}})
    assert repr(loss_set) == "1.0·triplet(embeddings) + 0.5·ce(logits)"
    torch.manual_seed(0)
    outputs = {"embeddings": torch.randn(4, 3, 2), "logits": torch.randn(4, 5, 2).tanh(), "parts": torch.randn(4, 6, 2)}
    labels = torch.tensor([0, 0, 1, 1])
    terms = loss_set(outputs, labels)
    assert set(terms) == {"triplet", "ce"}
    assert terms["ce"].item() == pytest.approx(0.5 * PartCrossEntropy()(outputs["logits"], labels)[0].item())
    assert terms["triplet"].item() == pytest.approx(TripletLoss()(outputs["embeddings"], labels)[0].item())
    assert set(loss_set.stats) == {"triplet_nonzero_frac", "triplet_mean_dist", "ce_acc"}
    rerouted = LossSet.from_config({"triplet": {"input": "parts"}})
    assert repr(rerouted) == "1.0·triplet(parts)"
    assert rerouted(outputs, labels)["triplet"].item() == pytest.approx(
        TripletLoss()(outputs["parts"], labels)[0].item()
    )


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ({"tripplet": {}}, "triplet"),  # unknown loss → nearest name
        ({"triplet": {"margn": 0.2}}, "margin"),  # unknown kwarg → nearest kwarg
        ({"ce": {"weight": "high"}}, "weight"),
        ({}, "empty"),
    ],
)
def test_loss_set_errors(section, needle):
    with pytest.raises(GaitCompressError) as exc:
        LossSet.from_config(section)
    assert needle in str(exc.value)


def test_loss_set_missing_output_key():
    loss_set = LossSet.from_config({"ce": {}})
    with pytest.raises(GaitCompressError, match="logits"):
        loss_set({"embeddings": torch.randn(2, 3, 1)}, torch.tensor([0, 1]))


def test_gather_is_noop_without_process_group():
    emb, labels = torch.randn(4, 3, 2), torch.tensor([0, 0, 1, 1])
    out_emb, out_labels = gather_for_triplet(emb, labels)
    assert out_emb is emb and out_labels is labels
