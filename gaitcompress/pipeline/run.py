"""Run the pipeline: each stage's recipe resolved once, keyed, skipped when done, resumed when interrupted.

Stage order: teacher → student (GaitKD) → each QAT preset → export → export at deployment size → bench →
report. Every stage's key covers its resolved recipe and the keys of the stages it reads from
(`cache.stage_key`), so editing one stage re-runs it and everything downstream, and nothing upstream. A stage
whose recorded outputs are gone from disk is not up to date: it runs again. `redo` names a stage to re-run, with
everything after it.

Stages hand each other a `ModelStage` (checkpoint path, metrics file, the data section it was scored on),
never recipe text: the student's teacher and the QAT stages' FP32 model are set as values in their recipes.
Any model stage may be given a `checkpoint` instead of training one (the user's own model, or committed
checkpoints for a deterministic CI gate): it is scored, not trained, on its stage recipe's data.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gaitcompress.distill.config import DistillRecipe
from gaitcompress.errors import GaitCompressError, did_you_mean
from gaitcompress.harness import RunLock
from gaitcompress.pipeline.cache import StageCache, stage_key
from gaitcompress.pipeline.config import PipelineRecipe, StageRef
from gaitcompress.progress import NULL, Tracker
from gaitcompress.quant.qat import QuantRecipe
from gaitcompress.recipe import apply_overrides, from_dict, load_recipe, save_recipe
from gaitcompress.train.config import TrainRecipe

Log = Callable[[str], None]
ONNX_KEYS = ("NM@R1", "BG@R1", "CL@R1", "mean@R1", "R1", "mAP")  # deployed-model metrics carried into the report
RECIPE_TYPES = {"teacher": TrainRecipe, "student": DistillRecipe, "quant": QuantRecipe}
NOT_EVALUATED = ("distill", "quant")  # sections a given checkpoint's scoring recipe drops


def sections(kind: str) -> set[str]:
    """Top-level recipe keys a stage of `kind` (teacher | student | quant) understands."""
    return {f.name for f in dataclasses.fields(RECIPE_TYPES[kind])} | {"base", "source", "method", "name"}


@dataclasses.dataclass(frozen=True)
class ModelStage:
    """What a model stage hands the stages after it."""

    checkpoint: str
    metrics: str
    data: dict[str, Any]  # the data section it was scored on (export verifies on the same)
    parent: str | None = None  # the stage it was compressed from (compression loss in the report and gate)

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> ModelStage:
        return cls(**{f.name: outputs.get(f.name) for f in dataclasses.fields(cls)})

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.data.get("input_size") or (64, 44))


def _final(folder: Path) -> str:
    path = folder / "final.pt"
    if not path.is_file():
        raise GaitCompressError(f"stage finished without {path}", "re-run the pipeline; the stage will start again")
    return str(path)


def _files(outputs: Mapping[str, Any]) -> list[Path]:
    """The files a stage's outputs point at (what must still exist for it to count as done)."""
    paths = [outputs[k] for k in ("checkpoint", "metrics", "latency", "latency_deploy") if outputs.get(k)]
    paths += list((outputs.get("onnx") or {}).values())
    return [Path(p) for p in paths]


def _label_bits(metrics: Path, checkpoint: Path, data: Mapping[str, Any]) -> None:
    """A given QAT checkpoint's row says its bits (`w8a8`), as a quantize stage's would: the gate pairs on them."""
    from gaitcompress.checkpoints import load_model
    from gaitcompress.quant.cost import bitops_report
    from gaitcompress.results import read_results, write_results

    doc = read_results(metrics)
    size = tuple(data.get("input_size") or (64, 44))
    bits = bitops_report(load_model(checkpoint), int(data.get("train_frames") or 30), size).bits
    if bits != doc["rows"][0].get("bits"):
        doc["rows"][0]["bits"] = bits
        write_results(doc, metrics)


class PipelineRun:
    """One pipeline execution over a run folder; `run()` returns the stage outputs by stage name."""

    def __init__(
        self,
        recipe: dict[str, Any],
        tracker: Tracker = NULL,
        log: Log = print,
        redo: str | None = None,
        command: str | None = None,
    ) -> None:
        self.raw, self.command = recipe, command
        self.cfg = from_dict(PipelineRecipe, recipe, recipe.get("source") or "pipeline recipe")
        self.cfg.check()
        self.base = Path(self.cfg.source).parent if self.cfg.source else Path(".")
        self.run_dir = Path(self.cfg.run_dir)
        self.cache = StageCache(self.run_dir)
        self.tracker, self.log = tracker, log
        self.outputs: dict[str, Mapping[str, Any]] = {}
        self.parity_failures: list[str] = []  # exports whose graph disagrees with PyTorch
        self.keys: dict[str, str] = {}
        self.redo, self.redoing = redo, False
        self.recipes = self._read_recipes()
        self._check_shared_overrides()

    # -- recipes ---------------------------------------------------------------------------------------------------
    def _refs(self) -> list[tuple[str, StageRef]]:
        refs = [("teacher", self.cfg.teacher)]
        if self.cfg.student is not None:
            refs.append(("student", self.cfg.student))
        return refs + [("quant", q) for q in self.cfg.quantize]

    def _read_recipes(self) -> list[dict[str, Any]]:
        """Every stage recipe, read once (with its one `base:` level), before the pipeline's overrides."""
        return [load_recipe(self.base / ref.recipe) if ref.recipe else {} for _, ref in self._refs()]

    def _check_shared_overrides(self) -> None:
        """A pipeline-wide override must name a section some stage has; keys inside it are checked by the stage."""
        known = set().union(*(sections(kind) for kind, _ in self._refs()))
        for text in self.cfg.overrides:
            top = text.split("=", 1)[0].split(".", 1)[0]
            if top not in known:
                raise GaitCompressError(
                    f"pipeline-wide override {text!r}: no stage has a {top!r} section",
                    did_you_mean(top, sorted(known)) or f"sections: {', '.join(sorted(known))}",
                )

    def stage_recipe(self, index: int, name: str, wiring: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Stage `index`'s recipe with the pipeline-wide overrides its kind understands, its own, the wiring
        (values set in place: `{'distill.teachers': [...]}`), its folder and the pipeline's seed."""
        kind, ref = self._refs()[index]
        recipe = self.recipes[index] or self._data_source()
        shared = [o for o in self.cfg.overrides if o.split("=", 1)[0].split(".", 1)[0] in sections(kind)]
        recipe = apply_overrides(recipe, [*shared, *ref.overrides, f"seed={self.cfg.seed}"])
        for dotted, value in (wiring or {}).items():
            *path, last = dotted.split(".")
            node = recipe
            for part in path:
                node = node.setdefault(part, {})
            node[last] = value
        recipe["run_dir"] = str(self.run_dir / name)
        return recipe

    def _data_source(self) -> dict[str, Any]:
        """For a given checkpoint without a recipe: the first stage recipe of the pipeline (its data, protocol)."""
        first = next((r for r in self.recipes if r), None)
        if first is None:
            raise GaitCompressError(
                f"{self.cfg.source or 'pipeline recipe'}: no stage has a recipe, so no data to score the models on",
                "give the teacher (or any stage) `recipe: <stage recipe>.yaml` beside its checkpoint",
            )
        return {k: v for k, v in first.items() if k not in NOT_EVALUATED}

    # -- stage plumbing -------------------------------------------------------------------------------------------
    def stage(self, name: str, section: Any, upstream: list[str], fn: Callable[[Path, bool], Mapping[str, Any]]):
        """Run `fn(folder, resume)` unless the cache holds this stage, with the same key and its files on disk."""
        key = stage_key(section, [self.keys[u] for u in upstream])
        self.keys[name] = key
        self.redoing = self.redoing or name == self.redo
        done = None if self.redoing else self.cache.done(name, key)
        missing = [p for p in _files(done or {}) if not p.exists()]
        if done is not None and not missing:
            self.log(f"[{name}] up to date ({key}), skipped")
            self.outputs[name] = done
            return done
        if missing:
            self.log(f"[{name}] {missing[0]} is gone: running the stage again")
        folder, resume = self.cache.begin(name, key, fresh=self.redoing or bool(missing))
        self.log(f"[{name}] {'resuming' if resume else 'running'} in {folder}")
        start = time.perf_counter()
        outputs = dict(fn(folder, resume))
        self.log(f"[{name}] done in {time.perf_counter() - start:.0f} s")
        self.cache.finish(name, key, outputs)
        self.outputs[name] = outputs
        return outputs

    def model_stage(self, name: str) -> ModelStage:
        return ModelStage.from_outputs(self.outputs[name])

    def given(self, index: int, name: str, parent: str | None) -> None:
        """A given checkpoint (gaitcompress FP32 or QAT, or OpenGait) as this stage: scored, not trained."""
        from gaitcompress.train.stage import run_eval

        ref = self._refs()[index][1]
        path = Path(ref.checkpoint)
        if not path.exists():
            raise GaitCompressError(f"{name} checkpoint not found: {path}", f"fix {name}.checkpoint in the recipe")
        recipe = {k: v for k, v in self.stage_recipe(index, name).items() if k not in NOT_EVALUATED}
        if ref.name is not None:
            recipe["model"] = {"name": ref.name}
        section = {"checkpoint": str(path.resolve()), "mtime": path.stat().st_mtime, "eval": recipe}

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            run_eval(recipe, path, self.tracker, out=folder / "metrics.json")
            _label_bits(folder / "metrics.json", path, recipe["data"])
            return dataclasses.asdict(ModelStage(str(path), str(folder / "metrics.json"), recipe["data"], parent))

        self.stage(name, section, [parent] if parent else [], fn)

    # -- the stages -----------------------------------------------------------------------------------------------
    def teacher(self) -> None:
        if self.cfg.teacher.checkpoint is not None:
            return self.given(0, "teacher", None)
        from gaitcompress.train.stage import run_train

        recipe = self.stage_recipe(0, "teacher")

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            run_train(recipe, self.tracker, resume=resume, command=self.command)
            return dataclasses.asdict(ModelStage(_final(folder), str(folder / "metrics.json"), recipe["data"]))

        self.stage("teacher", recipe, [], fn)

    def student(self) -> None:
        if self.cfg.student.checkpoint is not None:
            return self.given(1, "student", "teacher")
        from gaitcompress.distill.stage import run_distill

        teacher = {"checkpoint": self.model_stage("teacher").checkpoint, "name": self.cfg.teacher.name}
        recipe = self.stage_recipe(1, "student", {"distill.teachers": [teacher]})

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            run_distill(recipe, self.tracker, resume=resume, command=self.command)
            return dataclasses.asdict(
                ModelStage(_final(folder), str(folder / "metrics.json"), recipe["data"], "teacher")
            )

        self.stage("student", recipe, ["teacher"], fn)

    def quantize(self, index: int) -> str:
        """QAT stage `index` (0-based among the QAT stages), named after its method: `quant-qgait8`."""
        pos = 2 + index
        ref = self._refs()[pos][1]
        name = self.stage_names()[pos]
        if ref.checkpoint is not None:
            self.given(pos, name, "student")
            return name
        from gaitcompress.quant.calibrate import is_ptq, run_ptq_stage
        from gaitcompress.quant.qat import run_quantize

        recipe = self.stage_recipe(pos, name, {"quant.checkpoint": self.model_stage("student").checkpoint})

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            if is_ptq(recipe):  # post-training: calibrated, not trained; the same QAT-kind checkpoint comes out
                run_ptq_stage(recipe, self.tracker, command=self.command, resume=resume, own_folder=False)
            else:
                run_quantize(recipe, self.tracker, resume=resume, command=self.command)
            return dataclasses.asdict(
                ModelStage(_final(folder), str(folder / "metrics.json"), recipe["data"], "student")
            )

        self.stage(name, recipe, ["student"], fn)
        return name

    def export(self, model: str) -> None:
        """ONNX of one model stage: FP32 (and FP16 if asked) for float models, INT8 QDQ for QAT ones.

        Verified on the data the stage was scored on, whose score is reused (each model is scored once)."""
        from gaitcompress.export.cpu_int8 import int8_weights_for
        from gaitcompress.export.stage import ExportConfig, export_checkpoint
        from gaitcompress.results import read_results

        sec = self.cfg.export
        stage = self.model_stage(model)
        qat = model.startswith("quant-")
        formats = ["int8"] if qat else [f for f in sec.formats if f != "int8"]
        weights = int8_weights_for(sec.int8_weights)  # resolved: the key says what the file holds, on any CPU
        section = {**dataclasses.asdict(sec), "formats": formats, "int8_weights": weights}
        known = {k: v["mean"] for k, v in read_results(stage.metrics)["rows"][0]["metrics"].items()}

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            files, parity = {}, {}
            for fmt in formats:
                cfg = ExportConfig(format=fmt, out=str(folder), frames=sec.frames, opset=sec.opset, verify=sec.verify,
                                   rank1_tol=sec.rank1_tol, data=stage.data, int8_weights=weights,
                                   stem=sec.stem)  # fmt: skip
                result = export_checkpoint(stage.checkpoint, cfg, self.tracker, strict=False, known_metrics=known)
                files[fmt] = str(result.onnx)
                if result.parity is not None:
                    parity[fmt] = result.parity.to_dict()
                    if not result.parity.passed:
                        self.log(f"[export-{model}] PARITY FAILED: {result.parity.reason()}")
                if result.fused:
                    parity.setdefault("fused", {})[fmt] = result.fused
            return {"onnx": files, "parity": parity}

        outputs = self.stage(f"export-{model}", section, [model], fn)
        for fmt, check in (outputs.get("parity") or {}).items():
            if fmt != "fused" and not check["passed"]:
                self.parity_failures.append(f"{model} {fmt}: {check['reason']}")

    def export_deploy(self, models: list[str]) -> None:
        """Every model stage exported again at `bench.deploy_size` (the weights do not depend on the input size),
        plus the untrained `bench.deploy_reference` model: latency where users deploy (export.deploy_size)."""
        from gaitcompress.export.cpu_int8 import int8_weights_for
        from gaitcompress.export.deploy_size import export_at_size, export_reference

        sec, opset = self.cfg.bench, self.cfg.export.opset
        size, frames, reference = tuple(sec.deploy_size), sec.deploy_frames, sec.deploy_reference
        weights = int8_weights_for(self.cfg.export.int8_weights)
        section = {"size": list(size), "frames": frames, "reference": reference, "opset": opset,
                   "int8_weights": weights, "stem": self.cfg.export.stem}  # fmt: skip

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            files = {}
            with self.tracker.task(f"exports at {size[0]}×{size[1]}", total=len(models) + bool(reference)) as step:
                for m in models:
                    out = folder / f"{m}.onnx"
                    files[m] = str(export_at_size(self.model_stage(m).checkpoint, out, size, frames, opset=opset,
                                                  int8_weights=weights, stem=self.cfg.export.stem))  # fmt: skip
                    step(1)
                if reference:
                    out = folder / f"{reference}.onnx"
                    files[reference] = str(export_reference(reference, out, size, frames, opset))
                    step(1)
            return {"onnx": files}

        self.stage("export-deploy", section, models, fn)

    def bench(self, models: list[str]) -> None:
        """Interleaved onnxruntime latency of every exported model (the first format of each) at its training size,
        then, in a second interleaved run, of the deployment-size exports (ratios to the teacher in each)."""
        from gaitcompress.bench.latency import BenchSpec, run_bench
        from gaitcompress.bench.report import write_bench

        sec = self.cfg.bench
        files = {m: next(iter(self.outputs[f"export-{m}"]["onnx"].values())) for m in models}
        deploy = (self.outputs.get("export-deploy") or {}).get("onnx") or {}
        section = {"files": files, "deploy": deploy,
                   **{k: getattr(sec, k) for k in ("backends", "frames", "batch", "rounds")}}  # fmt: skip
        upstream = [f"export-{m}" for m in models] + (["export-deploy"] if deploy else [])

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            spec = BenchSpec(files, sec.backends, (sec.batch,), (sec.frames,), self.input_size(), sec.rounds,
                             sec.warmup, sec.threads, reference=models[0])  # fmt: skip
            write_bench(run_bench(spec, self.tracker), spec, folder / "latency.json")
            outputs = {"latency": str(folder / "latency.json")}
            if deploy:
                size = tuple(sec.deploy_size)
                spec = dataclasses.replace(spec, models=deploy, frames=(sec.deploy_frames,), size=size)
                write_bench(run_bench(spec, self.tracker), spec, folder / "latency_deploy.json")
                outputs["latency_deploy"] = str(folder / "latency_deploy.json")
            return outputs

        self.stage("bench", section, upstream, fn)

    def input_size(self) -> tuple[int, int]:
        """The models' input size: the teacher stage's data section (every stage reads the same data)."""
        return self.model_stage("teacher").input_size

    def run(self) -> dict[str, Mapping[str, Any]]:
        """Every stage in order; returns stage name → outputs (paths as strings)."""
        if self.redo is not None and self.redo not in self.stage_names():
            names = self.stage_names()
            raise GaitCompressError(
                f"--redo {self.redo}: no such stage", did_you_mean(self.redo, names) or f"stages: {', '.join(names)}"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with RunLock(self.run_dir):  # one pipeline per run folder: a second one is refused, naming the holder
            return self._run()

    def _run(self) -> dict[str, Mapping[str, Any]]:
        save_recipe(self.raw, self.run_dir / "pipeline.yaml")
        self.teacher()
        models = ["teacher"]
        if self.cfg.student is not None:
            self.student()
            models.append("student")
        models += [self.quantize(i) for i in range(len(self.cfg.quantize))]
        self.models = models
        if self.cfg.export is not None:
            for model in models:
                self.export(model)
            if self.cfg.bench is not None:
                if self.cfg.bench.deploy_size is not None:
                    self.export_deploy(models)
                self.bench(models)
        return self.outputs

    def _quant_method(self, index: int) -> str:
        """QAT stage `index`'s method name: its recipe's `method`, `ptq8`/`ptq4` when overridden to PTQ."""
        pos = 1 + bool(self.cfg.student) + index
        recipe = self.stage_recipe(pos, "") if self.recipes[pos] else {}
        quant = recipe.get("quant") or {}
        if quant.get("method") == "ptq":
            return "ptq" + "".join(c for c in str(quant.get("preset", "w8a8")).split("a")[0] if c.isdigit())
        return str(recipe.get("method", index))

    def stage_names(self) -> list[str]:
        """Every stage this recipe runs, in order."""
        first_quant = 1 + bool(self.cfg.student)
        quant = [f"quant-{self._quant_method(i)}" for i in range(len(self.recipes) - first_quant)]
        models = ["teacher", *(["student"] if self.cfg.student else []), *quant]
        exports = [f"export-{m}" for m in models] if self.cfg.export else []
        bench = self.cfg.bench if self.cfg.export else None
        deploy = ["export-deploy"] if bench is not None and bench.deploy_size is not None else []
        return models + exports + deploy + (["bench"] if bench is not None else [])

    def report(self, command: str | None = None) -> dict[str, Any]:
        """Write `report/report.{json,md}` and plots from the stage outputs; returns the results document."""
        from gaitcompress.pipeline.report import attach_latency, deploy_block, stage_rows, write_report
        from gaitcompress.results import read_results, summarize

        frames = self.cfg.export.frames if self.cfg.export else 30
        outputs = {m: {**self.outputs[m], "exports": self.outputs.get(f"export-{m}", {}).get("onnx", {})}
                   for m in self.models}  # fmt: skip
        rows = stage_rows(outputs, self.models, frames, self.input_size())
        deploy = None
        if "bench" in self.outputs:
            attach_latency(rows, read_results(self.outputs["bench"]["latency"])["rows"])
            if self.outputs["bench"].get("latency_deploy"):
                timed = read_results(self.outputs["bench"]["latency_deploy"])["rows"]
                deploy = deploy_block(attach_latency(rows, timed, "latency_deploy"), self.cfg.bench.deploy_reference)
        for row in rows:
            parity = self.outputs.get(f"export-{row['stage']}", {}).get("parity") or {}
            for fmt, check in parity.items():
                if fmt == "fused":
                    continue
                row.setdefault("parity", {})[fmt] = {k: check[k] for k in ("passed", "reason", "rank1_gap")}
                # the deployed (onnxruntime) accuracy sits beside PyTorch's, so the gate checks what ships
                onnx = check["onnx"]
                row["metrics"].update({f"onnx {k}": summarize([onnx[k]]) for k in ONNX_KEYS if k in onnx})
            if "fused" in parity:
                row["fused"] = parity["fused"]
        first = read_results(self.outputs["teacher"]["metrics"])
        return write_report(rows, first["dataset"], self.run_dir / "report", self.cfg.name, command,
                            tolerance=self.cfg.report.tolerance, deploy=deploy)  # fmt: skip


def run_pipeline(
    recipe: dict[str, Any],
    tracker: Tracker = NULL,
    log: Log = print,
    redo: str | None = None,
    command: str | None = None,
) -> PipelineRun:
    """Run (or continue) the pipeline of `recipe`; the returned object holds every stage's outputs.

    `command`: the command line that started it, so a stage interrupted by Ctrl-C names a runnable command."""
    run = PipelineRun(recipe, tracker, log, redo, command)
    run.run()
    return run
