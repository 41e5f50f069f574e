import pytest
import torch
from torch import nn

import gaitcompress.data
from gaitcompress.data.batch import Batch, SeqMeta
from gaitcompress.evaluation import evaluate_model, extract_features


class TinyGait(nn.Module):
    """Output contract of docs/architecture.md: embeddings [N,C,P], logits [N,K,P], parts [N,C',P]."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(1, 4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, sils, lengths=None):
        x = sils.mean(dim=(2, 3))  # [N, T]
        mask = torch.arange(x.shape[1])[None] < lengths[:, None]
        feat = (x * mask).sum(1, keepdim=True) / lengths[:, None]  # [N, 1] mean over valid frames
        emb = self.bn(self.fc(feat))  # [N, 4]
        return {"embeddings": emb.view(-1, 2, 2), "logits": emb.view(-1, 2, 2), "parts": feat.view(-1, 1, 1)}


def _loader():
    batches = []
    for b in range(2):
        meta = [SeqMeta(f"{b}{i}", "nm-01", "000") for i in range(3)]
        sils = torch.rand(3, 4, 8, 6, generator=torch.Generator().manual_seed(b))
        batches.append(Batch(sils, torch.full((3,), -1), torch.tensor([4, 2, 3]), meta))
    return batches


def test_extract_restores_mode_and_keeps_parts():
    model = TinyGait().train()
    feats = extract_features(model, _loader(), keep_parts=True)
    assert model.training  # mode restored
    assert feats.embeddings.shape == (6, 2, 2) and feats.parts.shape == (6, 1, 1)
    assert [m.id for m in feats.meta] == ["00", "01", "02", "10", "11", "12"]
    model.eval()
    again = extract_features(model, _loader())
    assert not model.training and again.parts is None
    torch.testing.assert_close(again.embeddings, feats.embeddings)  # eval-mode BN both times


def test_extract_accepts_any_callable():
    feats = extract_features(lambda sils, lengths: {"embeddings": sils[:, :1, :2, :3].mean(1)}, _loader())
    assert feats.embeddings.shape == (6, 2, 3)


def test_evaluate_model_uses_the_data_package(monkeypatch):
    meta = [SeqMeta(i, t, v) for i in "ab" for t in ("nm-01", "nm-05") for v in ("000", "090")]
    x = torch.tensor([0.0 if m.id == "a" else 1.0 for m in meta])
    sils = x.view(-1, 1, 1, 1).expand(-1, 2, 4, 4).contiguous()
    batch = Batch(sils, torch.full((8,), -1), torch.full((8,), 2), meta)
    seen = {}

    def fake_loader(cfg, split):
        seen["args"] = (cfg, split)
        return [batch]

    monkeypatch.setattr(gaitcompress.data, "build_test_loader", fake_loader, raising=False)
    model = lambda sils, lengths: {"embeddings": sils.mean(dim=(1, 2, 3)).view(-1, 1, 1)}  # noqa: E731
    res = evaluate_model(model, {"protocol": "casiab"}, gallery_types=["nm-01"], conditions={"NM": ["nm-05"]})
    assert seen["args"] == ({"protocol": "casiab"}, "test")
    assert res.metrics["NM@R1"] == 100.0 and res.metrics["mAP"] == pytest.approx(100.0)
