"""Routing: taps (hooks resolved at setup, removed on exit), part alignment, connectors, DistillModule contract."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gaitcompress.data.batch import Batch, SeqMeta
from gaitcompress.distill import DistillModule, FeatureTaps, TermConfig
from gaitcompress.errors import GaitCompressError


class TinyGait(nn.Module):
    """The model output contract in a few lines: embeddings/parts [N, C, P], unscaled cosine logits [N, K, P]."""

    def __init__(self, width: int = 4, parts: int = 4, classes: int = 3) -> None:
        super().__init__()
        self.parts = parts
        self.backbone = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.fc = nn.Conv1d(width, 2 * width, 1)
        self.classifier = nn.Parameter(torch.randn(2 * width, classes))

    def forward(self, sils: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        n, t, h, w = sils.shape
        x = self.backbone(sils.reshape(n * t, 1, h, w))  # [N·T, C, H, W]
        x = x.reshape(n, t, *x.shape[1:]).amax(1)  # [N, C, H, W]
        parts = F.adaptive_avg_pool2d(x, (self.parts, 1)).flatten(2)  # [N, C, P]
        emb = self.fc(parts)  # [N, 2C, P]
        logits = torch.einsum("ncp,ck->nkp", F.normalize(emb, dim=1), F.normalize(self.classifier, dim=0))
        return {"embeddings": emb, "logits": logits, "parts": parts}


class TaskLoss(nn.Module):
    def forward(self, out: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"ce": F.cross_entropy(16 * out["logits"], labels.unsqueeze(1).expand(-1, out["logits"].shape[2]))}


def _batch(n: int = 6) -> Batch:
    g = torch.Generator().manual_seed(0)
    sils = (torch.rand(n, 3, 16, 11, generator=g) > 0.5).float()
    labels = torch.arange(n) % 3
    return Batch(sils, labels, torch.full((n,), 3), [SeqMeta(str(i), "nm-01", "000") for i in range(n)])


def _module(terms: list[TermConfig], student: nn.Module | None = None, teachers: int = 1) -> DistillModule:
    torch.manual_seed(0)
    student = student or TinyGait(width=2, parts=2)
    return DistillModule(
        student, [TinyGait(width=4, parts=4) for _ in range(teachers)], TaskLoss(), terms, _batch().sils
    )


def test_feature_taps_capture_pre_activation_and_remove_hooks() -> None:
    model = TinyGait()
    taps = FeatureTaps(model, ["backbone.2", "backbone.1"])
    with taps as feats:
        model(_batch().sils)
    assert torch.equal(F.relu(feats["backbone.2"]), F.relu(feats["backbone.1"]))  # ReLU tap = its input
    assert (feats["backbone.2"] < 0).any()  # the pre-activation, not the output
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_feature_taps_fail_at_setup_with_nearest_path() -> None:
    with pytest.raises(GaitCompressError, match="backbone.2"):
        FeatureTaps(TinyGait(), ["backbone.3"])


def test_heterogeneous_widths_and_parts_get_connectors_and_alignment() -> None:
    terms = [
        TermConfig("part_logit_kd", student="logits"),
        TermConfig("ab", weight=0.003, student="embeddings"),
        TermConfig("feat_mse", student="backbone.2"),
        TermConfig("idd", student="embeddings", weight=2.0),
    ]
    module = _module(terms)
    ab, maps, idd = module.terms[1], module.terms[2], module.terms[3]
    assert ab.size == (2,) and ab.connector.fc_bin.shape == (2, 4, 8)  # 4 teacher parts pooled to the student's 2
    assert isinstance(maps.connector, nn.Conv2d) and maps.connector.weight.shape[:2] == (4, 2)
    assert idd.connector is None  # relation losses compare each model with itself
    losses = module.training_losses(_batch())
    assert set(losses) == {"ce", "part_logit_kd", "ab", "feat_mse", "idd"}
    sum(losses.values()).backward()
    assert ab.connector.fc_bin.grad is not None and module.student.fc.weight.grad is not None
    assert all(p.grad is None for t in module.teachers for p in t.parameters())
    assert "0.003·ab(embeddings via SeparateFCs)" in repr(module)


def test_teachers_stay_eval_and_out_of_state_dict() -> None:
    module = _module([TermConfig("ab", student="embeddings")], teachers=2)
    module.train()
    assert all(not t.training for t in module.teachers)
    keys = module.state_dict().keys()
    assert any(k.startswith("terms.") for k in keys) and any(k.startswith("student.") for k in keys)
    assert not any("teacher" in k for k in keys)
    assert set(module.training_losses(_batch())) == {"ce", "ab@t0", "ab@t1"}
    deployed = module.deploy_model().state_dict().keys()
    assert deployed == TinyGait(width=2, parts=2).state_dict().keys()  # no connector keys in the student


def test_dry_run_leaves_student_batchnorm_untouched() -> None:
    student = TinyGait(width=2, parts=2)
    before = student.backbone[1].running_mean.clone()
    _module([TermConfig("ab")], student=student)
    assert torch.equal(student.backbone[1].running_mean, before)


def test_bad_routing_fails_at_setup() -> None:
    with pytest.raises(GaitCompressError, match="no module"):
        _module([TermConfig("feat_mse", student="backbone.9")])
    with pytest.raises(GaitCompressError, match="connector is 'none'"):
        _module([TermConfig("feat_mse", connector="none")])
    with pytest.raises(GaitCompressError, match="duplicate"):
        _module([TermConfig("ab"), TermConfig("ab")])
    with pytest.raises(GaitCompressError, match="classes"):
        DistillModule(
            TinyGait(classes=3), [TinyGait(classes=5)], TaskLoss(), [TermConfig("dkd", student="logits")], _batch().sils
        )


def test_progress_schedule_advances_with_steps() -> None:
    module = DistillModule(
        TinyGait(2, 2), [TinyGait(4, 4)], TaskLoss(), [TermConfig("face_instance")], _batch().sils, total_iterations=4
    )
    module.train()
    for _ in range(3):
        module.training_losses(_batch())
    assert module.terms[0].loss.progress == pytest.approx(0.5) and int(module.step) == 3


def test_heterogeneous_families_and_real_tap_points() -> None:
    """A P3D (DeepGaitV2-like) teacher teaching an eighth-width GaitBase: output taps across families, and a
    GaitBase block's pre-activation read through the model's own tap_points()."""
    from gaitcompress.models import create_model

    torch.manual_seed(0)
    student = create_model("gaitbase_w0125", num_classes=3, parts=8)
    teacher = create_model("deepgait_p3d_w025", num_classes=3)
    layer3 = student.tap_points()["layer3"]
    terms = [
        TermConfig("part_logit_kd", student="logits"),
        TermConfig("ab", weight=0.003),
        TermConfig(
            "feat_mse", student=layer3, teacher=create_model("gaitbase_w025", num_classes=3).tap_points()["layer3"]
        ),
    ]
    module = DistillModule(student, [teacher], TaskLoss(), terms[:2], _batch().sils)
    assert module.terms[1].size == (8,)  # the teacher's 16 strips pooled to the student's 8
    losses = module.training_losses(_batch())
    assert set(losses) == {"ce", "part_logit_kd", "ab"} and all(torch.isfinite(v) for v in losses.values())
    same_family = DistillModule(
        create_model("gaitbase_w0125", num_classes=3), [create_model("gaitbase_w025", num_classes=3)], TaskLoss(),
        terms[2:], _batch().sils,
    )  # fmt: skip
    assert isinstance(same_family.terms[0].connector, nn.Conv2d)  # per-frame maps [N·T, C, h, w]: 32 → 64 channels
    assert float(same_family.training_losses(_batch())["feat_mse"].detach()) > 0
