"""The pipeline recipe: which stage recipes to chain, and what to export and benchmark.

    name: pipeline-synthgait-quick
    run_dir: runs/pipeline/synthgait-quick
    seed: 0
    overrides: [train.iterations=200]           # applied to every stage recipe that has the section
    teacher: {recipe: teacher_quick.yaml}        # or {checkpoint: path.pt, name: gaitbase} to skip training
    student: {recipe: distill_gaitkd.yaml}
    quantize: [{recipe: quant_qgait8.yaml}, {recipe: quant_qgait4.yaml}]
    export: {formats: [fp32, int8], placement: ort, frames: 30, verify: true}
    bench: {backends: [ort-cpu], frames: 30, rounds: 20}   # deploy_size: [64, 44], deploy_reference: gaitbase

Stage recipe paths are relative to the pipeline recipe. Every stage runs in `<run_dir>/<stage>`; the pipeline
wires each stage's input to the previous stage's output (teacher → `distill.teachers`, student → `quant.checkpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gaitcompress.errors import GaitCompressError, did_you_mean
from gaitcompress.export.cpu_int8 import check_int8_weights, check_stem
from gaitcompress.models import list_models


@dataclass(frozen=True)
class StageRef:
    recipe: str | None = None  # the stage's own recipe, relative to the pipeline recipe
    checkpoint: str | None = None  # use this gaitcompress (FP32 or QAT) / OpenGait checkpoint instead of training
    name: str | None = None  # model variant of an OpenGait checkpoint (it carries no spec)
    overrides: tuple[str, ...] = ()  # key.path=value for this stage only


@dataclass(frozen=True)
class ExportSection:
    formats: tuple[str, ...] = ("fp32", "int8")  # fp32 | fp16 for float models; int8 (QDQ) for QAT models
    placement: str = "ort"  # must match the QAT recipes' placement (trt | ort)
    frames: int = 30  # frames per sequence for accounting and parity inputs
    verify: bool = True  # parity against PyTorch on real test sequences
    rank1_tol: float = 0.2  # parity: largest allowed rank-1 gap between ONNX and PyTorch, in points
    opset: int = 17
    int8_weights: str = "auto"  # ort int8 conv weights: signed | unsigned | auto (this CPU's; see export.qdq)
    stem: str = "auto"  # ort int8 stem conv kernel: float | int8 | auto (int8 from 32 output channels)


@dataclass(frozen=True)
class BenchSection:
    backends: tuple[str, ...] = ("ort-cpu",)
    frames: int = 30
    batch: int = 1
    rounds: int = 20
    warmup: int = 3
    threads: int = 0
    # every model is also exported and timed at the size users deploy (None: only the training size), beside
    # an untrained full-width model as the reference a user would otherwise ship (None: no reference row)
    deploy_size: tuple[int, int] | None = (64, 44)
    deploy_frames: int = 30
    deploy_reference: str | None = "gaitbase"


@dataclass(frozen=True)
class ReportSection:
    tolerance: float = 1.0  # points of rank-1 the recommended model may lose against the teacher


@dataclass(frozen=True)
class PipelineRecipe:
    name: str = "pipeline"
    run_dir: str = "runs/pipeline"
    seed: int = 0
    source: str | None = None
    overrides: tuple[str, ...] = ()
    teacher: StageRef = field(default_factory=StageRef)
    student: StageRef | None = None
    quantize: tuple[StageRef, ...] = ()
    export: ExportSection | None = field(default_factory=ExportSection)
    bench: BenchSection | None = field(default_factory=BenchSection)
    report: ReportSection = field(default_factory=ReportSection)

    def check(self) -> None:
        """Fail before any training when the recipe cannot run to the end."""
        where = self.source or "pipeline recipe"
        if self.teacher.recipe is None and self.teacher.checkpoint is None:
            raise GaitCompressError(f"{where}: teacher needs `recipe` or `checkpoint`", "e.g. teacher: {recipe: ...}")
        for label, ref in [("student", self.student), *[(f"quantize[{i}]", q) for i, q in enumerate(self.quantize)]]:
            if ref is not None and ref.recipe is None and ref.checkpoint is None:
                raise GaitCompressError(
                    f"{where}: {label} has neither a recipe nor a checkpoint",
                    "give it `recipe: <stage recipe>.yaml` (trained) or `checkpoint: <file>.pt` (scored as given)",
                )
        if self.export is not None:
            check_int8_weights(self.export.int8_weights, f"{where}: export.int8_weights=")
            check_stem(self.export.stem, f"{where}: export.stem=")
        if self.quantize and self.student is None:
            raise GaitCompressError(f"{where}: quantize needs a student stage", "add student: {recipe: ...}")
        ref = self.bench.deploy_reference if self.bench is not None else None
        if ref is not None and ref not in list_models():
            raise GaitCompressError(
                f"{where}: bench.deploy_reference={ref} is not a registered model",
                did_you_mean(ref, list_models()) or "e.g. gaitbase, or null for no reference row",
            )
