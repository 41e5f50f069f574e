"""Re-ranking under the Gait3D protocol (the `many` SynthGait preset): the top K only, the rest untouched."""

from dataclasses import replace

import torch

from gaitcompress.data.batch import SeqMeta
from gaitcompress.data.synthgait.config import preset
from gaitcompress.evaluation import Features, evaluate
from gaitcompress.evaluation.protocols.gait3d import sequence_key
from gaitcompress.rerank.cargait import CarGaitReranker
from gaitcompress.rerank.head import CarGaitHead
from gaitcompress.rerank.topk import rerank_topk
from gaitlab.rerank_many import first_walk_probes, split_ids

TINY_MANY = replace(preset("many"), ids=12, train=6, frames=4)


def _gait3d_like(seed: int = 0) -> tuple[Features, frozenset[str]]:
    """Test-split features laid out as the preset writes them (ids 7..12, 6 sequences each), clustered by id."""
    g = torch.Generator().manual_seed(seed)
    meta, emb = [], []
    for s in range(TINY_MANY.train + 1, TINY_MANY.ids + 1):
        centre = torch.randn(8, 4, generator=g)
        for type_, view in TINY_MANY.sequences(s):
            meta.append(SeqMeta(TINY_MANY.id_name(s), type_, f"{view:03d}"))
            emb.append(centre + 0.9 * torch.randn(8, 4, generator=g))
    probes = frozenset(TINY_MANY.probe_key(s) for s in range(TINY_MANY.train + 1, TINY_MANY.ids + 1))
    return Features(torch.stack(emb), meta, torch.stack(emb)), probes


class Recording:
    """Wraps a re-ranker and keeps the first-stage and re-ranked matrices the protocol hands it."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def __call__(self, dist, probe, gallery):
        out = self.inner(dist, probe, gallery)
        self.seen.append((dist, out))
        return out


def test_cargait_reorders_only_the_top_k_under_the_gait3d_protocol():
    feats, probes = _gait3d_like()
    torch.manual_seed(0)
    head = CarGaitHead(8, 4, heads=2, features="embeddings")
    torch.nn.init.normal_(head.attn.out_proj.weight, std=0.5)  # a head that changes distances
    rec = Recording(CarGaitReranker(head, k=5))
    evaluate(feats, "gait3d", rerank=rec, probe_set=probes)
    ((dist, out),) = rec.seen
    assert dist.shape == (6, 6 * 6 - 6)
    before, after = torch.argsort(dist, dim=1, stable=True), torch.argsort(out, dim=1, stable=True)
    assert torch.equal(after[:, :5].sort(1).values, before[:, :5].sort(1).values)  # the same top 5
    assert torch.equal(after[:, 5:], before[:, 5:])  # everything past the top K in first-stage order
    assert not torch.equal(after[:, :5], before[:, :5])  # and the head did re-order inside it


def test_identity_score_reproduces_the_gait3d_metrics_exactly():
    feats, probes = _gait3d_like(seed=1)

    def identity(dist, probe, gallery):
        return rerank_topk(dist, 10, lambda p, g: dist[p, g])

    base = evaluate(feats, "gait3d", probe_set=probes)
    assert evaluate(feats, "gait3d", rerank=identity, probe_set=probes).metrics == base.metrics
    assert base.counts == {"probes": 6, "gallery": 30, "skipped": 0}


def test_validation_probes_follow_the_test_probe_rule():
    feats, probes = _gait3d_like()
    assert {sequence_key(m.id, m.type, m.view) for m in first_walk_probes(feats)} == probes
    fit, held = split_ids(feats, {"007", "008"})
    assert set(held.ids) == {"007", "008"} and len(fit) + len(held) == len(feats)
    assert not set(fit.ids) & set(held.ids)
