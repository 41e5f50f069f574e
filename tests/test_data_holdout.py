"""`data.val_ids` / `eval.split`: held-out training ids never reach a training batch, and the validation
evaluation scores only them, on an OpenGait-layout root and on generated SynthGait alike."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gaitcompress.data import DataConfig, build_test_loader, build_train_loader, num_classes, train_ids
from gaitcompress.data.batch import SeqMeta
from gaitcompress.data.loader import load_index
from gaitcompress.data.synthgait import SynthConfig
from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation import extract
from gaitcompress.synth.sample import write_dataset
from gaitcompress.train.config import parse_recipe
from gaitcompress.train.stage import dataset_info

TYPES = ("nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "bg-01", "cl-01")  # CASIA-B gallery + one probe each


@pytest.fixture()
def root(tmp_path):
    """ids 001..005 train, 006 test; every id a distinct box so it is recognisable."""
    ids = [f"{i:03d}" for i in range(1, 7)]
    meta = [SeqMeta(i, t, v) for i in ids for t in TYPES for v in ("000", "090")]
    frames = np.zeros((len(meta), 6, 64, 64), np.uint8)
    for n, m in enumerate(meta):
        frames[n, :, 10 + 5 * int(m.id) : 40 + 3 * int(m.id), 25:39] = 255
    write_dataset(tmp_path / "og", frames, meta)
    (tmp_path / "og/partition.json").write_text(json.dumps({"TRAIN_SET": ids[:5], "TEST_SET": ids[5:]}))
    return tmp_path / "og"


def _cfg(root, **kw):
    return DataConfig(root=str(root), input_size=(16, 11), train_frames=4, batch_p=2, batch_k=2, test_batch=8, **kw)


def _ids(loader):
    return {m.id for b in loader for m in b.meta}


def test_val_ids_never_appear_in_training_batches(root):
    cfg = _cfg(root, val_ids=2)
    assert train_ids(cfg) == ["001", "002", "003"] and num_classes(cfg) == 3
    batches = build_train_loader(cfg, seed=0)
    seen = {m.id for _ in range(60) for m in next(batches).meta}
    assert seen == {"001", "002", "003"}  # 60 batches of 2 ids cover the three and never 004/005
    assert _ids(build_test_loader(cfg, split="train")) == {"001", "002", "003"}
    assert _ids(build_test_loader(cfg, split="val")) == {"004", "005"}
    assert len(load_index(cfg).val) == 2 * len(TYPES) * 2  # every sequence of the held-out ids
    assert _ids(build_test_loader(cfg, split="test")) == {"006"}  # the test split is untouched


def test_default_is_unchanged_and_mistakes_name_the_fix(root):
    cfg = _cfg(root)
    assert train_ids(cfg) == ["001", "002", "003", "004", "005"] and not load_index(cfg).val
    with pytest.raises(GaitCompressError, match="data.val_ids=N"):
        build_test_loader(cfg, split="val")
    with pytest.raises(GaitCompressError, match="every one of the 5"):
        train_ids(_cfg(root, val_ids=5))
    with pytest.raises(GaitCompressError, match="negative"):
        _cfg(root, val_ids=-1)
    with pytest.raises(GaitCompressError, match="data.val_ids is 0"):
        parse_recipe({"data": {"root": str(root)}, "eval": {"split": "val"}})
    with pytest.raises(GaitCompressError, match="eval.split"):
        parse_recipe({"data": {"root": str(root), "val_ids": 1}, "eval": {"split": "dev"}})


class _BoxModel(torch.nn.Module):
    """Embeds a sequence by its mean silhouette: identities (distinct boxes) separate perfectly."""

    def forward(self, sils, lengths=None):
        return {"embeddings": sils.mean(1).flatten(1)[:, :, None].repeat(1, 1, 2)}


def test_val_evaluation_scores_only_the_held_out_ids(root, monkeypatch):
    seen: list[set[str]] = []
    real = extract.extract_features

    def spy(model, loader, *args, **kwargs):
        features = real(model, loader, *args, **kwargs)
        seen.append({m.id for m in features.meta})
        return features

    monkeypatch.setattr(extract, "extract_features", spy)
    cfg = _cfg(root, val_ids=2)
    val = extract.evaluate_model(_BoxModel(), cfg, "casiab", split="val")
    test = extract.evaluate_model(_BoxModel(), cfg, "casiab")
    assert seen == [{"004", "005"}, {"006"}]
    assert val.metrics["NM@R1"] == 100.0 and "CL@R1" in val.metrics and "NM@R1" in test.metrics
    with pytest.raises(GaitCompressError, match="PROBE_SET names test sequences"):
        extract.evaluate_model(_BoxModel(), cfg, "gait3d", split="val")


def test_synthgait_holds_out_its_last_training_ids(tmp_path, monkeypatch):
    monkeypatch.setenv("GAITCOMPRESS_DATA", str(tmp_path))
    synth = SynthConfig(ids=4, train=3, frames=6, views=(0, 90), nm=2, bg=1, cl=1)
    cfg = DataConfig(synth=synth, input_size=(16, 11), train_frames=4, batch_p=2, batch_k=2, val_ids=1)
    assert train_ids(cfg) == ["001", "002"]
    assert _ids(build_test_loader(cfg, split="val")) == {"003"} and _ids(build_test_loader(cfg)) == {"004"}
    info = dataset_info(cfg, "val")
    assert info["ids"] == [2, 1] and info["val_ids"] == ["003"] and info["split"] == "val"
    assert "val_ids" not in dataset_info(DataConfig(synth=synth))  # the default block is as before
