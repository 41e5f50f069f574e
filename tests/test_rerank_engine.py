import torch

from gaitcompress.rerank.export import export_head
from gaitcompress.rerank.head import CarGaitHead
from gaitcompress.rerank.module import CarGaitModule
from gaitcompress.rerank.pairs import build_pair_set, pair_batches
from gaitcompress.rerank.stage import load_head
from gaitcompress.train.config import OptimConfig, SchedConfig, TrainConfig
from gaitcompress.train.engine import Trainer
from tests.test_rerank import _features


def test_engine_trains_and_saves_a_loadable_head(tmp_path):
    torch.manual_seed(0)
    pairs = build_pair_set(_features(), "parts", top_v=6)
    module = CarGaitModule(CarGaitHead(8, 4, heads=2), num_classes=6, hidden=16)
    trainer = Trainer(
        module,
        pair_batches(pairs, 4, seed=0),
        tmp_path,
        TrainConfig(iterations=3, log_every=1, tensorboard=False),
        OptimConfig(name="adam", lr=1e-2, weight_decay=0.0),
        SchedConfig(name="cosine"),
        meta={"recipe": {}, "kind": "rerank"},
    )
    trainer.fit()
    head = load_head(tmp_path)
    x, y = torch.rand(5, 4, 8), torch.rand(5, 4, 8)
    torch.testing.assert_close(head(x, y), module.head.eval()(x, y))
    assert not any(k.startswith("classifier") for k in head.state_dict())  # the classifier is not deployed


def test_onnx_export_parity(tmp_path):
    head = CarGaitHead(8, 4, heads=2)
    torch.nn.init.normal_(head.attn.out_proj.weight, std=0.5)
    report = export_head(head, tmp_path / "head.onnx", k=5)
    assert report["max_abs_diff"] < 1e-4 and report["same_order"]
    import onnx

    model = onnx.load(tmp_path / "head.onnx")
    assert [i.name for i in model.graph.input] == ["probe", "candidate"]
    assert [o.name for o in model.graph.output] == ["distance"]
