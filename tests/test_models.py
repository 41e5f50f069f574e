"""Every registered model: output contract, lengths-aware pooling, hooks; GaitBase's OpenGait layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gaitcompress.errors import GaitCompressError
from gaitcompress.models import create_model, list_models
from gaitcompress.models.layers import BNNeck, HorizontalPool, SeparateFCs, TemporalMaxPool

# OpenGait GaitBase (CASIA-B, 74 ids) state-dict keys and shapes, copied from the shared reference so CI checks them
REFERENCE = Path(__file__).resolve().parent / "data" / "opengait_gaitbase_state_dict_keys.txt"
H, W = 16, 11  # tiny input: keeps even full-width models cheap on two cores


def _reference_shapes() -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in REFERENCE.read_text().splitlines():
        key, shape = line.split()[:2]
        shape = shape.split(")")[0].strip("(")
        shapes[key] = tuple(int(s) for s in shape.split(",") if s)
    return shapes


@pytest.mark.parametrize("name", list_models())
def test_model_contract(name):
    """Output shapes, unscaled cosine logits, spec rebuild, padding ignored, pre-activations hookable."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, parts=4).eval()
    short, full = torch.rand(1, 3, H, W), torch.rand(1, 5, H, W)
    batch = torch.cat([torch.cat([short, torch.zeros(1, 2, H, W)], dim=1), full])  # row 0 zero-padded past 3
    modules, seen = dict(model.named_modules()), {}
    handles = [
        modules[path].register_forward_pre_hook(lambda m, args, key=key: seen.setdefault(key, args[0]))
        for key, path in model.tap_points().items()
    ]
    with torch.no_grad():
        out = model(batch, lengths=torch.tensor([3, 5]))
        for h in handles:
            h.remove()
        alone = torch.cat([model(short)["embeddings"], model(full)["embeddings"]])
    assert out["embeddings"].shape == (2, model.embed_dim, 4)
    assert out["logits"].shape == (2, 5, 4)
    assert out["parts"].shape[0::2] == (2, 4)
    assert out["logits"].abs().max() <= 1 + 1e-5  # unscaled cosines
    torch.testing.assert_close(out["embeddings"], alone, rtol=1e-5, atol=1e-5)  # temporal max over valid frames
    assert set(seen) == set(model.tap_points())
    assert all((v < 0).any() for v in seen.values())  # pre-activations, not ReLU outputs
    assert model.spec.name == name and model.spec.num_classes == 5 and model.spec.parts == 4
    rebuilt = create_model(model.spec.name, **model.spec.kwargs)
    assert rebuilt.state_dict().keys() == model.state_dict().keys()


def test_gaitbase_state_dict_matches_opengait():
    ref = _reference_shapes()
    sd = create_model("gaitbase", num_classes=74).state_dict()
    assert list(sd) == list(ref)
    assert {k: tuple(v.shape) for k, v in sd.items()} == ref


def test_width_and_depth_multipliers():
    m = create_model("gaitbase_w025", num_classes=3)
    assert [m.Backbone.forward_block.layer1[0].conv1.out_channels, m.FCs.fc_bin.shape[1], m.embed_dim] == [16, 128, 64]
    assert len(create_model("gaitbase_d2", num_classes=3).Backbone.forward_block.layer3) == 2
    assert create_model("gaitbase_w025", num_classes=3, embed_dim=256).FCs.fc_bin.shape == (16, 128, 256)


def test_create_model_errors():
    with pytest.raises(GaitCompressError, match="gaitbase_w025"):
        create_model("gaitbase_w25", num_classes=3)
    with pytest.raises(GaitCompressError, match="width"):
        create_model("gaitbase", num_classes=3, widht=0.5)
    assert "gaitbase_w025" in list_models("gaitbase_w*")


def test_temporal_max_honours_lengths():
    x = torch.tensor([[1.0, -5.0, 9.0], [-3.0, -1.0, 0.0]]).view(2, 3, 1)  # [N, T, C]
    out = TemporalMaxPool()(x, torch.tensor([2, 2]))
    assert out.view(-1).tolist() == [1.0, -1.0]  # 9 and the 0 pad are past the lengths


def test_horizontal_pool_strips():
    x = torch.arange(2 * 4 * 3, dtype=torch.float32).view(1, 2, 4, 3)  # [N, C, H=4, W=3]
    out = HorizontalPool(parts=2)(x)  # strips: rows 0-1 and rows 2-3
    assert out[0, 0].tolist() == [2.5 + 5, 8.5 + 11]
    up = HorizontalPool(parts=8)(x)  # P = 2H: each row twice
    assert up[0, 0].tolist() == [1 + 2, 1 + 2, 4 + 5, 4 + 5, 7 + 8, 7 + 8, 10 + 11, 10 + 11]
    odd = HorizontalPool(parts=3)(x)  # adaptive bins
    assert odd.shape == (1, 2, 3)


def test_separate_fcs_is_per_part_matmul():
    fc = SeparateFCs(parts=3, in_channels=4, out_channels=2)
    x = torch.randn(5, 4, 3)
    out = fc(x)
    for p in range(3):
        torch.testing.assert_close(out[:, :, p], x[:, :, p] @ fc.fc_bin[p])
    # the same operator as a grouped 1×1 Conv1d (how quantizers and exporters may treat it)
    conv = torch.nn.Conv1d(3 * 4, 3 * 2, 1, groups=3, bias=False)
    conv.weight.data = fc.fc_bin.detach().transpose(1, 2).reshape(3 * 2, 4, 1)  # [P·Cout, Cin, 1]
    grouped = conv(x.permute(0, 2, 1).reshape(5, 3 * 4, 1))  # [N, P·Cin, 1] → [N, P·Cout, 1]
    torch.testing.assert_close(grouped.view(5, 3, 2).permute(0, 2, 1), out)


def test_bnneck_cosine_logits():
    neck = BNNeck(parts=2, channels=3, num_classes=4).eval()
    x = torch.randn(5, 3, 2)
    feat, logits = neck(x)
    bn = neck.bn1d(x.reshape(5, 6)).view(5, 3, 2)  # channel-major flattening
    f = torch.nn.functional.normalize(bn[:, :, 1], dim=1)
    w = torch.nn.functional.normalize(neck.fc_bin[1], dim=0)
    torch.testing.assert_close(logits[:, :, 1], f @ w)
    torch.testing.assert_close(feat.norm(dim=1), torch.ones(5, 2))


@pytest.mark.parametrize("name", ["gaitbase_w0125", "deepgait_p3d_w025"])
def test_learns_a_tiny_batch_with_the_opengait_losses(name):
    from gaitcompress.train.losses import LossSet

    torch.manual_seed(0)
    model = create_model(name, num_classes=4, parts=4)
    losses = LossSet.from_config({"triplet": {"margin": 0.2}, "ce": {"scale": 16, "label_smoothing": 0.1}})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    labels = torch.arange(4).repeat_interleave(2)  # P×K = 4×2
    sils = (torch.rand(4, 4, H, W) > 0.5).float().repeat_interleave(2, dim=0)  # one pattern per id
    sils = (sils + (torch.rand(8, 4, H, W) > 0.9).float()).clamp(max=1)  # per-sequence noise
    history = []
    for _ in range(12):
        total = sum(losses(model(sils), labels).values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert history[-1] < 0.6 * history[0], history
