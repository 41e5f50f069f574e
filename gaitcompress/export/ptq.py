"""Post-training quantization baseline: onnxruntime static quantization of the FP32 model's ONNX export.

1. Export the FP32 model with `gaitcompress.export.onnx_export.export_onnx` (BN folded, dynamic N and T).
2. `onnxruntime.quantization.quantize_static` in QDQ format: weights int8 per output channel, activations uint8
   (asymmetric, onnxruntime's CPU default) or int8, MinMax calibration over `calib_batches` training batches
   (a `CalibrationDataReader` over the recipe's training loader, so calibration sees the training distribution).
3. Score the INT8 graph on the test set with the same protocol as every other row, running it in onnxruntime
   (`OrtGaitModel`: one sequence per run over its valid frames, the graph's test-time convention).
No training: this is what "quantize the trained model and ship it" gives, the row QAT must beat.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaitcompress import checkpoints as ckpt_io
from gaitcompress.data import build_train_loader, num_classes
from gaitcompress.data.batch import Batch
from gaitcompress.evaluation import evaluate_model
from gaitcompress.export.onnx_export import INPUT, InputSpec, export_onnx
from gaitcompress.export.runtime import make_session
from gaitcompress.models import load_checkpoint
from gaitcompress.progress import NULL, Tracker
from gaitcompress.quant.cost import bitops_report
from gaitcompress.train.config import TrainRecipe


class TrainCalibration:
    """`onnxruntime.quantization.CalibrationDataReader` over `batches` training batches `{'sils': [N, T, H, W]}`."""

    def __init__(self, loader: Iterator[Batch], batches: int) -> None:
        self._feeds = iter([{INPUT: next(loader).sils.numpy()} for _ in range(batches)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # onnxruntime calls it between calibration passes; one pass suffices for MinMax
        pass


class OrtGaitModel:
    """An onnxruntime session as a gait model: `model(sils, lengths) -> {'embeddings'}` for `evaluate_model`.

    Each row runs alone over its `lengths[i]` valid frames (the exported graph maxes over every frame it gets).
    """

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        self.session = make_session(path, "cpu", threads)

    def __call__(self, sils: torch.Tensor, lengths: torch.Tensor | None = None) -> Mapping[str, torch.Tensor]:
        n, t = sils.shape[:2]
        lengths = lengths if lengths is not None else torch.full((n,), t)
        rows = [
            self.session.run(["embeddings"], {INPUT: sils[i : i + 1, : int(lengths[i])].numpy()})[0] for i in range(n)
        ]
        return {"embeddings": torch.from_numpy(np.concatenate(rows))}  # [N, C, P]


def quantize_onnx_static(
    fp32_onnx: str | Path, out: str | Path, calibration: TrainCalibration, activation: str = "uint8"
) -> Path:
    """QDQ static quantization (per-channel int8 weights, MinMax-calibrated activations) of an FP32 ONNX file."""
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process, quantize_static

    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_onnx), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            calibration,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8 if activation == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
    return out


def run_ptq(
    cfg: TrainRecipe,
    checkpoint: str | Path,
    work_dir: str | Path,
    calib_batches: int = 8,
    tracker: Tracker = NULL,
    score_fp32: bool = True,
) -> dict[str, Any]:
    """PTQ-8 of `checkpoint`: returns `{'metrics', 'metrics_fp32_onnx', 'cost', 'onnx', 'wall_s'}`.

    With `score_fp32` the FP32 ONNX graph is scored too, so a table can separate what the export costs from what
    PTQ costs (`metrics_fp32_onnx` is empty otherwise).
    """
    tic = time.perf_counter()
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    ckpt_io.seed_everything(cfg.seed)
    model = load_checkpoint(ckpt_io.resolve_checkpoint(checkpoint), None, num_classes(cfg.data))
    h, w = cfg.data.input_size
    spec = InputSpec(height=h, width=w, frames=cfg.data.train_frames)
    fp32_path = export_onnx(model, work_dir / "fp32.onnx", "fp32", spec)
    loader = build_train_loader(cfg.data, seed=cfg.seed)
    int8_path = quantize_onnx_static(fp32_path, work_dir / "ptq_int8.onnx", TrainCalibration(loader, calib_batches))
    results: dict[str, dict[str, float]] = {"fp32_onnx": {}}
    for name, path in (("fp32_onnx", fp32_path), ("int8", int8_path)):
        if name == "fp32_onnx" and not score_fp32:
            continue
        res = evaluate_model(
            OrtGaitModel(path), cfg.data, cfg.eval.protocol, tracker, metric=cfg.eval.metric, split=cfg.eval.split
        )
        results[name] = dict(res.metrics)
    cost = bitops_report(model, cfg.data.train_frames, (h, w)).as_cost()
    cost["bitops"] = round(cost["macs"] * 8 * 8 / 1024)  # every conv and the part FC (MatMul) run int8 × int8
    return {
        "metrics": results["int8"],
        "metrics_fp32_onnx": results["fp32_onnx"],
        "cost": cost,
        "onnx": str(int8_path),
        "model": model.spec.name,
        "wall_s": time.perf_counter() - tic,
    }
