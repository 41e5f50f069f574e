"""The `export` stage: a checkpoint in, a validated ONNX (+ cost, parity, TensorRT recipe) out.

`export_checkpoint(path, ExportConfig(...))`:
1. loads the checkpoint (FP32 from train/distill, QAT from quantize — `gaitcompress.checkpoints.load_model`);
   `fp32`/`fp16` need an FP32 model, `int8` a QAT one, whose placement (`trt`/`ort`) was fixed at QAT time;
2. exports `<name>_<bits>[_<placement>].onnx` (atomic, checked, metadata: family, name, bits, placement,
   input spec, the checkpoint's accuracy, gaitcompress version) at the checkpoint's input size;
3. costs it (`bitops_report` at `frames` frames) and, for INT8, counts the integer kernels onnxruntime fuses;
4. with `verify`, scores PyTorch and the graph on the test set of the checkpoint's recipe (`verify_export`);
5. writes the equivalent `trtexec` / `polygraphy` commands beside the ONNX, and with `trt` builds the engine;
6. writes `export.json` (results schema) into the output folder.
A failed parity raises `ParityError` after everything is written, so the user can inspect the files
(`strict=False`: it is returned in the result instead).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from gaitcompress.errors import GaitCompressError
from gaitcompress.export.cpu_int8 import check_int8_weights, check_stem
from gaitcompress.export.onnx_export import (
    DEFAULT_OPSET,
    InputSpec,
    check_opset,
    check_writable,
    export_onnx,
    update_metadata,
)
from gaitcompress.export.parity import ParityReport, verify_export
from gaitcompress.export.qdq import PLACEMENTS, export_qdq
from gaitcompress.progress import NULL, Tracker
from gaitcompress.quant.cost import BitopsReport, bitops_report

FORMATS = ("fp32", "fp16", "int8")


class ParityError(GaitCompressError):
    """The exported graph disagrees with the PyTorch model (the report says where)."""


@dataclass(frozen=True)
class ExportConfig:
    format: str = "fp32"  # fp32 | fp16 | int8 (int8 needs a QAT checkpoint)
    placement: str | None = None  # int8 only; must match the QAT checkpoint's (default: the checkpoint's)
    out: str | None = None  # output folder (default: <checkpoint folder>/export)
    frames: int = 30  # frames per sequence for tracing, the cost figures and --verify (test clips cut to it)
    opset: int = DEFAULT_OPSET
    parts: bool = False  # also output `parts` (strip features, what CarGait re-ranking reads)
    verify: bool = False  # parity against PyTorch on the recipe's test set
    trt: bool = False  # build a TensorRT engine here (needs the tensorrt package)
    name: str | None = None  # model variant of an OpenGait checkpoint (which carries no spec)
    rank1_tol: float = 0.2  # parity: largest allowed rank-1 gap, in points
    data: dict[str, Any] | None = None  # the data section to verify on, instead of the checkpoint's recipe's
    int8_weights: str = "auto"  # ort int8: signed | unsigned conv weights; auto = this CPU's exact, fast one (qdq)
    stem: str = "auto"  # ort int8: the stem conv in float | int8; auto = int8 from 32 channels (qdq)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise GaitCompressError(f"unknown export format {self.format!r}", f"use one of {', '.join(FORMATS)}")
        if self.placement is not None and self.placement not in PLACEMENTS:
            raise GaitCompressError(f"unknown placement {self.placement!r}", f"use one of {', '.join(PLACEMENTS)}")
        if self.placement is not None and self.format != "int8":
            raise GaitCompressError("--placement applies to int8 exports only", "drop it, or pass --format int8")
        if self.frames < 1:
            raise GaitCompressError(f"--frames {self.frames} must be at least 1")
        check_opset(self.opset, self.format)
        check_int8_weights(self.int8_weights, "--int8-weights ")
        check_stem(self.stem, "--stem ")


@dataclass
class ExportResult:
    onnx: Path
    metadata: dict[str, Any]
    cost: BitopsReport
    fused: dict[str, int]
    commands: Path
    engine: Path | None
    parity: ParityReport | None
    results: Path


def _load(path: Path, name: str | None) -> tuple[nn.Module, dict[str, Any]]:
    """The model and its raw checkpoint dict; anything that is not a gait model is a clear error."""
    from gaitcompress.checkpoints import load, load_model, resolve_checkpoint
    from gaitcompress.models import list_models

    path = resolve_checkpoint(path)  # missing file → GaitCompressError naming it
    ckpt = load(path)
    hint = "export takes checkpoints written by train, distill or quantize (or OpenGait GaitBase weights)"
    spec = ckpt.get("spec")
    if isinstance(spec, dict) and spec.get("name") not in list_models():
        raise GaitCompressError(
            f"{path} holds a {spec.get('family') or spec.get('name')!r} model, not a gait recognition model", hint
        )
    try:
        model = load_model(path, name=name)
    except GaitCompressError as exc:
        raise GaitCompressError(f"{path}: not an exportable gait model ({exc.message})", exc.hint or hint) from None
    if not getattr(model, "spec", None):
        raise GaitCompressError(f"{path}: the model has no spec (family, name)", hint)
    return model, ckpt


def _data_config(ckpt: dict[str, Any], data: dict[str, Any] | None, checkpoint: Path, verify: bool):
    """The data the checkpoint is verified on: `data` when given, else its own recipe's.

    A checkpoint without a recipe (OpenGait's) names no dataset: verifying it on the default SynthGait would
    score it on data it never saw, so that is an error; without `verify` only the input size is read (64×44).
    """
    from gaitcompress.data import DataConfig
    from gaitcompress.recipe import from_dict

    if data is not None:
        return from_dict(DataConfig, data, "export data section")
    section = (ckpt.get("recipe") or {}).get("data")
    if section is None and verify:
        raise GaitCompressError(
            f"{checkpoint} carries no recipe, so it names no dataset to verify it on",
            "verify it through `gaitcompress pipeline` with the data in --all data.root=…, or drop --verify",
        )
    return from_dict(DataConfig, section, f"{checkpoint}: recipe data")


def _check_trt_available() -> None:
    from gaitcompress.export.tensorrt_builder import BuildError, import_tensorrt

    try:
        import_tensorrt()
    except BuildError as exc:
        raise GaitCompressError(
            str(exc), "export without --trt here and run export/build_trt_engine.py on the GPU machine"
        ) from None


def export_checkpoint(
    checkpoint: str | Path,
    cfg: ExportConfig,
    tracker: Tracker = NULL,
    strict: bool = True,
    known_metrics: dict[str, float] | None = None,
) -> ExportResult:
    """Run the export stage (see the module docstring); returns what it wrote.

    `strict=False` returns a failed parity in `result.parity` instead of raising `ParityError` (reports that
    record every export, failed or not). `known_metrics`: the model's score on `cfg.data`'s test set at its
    own clip length, by the caller (the pipeline scored a given checkpoint); else the checkpoint's own final
    score is used when its recipe's data is what the export verifies on.
    """
    from gaitcompress import __version__
    from gaitcompress.export import tensorrt_builder as tb
    from gaitcompress.export.runtime import fused_integer_nodes
    from gaitcompress.results import make_results, summarize, write_results

    if cfg.trt:
        _check_trt_available()
    model, ckpt = _load(Path(checkpoint), cfg.name)
    qat = ckpt.get("kind") == "qat"
    if qat != (cfg.format == "int8"):
        raise GaitCompressError(
            f"{checkpoint} is {'a QAT' if qat else 'an FP32'} checkpoint; --format {cfg.format} needs "
            f"{'a QAT one' if cfg.format == 'int8' else 'an FP32 one'}",
            "int8 exports come from `gaitcompress quantize` checkpoints; fp32/fp16 from train/distill ones",
        )
    placement = (ckpt.get("qconfig") or {}).get("placement") if qat else None
    if cfg.placement and placement and cfg.placement != placement:
        raise GaitCompressError(
            f"{checkpoint} was quantized for the {placement!r} placement, not {cfg.placement!r}",
            "the placement decides which quantizers exist: re-run quantize with quant.placement=" + cfg.placement,
        )
    # every export is scored on the same clip length, whatever its training recipe evaluated with (the QAT recipes
    # evaluate on 16 frames to save time; an FP32 model scored on 30 would look ~6 points better for no reason)
    own = _data_config(ckpt, cfg.data, Path(checkpoint), cfg.verify)
    data_cfg = replace(own, test_max_frames=cfg.frames)
    # the stage scored this very model on this very test set at its end: that score is reused, not recomputed
    known = known_metrics if cfg.data is not None else ckpt.get("metrics")
    known = known if own == data_cfg and known else None
    spec = InputSpec(*data_cfg.input_size, frames=cfg.frames)
    out = check_writable(Path(cfg.out) if cfg.out else Path(checkpoint).resolve().parent / "export")

    with tracker.task("costing", 1) as step:
        cost = bitops_report(model, cfg.frames, tuple(data_cfg.input_size))
        step(1)
    bits = cfg.format if cfg.format != "int8" else cost.bits
    stem = "_".join(filter(None, [model.spec.name, bits, placement]))
    meta = {
        "family": model.spec.family,
        "name": model.spec.name,
        "bits": bits,
        "placement": placement or "",
        "accuracy": {k: round(v, 2) for k, v in (ckpt.get("metrics") or {}).items()},
        "accuracy_source": f"PyTorch on the {data_cfg.dataset} test set of the checkpoint's recipe",
        "checkpoint": str(checkpoint),
        "gaitcompress": __version__,
        "bitops": cost.as_cost(),
    }
    outputs = ("embeddings", "parts") if cfg.parts else ("embeddings",)
    with tracker.task(f"exporting {stem}.onnx", 1) as step:
        if qat:
            onnx_path = export_qdq(model, out / f"{stem}.onnx", placement, spec, outputs, cfg.opset, meta,
                                   int8_weights=cfg.int8_weights, stem=cfg.stem)  # fmt: skip
        else:
            onnx_path = export_onnx(model, out / f"{stem}.onnx", cfg.format, spec, outputs, cfg.opset, meta)
        step(1)
    fused = fused_integer_nodes(onnx_path) if qat else {}

    profile = tb.Profile(frames=(1, cfg.frames, max(cfg.frames, 128)), height=spec.height, width=spec.width)
    engine = onnx_path.with_suffix(".engine")
    commands = tb.write_commands(engine, tb.commands(onnx_path, engine, cfg.format, 10, profile))
    built = tb.build_engine(onnx_path, engine, cfg.format, profile) if cfg.trt else None

    parity = None
    if cfg.verify:
        parity = verify_export(model, onnx_path, data_cfg, cfg.format, tracker, cfg.rank1_tol, placement=placement,
                               known_metrics=known)  # fmt: skip
        meta["accuracy_onnx"] = {k: round(v, 2) for k, v in parity.onnx_metrics.items()}
        update_metadata(onnx_path, {"accuracy_onnx": meta["accuracy_onnx"]})
    row = {
        "method": "export",
        "label": f"{onnx_path.name} ({cfg.format}{', ' + placement if placement else ''})",
        "model": model.spec.name,
        "bits": bits,
        "metrics": {},
        "cost": cost.as_cost(),
        "export": {"onnx": str(onnx_path), "fused": fused, "opset": cfg.opset, "parity": parity and parity.to_dict()},
    }
    if parity is not None:
        for side, metrics in (("torch", parity.torch_metrics), ("onnx", parity.onnx_metrics)):
            row["metrics"].update({f"{side} {k}": summarize([v]) for k, v in metrics.items() if k.endswith("R1")})
    dataset = {"name": data_cfg.dataset, "input": list(data_cfg.input_size), "frames": cfg.frames}
    results = write_results(make_results(f"export-{stem}", [row], dataset), out / "export.json")
    result = ExportResult(onnx_path, meta, cost, fused, commands, built, parity, results)
    if strict and parity is not None and not parity.passed:
        raise ParityError(f"parity failed for {onnx_path}: {parity.reason()}", f"both sides' metrics are in {results}")
    return result
