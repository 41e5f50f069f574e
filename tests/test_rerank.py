import pytest
import torch

from gaitcompress.data.batch import SeqMeta
from gaitcompress.evaluation import Features, evaluate, pairwise_distance
from gaitcompress.rerank.cargait import CarGaitReranker
from gaitcompress.rerank.head import CarGaitHead, build_head, strips
from gaitcompress.rerank.kreciprocal import KReciprocalReranker, k_reciprocal
from gaitcompress.rerank.module import CarGaitModule, ranking_loss
from gaitcompress.rerank.pairs import build_pair_set, pair_batches
from gaitcompress.rerank.topk import rerank_topk


def _trained_like(head: CarGaitHead) -> CarGaitHead:
    torch.nn.init.normal_(head.attn.out_proj.weight, std=0.5)
    return head


def test_untrained_head_is_the_first_stage_distance_and_symmetric():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(6, 8, 4, generator=g)  # [N, E, P]
    head = CarGaitHead(dim=8, parts=4, heads=2, features="embeddings")
    a, b = strips(emb, "embeddings"), strips(emb.roll(1, 0), "embeddings")  # [N, s, d]
    expected = pairwise_distance(emb, emb.roll(1, 0)).diagonal()
    torch.testing.assert_close(head(a, b), expected, atol=1e-5, rtol=1e-5)
    _trained_like(head)
    torch.testing.assert_close(head(a, b), head(b, a))  # one attention for both directions
    assert head(a, b).shape == (6,)
    rebuilt = build_head(vars(head.spec))
    assert (rebuilt.dim, rebuilt.parts, rebuilt.features) == (8, 4, "embeddings")


def test_rerank_topk_reorders_only_the_top_k():
    dist = torch.tensor([[0.1, 0.5, 0.2, 0.9, 0.3, 0.3]])
    # new scores for the top 3 (gallery 0, 2, 4) reverse their order
    new = {0: 3.0, 2: 2.0, 4: 1.0}
    out = rerank_topk(dist, 3, lambda p, g: torch.tensor([new[int(j)] for j in g]))
    assert torch.argsort(out[0], stable=True).tolist() == [4, 2, 0, 5, 1, 3]  # 5 before 1: first-stage order kept
    # scoring in small calls gives the same matrix
    small = rerank_topk(dist, 3, lambda p, g: torch.tensor([new[int(j)] for j in g]), pairs_per_call=1)
    assert torch.equal(small, out)


def test_ranking_loss_hand_case():
    dist = torch.tensor([[1.0, 2.0, 0.5]])  # candidate 0 positive; 1, 2 negatives
    positive = torch.tensor([[True, False, False]])
    initial = torch.tensor([[0.1, 0.2, 0.3]])  # stage 1 ranked the positive first for both triplets
    sp = torch.nn.functional.softplus
    expected = (0.1 * sp(torch.tensor(1.0 - 2.0)) + 0.1 * sp(torch.tensor(1.0 - 0.5))) / 2
    torch.testing.assert_close(ranking_loss(dist, positive, initial, beta=0.1), expected)
    initial = torch.tensor([[0.3, 0.2, 0.1]])  # both triplets wrong in stage 1: full weight
    torch.testing.assert_close(ranking_loss(dist, positive, initial, beta=0.1), expected / 0.1)


def _features(n_ids=6, per_id=4, dim=8, parts=4, seed=0) -> Features:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_ids, dim, parts, generator=g)
    emb = centres.repeat_interleave(per_id, 0) + 0.8 * torch.randn(n_ids * per_id, dim, parts, generator=g)
    meta = [SeqMeta(f"{i:03d}", f"nm-{j + 1:02d}", "000") for i in range(n_ids) for j in range(per_id)]
    return Features(emb, meta, parts=emb.clone())


def test_pairs_and_one_training_step_reduce_the_loss():
    feats = _features()
    pairs = build_pair_set(feats, "parts", top_v=6)
    assert pairs.candidates.shape == (24, 6)
    assert not (pairs.candidates == torch.arange(24)[:, None]).any()  # never its own candidate
    batch = next(pair_batches(pairs, probes_per_batch=4, seed=0))
    assert batch.candidates.shape == (4, 6, 4, 8) and batch.positive.any(1).all()
    torch.manual_seed(0)
    module = CarGaitModule(CarGaitHead(8, 4, heads=2), num_classes=6, hidden=16)
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        terms = module.training_losses(batch)
        loss = sum(terms.values())
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert set(terms) == {"rank", "ce"} and loss.item() < first
    assert module.deploy_model() is module.head


def _casiab_like(seed=0) -> Features:
    g = torch.Generator().manual_seed(seed)
    types = ["nm-01", "nm-02", "nm-05", "bg-01"]
    meta = [SeqMeta(f"{i}", t, v) for i in range(5) for t in types for v in ("000", "090")]
    centres = torch.randn(5, 8, 4, generator=g)
    emb = torch.stack([centres[int(m.id)] for m in meta]) + 0.7 * torch.randn(len(meta), 8, 4, generator=g)
    return Features(emb, meta, parts=emb.clone())


def test_rerankers_plug_into_protocols():
    feats = _casiab_like()
    base = evaluate(feats, "casiab", gallery_types=["nm-01", "nm-02"], conditions={"NM": ["nm-05"]})
    # an untrained CarGait head on embeddings reproduces stage 1 exactly
    head = CarGaitHead(8, 4, heads=2, features="embeddings")
    same = evaluate(
        feats,
        "casiab",
        gallery_types=["nm-01", "nm-02"],
        conditions={"NM": ["nm-05"]},
        rerank=CarGaitReranker(head, k=3),
    )
    assert same.metrics == pytest.approx(base.metrics)
    kr = evaluate(
        feats,
        "casiab",
        gallery_types=["nm-01", "nm-02"],
        conditions={"NM": ["nm-05"]},
        rerank=KReciprocalReranker(k1=4, k2=2),
    )
    assert set(kr.metrics) == set(base.metrics)


def test_k_reciprocal_lambda_one_is_the_normalised_distance_and_it_helps_clusters():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=g)
    d = torch.cdist(x, x)
    out = k_reciprocal(d[:5, 5:], d[:5, :5], d[5:, 5:], k1=6, k2=3, lam=1.0)
    norm = torch.cat([d[:5, :5], d[:5, 5:]], 1).double() ** 2
    torch.testing.assert_close(out, (norm / norm.amax(1, keepdim=True))[:, 5:])
    # two tight clusters: a probe's re-ranked nearest neighbours stay in its cluster
    pts = torch.cat([torch.randn(10, 2, generator=g) * 0.1, torch.randn(10, 2, generator=g) * 0.1 + 3])
    d = torch.cdist(pts, pts)
    out = k_reciprocal(d[:1, 1:], d[:1, :1], d[1:, 1:], k1=5, k2=2, lam=0.3)
    assert (torch.argsort(out[0])[:9] < 9).all()


def test_reranker_needs_parts_of_the_right_shape():
    feats = _casiab_like()
    head = CarGaitHead(16, 4, heads=2)
    with pytest.raises(Exception, match="expects parts"):
        CarGaitReranker(head)(torch.zeros(2, 2), feats.subset([0, 1]), feats.subset([2, 3]))


def test_rerank_keeps_the_protocol_gallery_and_an_identity_head_changes_nothing():
    """With a score equal to the first-stage distance, every protocol metric is exactly the baseline: the
    re-ranker sees each cell's own gallery and writes back into the right rows and columns."""
    feats = _casiab_like(seed=3)

    class Identity:
        def __call__(self, dist, probe, gallery):
            return rerank_topk(dist, 3, lambda p, g: dist[p, g])

    kwargs = {"gallery_types": ["nm-01", "nm-02"], "conditions": {"NM": ["nm-05"], "BG": ["bg-01"]}}
    assert evaluate(feats, "casiab", rerank=Identity(), **kwargs).metrics == evaluate(feats, "casiab", **kwargs).metrics


def test_reranked_top_k_stays_ahead_of_the_rest_whatever_the_scores():
    g = torch.Generator().manual_seed(0)
    dist = torch.rand(7, 12, generator=g)
    dist[0, 3] = dist[0, 5]  # a tie at the boundary keeps gallery order
    for scale in (1e-6, 1.0, 1e6, -1e6):
        out = rerank_topk(dist, 4, lambda p, q, s=scale: s * torch.rand(len(p), generator=g))
        before, after = torch.argsort(dist, dim=1, stable=True), torch.argsort(out, dim=1, stable=True)
        assert torch.equal(after[:, :4].sort(1).values, before[:, :4].sort(1).values)  # same top-4 set
        assert torch.equal(after[:, 4:], before[:, 4:])  # the rest in first-stage order


def _k_reciprocal_loops(dist: torch.Tensor, num_probe: int, k1: int, k2: int, lam: float) -> torch.Tensor:
    """Zhong et al. (2017) written element by element from the paper, as an independent check."""
    n = dist.shape[0]
    d = dist.double() ** 2
    d = d / d.max(1, keepdim=True).values
    order = [sorted(range(n), key=lambda j, i=i: (d[i, j].item(), j)) for i in range(n)]

    def r(i, k):
        return {j for j in order[i][: k + 1] if i in order[j][: k + 1]}

    v = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        members = r(i, k1)
        expanded = set(members)
        for j in members:
            half = r(j, round(k1 / 2))
            if len(half & members) > 2 / 3 * len(half):
                expanded |= half
        for j in expanded:
            v[i, j] = torch.exp(-d[i, j])
        v[i] /= v[i].sum()
    v = torch.stack([v[order[i][:k2]].mean(0) for i in range(n)])
    out = torch.empty(num_probe, n - num_probe, dtype=torch.float64)
    for i in range(num_probe):
        for g in range(num_probe, n):
            jaccard = 1 - torch.minimum(v[i], v[g]).sum() / torch.maximum(v[i], v[g]).sum()
            out[i, g - num_probe] = (1 - lam) * jaccard + lam * d[i, g]
    return out


def test_k_reciprocal_matches_the_paper_written_out():
    g = torch.Generator().manual_seed(1)
    x = torch.cat([torch.randn(6, 3, generator=g) * 0.3 + c for c in torch.randn(4, 3, generator=g) * 2])  # 24 points
    d = torch.cdist(x, x)
    fast = k_reciprocal(d[:5, 5:], d[:5, :5], d[5:, 5:], k1=6, k2=3, lam=0.3)
    torch.testing.assert_close(fast, _k_reciprocal_loops(d, 5, k1=6, k2=3, lam=0.3))


def test_training_lists_follow_the_cross_view_protocol():
    from gaitcompress.rerank.pairs import cross_view_blocks

    feats = _casiab_like(seed=1)
    blocks = cross_view_blocks(feats, ["nm-01", "nm-02"])
    assert len(blocks) == 2  # (000 → 090), (090 → 000)
    for probes, gallery in blocks:
        assert len({feats.views[i] for i in probes}) == 1 and len({feats.views[i] for i in gallery}) == 1
        assert feats.views[int(probes[0])] != feats.views[int(gallery[0])]
        assert {feats.types[i] for i in probes} <= {"nm-05", "bg-01"}
        assert {feats.types[i] for i in gallery} <= {"nm-01", "nm-02"}
    pairs = build_pair_set(feats, "embeddings", top_v=30, blocks=blocks)
    assert pairs.candidates.shape[1] == 10  # v shrinks to the gallery of one view (5 ids × 2 types)
    views = torch.tensor([int(v) for v in feats.views])
    assert (views[pairs.candidates] != views[pairs.probe, None]).all()


def test_list_accuracy_of_an_untrained_embeddings_head_is_stage_ones():
    from gaitlab.rerank_heldout import list_accuracy

    pairs = build_pair_set(_features(seed=2), "embeddings", top_v=8)
    acc = list_accuracy(CarGaitHead(8, 4, heads=2, features="embeddings"), pairs)
    assert acc["pair_acc"] == pytest.approx(acc["stage1_pair_acc"]) and acc["top1"] == pytest.approx(acc["stage1_top1"])
    assert 0.0 < acc["stage1_pair_acc"] < 1.0
