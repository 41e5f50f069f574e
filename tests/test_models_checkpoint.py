"""Checkpoint import: OpenGait layout round-trip, prefix/teacher stripping, clear errors."""

from __future__ import annotations

import pytest
import torch

from gaitcompress.errors import GaitCompressError
from gaitcompress.models import create_model
from gaitcompress.models.weights import load_checkpoint, load_weights, save_opengait

H, W = 16, 11


def _embeddings(model: torch.nn.Module, sils: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(sils)["embeddings"]


def _trained_like(name: str, num_classes: int, **kw) -> torch.nn.Module:
    """A model whose BN statistics and weights are not at their init values."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes, **kw)
    with torch.no_grad():
        model.train()(torch.rand(4, 3, H, W))  # moves BN running stats
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model.eval()


def test_opengait_round_trip_identical_embeddings(tmp_path):
    model = _trained_like("gaitbase_w025", num_classes=7)
    path = save_opengait(model, tmp_path / "GaitBase-1000.pt")
    saved = torch.load(path, weights_only=True)
    assert set(saved) == {"model"} and "FCs.fc_bin" in saved["model"]
    loaded = load_checkpoint(path, name="gaitbase_w025")
    assert loaded.spec.num_classes == 7 and loaded.spec.parts == 16  # inferred from BNNecks.fc_bin
    sils = torch.rand(2, 4, H, W)
    assert torch.equal(_embeddings(loaded, sils), _embeddings(model, sils))


def test_opengait_full_layout_with_prefix_and_teacher(tmp_path):
    model = _trained_like("gaitbase_w0125", num_classes=5, parts=8)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    state["teacher.Backbone.conv.weight"] = torch.zeros(3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[20000, 40000, 50000], gamma=0.1)
    ckpt = {
        "model": state,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "iteration": 60000,
    }
    torch.save(ckpt, tmp_path / "opengait.pt")
    loaded = load_checkpoint(tmp_path / "opengait.pt", name="gaitbase_w0125")
    assert loaded.spec.parts == 8 and loaded.spec.num_classes == 5
    sils = torch.rand(1, 3, H, W)
    assert torch.equal(_embeddings(loaded, sils), _embeddings(model, sils))


def test_gaitcompress_checkpoint_uses_spec(tmp_path):
    from gaitcompress.recipe import to_dict

    model = _trained_like("deepgait_p3d_w025", num_classes=4, parts=4)
    torch.save({"model": model.state_dict(), "spec": to_dict(model.spec), "kind": "fp32"}, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded.spec == model.spec
    sils = torch.rand(1, 3, H, W)
    assert torch.equal(_embeddings(loaded, sils), _embeddings(model, sils))
    with pytest.raises(GaitCompressError, match="deepgait_p3d"):
        load_checkpoint(tmp_path / "c.pt", name="gaitbase_w025")  # wrong family


def test_class_count_mismatch_names_key_and_shapes(tmp_path):
    save_opengait(create_model("gaitbase_w0125", num_classes=6), tmp_path / "m.pt")
    with pytest.raises(GaitCompressError) as exc:
        load_checkpoint(tmp_path / "m.pt", name="gaitbase_w0125", num_classes=9)
    msg = str(exc.value)
    assert "class count" in msg and "BNNecks.fc_bin" in msg and "[16, 32, 6]" in msg and "[16, 32, 9]" in msg


def test_part_count_mismatch_names_key_and_shapes():
    src = create_model("gaitbase_w0125", num_classes=6, parts=8)
    dst = create_model("gaitbase_w0125", num_classes=6, parts=16)
    with pytest.raises(GaitCompressError) as exc:
        load_weights(dst, src.state_dict())
    assert "part count" in str(exc.value) and "FCs.fc_bin" in str(exc.value) and "[8, 64, 32]" in str(exc.value)


def test_wrong_variant_is_explained(tmp_path):
    save_opengait(create_model("gaitbase_w0125", num_classes=6), tmp_path / "m.pt")
    with pytest.raises(GaitCompressError, match="mismatch at 'Backbone.forward_block.conv1.conv.weight'"):
        load_checkpoint(tmp_path / "m.pt", name="gaitbase_w025")
    with pytest.raises(GaitCompressError, match="missing keys"):
        load_checkpoint(tmp_path / "m.pt", name="deepgait_p3d_w025")


def test_bad_files(tmp_path):
    with pytest.raises(GaitCompressError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(GaitCompressError, match="not a PyTorch weights file"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"iteration": 3, "notes": "x"}, tmp_path / "empty.pt")
    with pytest.raises(GaitCompressError, match="no model weights"):
        load_checkpoint(tmp_path / "empty.pt")
    torch.save({"model": {}, "kind": "qat"}, tmp_path / "qat.pt")
    with pytest.raises(GaitCompressError, match="is a QAT checkpoint"):
        load_checkpoint(tmp_path / "qat.pt")


def test_opengait_embedding_width_is_inferred(tmp_path):
    model = _trained_like("gaitbase_w0125", num_classes=5, embed_dim=48)
    save_opengait(model, tmp_path / "m.pt")
    loaded = load_checkpoint(tmp_path / "m.pt", name="gaitbase_w0125")
    assert loaded.embed_dim == 48
    sils = torch.rand(1, 3, H, W)
    assert torch.equal(_embeddings(loaded, sils), _embeddings(model, sils))


def test_opengait_layout_student_loads_without_a_name(tmp_path):
    model = _trained_like("gaitbase_w025_d2", num_classes=5)
    save_opengait(model, tmp_path / "m.pt")
    loaded = load_checkpoint(tmp_path / "m.pt")  # width 0.25 and 2 blocks per stage read from the weights
    assert loaded.spec.name == "gaitbase" and loaded.spec.kwargs["width"] == 0.25
    assert loaded.spec.kwargs["layers"] == (2, 2, 2, 2)
    sils = torch.rand(1, 3, H, W)
    assert torch.equal(_embeddings(loaded, sils), _embeddings(model, sils))
    full = load_checkpoint(tmp_path / "m.pt", name="gaitbase_w025_d2")
    assert torch.equal(_embeddings(full, sils), _embeddings(model, sils))
