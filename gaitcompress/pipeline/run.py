"""Run the pipeline: each stage's recipe resolved, keyed, skipped when done, resumed when interrupted.

Stage order: teacher → student (GaitKD) → each QAT preset → export → bench → report. Every stage's key
covers its resolved recipe and the keys of the stages it reads from (`cache.stage_key`), so editing one
stage re-runs it and everything downstream, and nothing upstream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gaitcompress.errors import GaitCompressError
from gaitcompress.pipeline.cache import StageCache, stage_key
from gaitcompress.pipeline.config import PipelineRecipe, StageRef
from gaitcompress.progress import NULL, Tracker
from gaitcompress.recipe import from_dict, load_recipe, save_recipe

Log = Callable[[str], None]
ONNX_KEYS = ("NM@R1", "BG@R1", "CL@R1", "mean@R1", "R1", "mAP")  # deployed-model metrics carried into the report


def _final(folder: Path) -> str:
    path = folder / "final.pt"
    if not path.is_file():
        raise GaitCompressError(f"stage finished without {path}", "re-run the pipeline; the stage will start again")
    return str(path)


class PipelineRun:
    """One pipeline execution over a run folder; `run()` returns the stage outputs by stage name."""

    def __init__(self, recipe: dict[str, Any], tracker: Tracker = NULL, log: Log = print) -> None:
        self.raw = recipe
        self.cfg = from_dict(PipelineRecipe, recipe, recipe.get("source") or "pipeline recipe")
        self.cfg.check()
        self.base = Path(self.cfg.source).parent if self.cfg.source else Path(".")
        self.run_dir = Path(self.cfg.run_dir)
        self.cache = StageCache(self.run_dir)
        self.tracker, self.log = tracker, log
        self.outputs: dict[str, Mapping[str, Any]] = {}
        self.parity_failures: list[str] = []  # exports whose graph disagrees with PyTorch (the run still reports)
        self.keys: dict[str, str] = {}

    # -- stage plumbing -------------------------------------------------------------------------------------------
    def stage_recipe(self, ref: StageRef, name: str, wiring: list[str]) -> dict[str, Any]:
        """The stage's recipe with the pipeline's overrides, its own, the wiring, its folder and the seed."""
        if ref.recipe is None:
            return {}
        path = self.base / ref.recipe
        recipe = load_recipe(path)
        # pipeline-wide overrides reach the stages that have their section (quant.* only the QAT stages)
        shared = [o for o in self.cfg.overrides if o.split(".", 1)[0].split("=", 1)[0] in recipe]
        recipe = load_recipe(path, [*shared, *ref.overrides, *wiring, f"seed={self.cfg.seed}"])
        recipe["run_dir"] = str(self.run_dir / name)
        return recipe

    def stage(self, name: str, section: Any, upstream: list[str], fn: Callable[[Path, bool], Mapping[str, Any]]):
        """Run `fn(folder, resume)` unless the cache holds this stage with the same key."""
        key = stage_key(section, [self.keys[u] for u in upstream])
        self.keys[name] = key
        done = self.cache.done(name, key)
        if done is not None:
            self.log(f"[{name}] up to date ({key}), skipped")
            self.outputs[name] = done
            return done
        folder, resume = self.cache.begin(name, key)
        self.log(f"[{name}] {'resuming' if resume else 'running'} in {folder}")
        outputs = dict(fn(folder, resume))
        self.cache.finish(name, key, outputs)
        self.outputs[name] = outputs
        return outputs

    # -- the stages -----------------------------------------------------------------------------------------------
    def teacher(self) -> None:
        ref = self.cfg.teacher
        if ref.checkpoint is not None:
            self.given_teacher(ref)
            return
        recipe = self.stage_recipe(ref, "teacher", [])

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            from gaitcompress.train.stage import run_train

            run_train(recipe, self.tracker, resume=resume)
            return {"checkpoint": _final(folder), "metrics": str(folder / "metrics.json")}

        self.stage("teacher", recipe, [], fn)

    def given_teacher(self, ref: StageRef) -> None:
        """A user's checkpoint (gaitcompress or OpenGait) as the teacher: scored, not trained.

        Its data and protocol come from `teacher.recipe` when given, else from the student's recipe.
        """
        path = Path(ref.checkpoint)
        if not path.exists():
            raise GaitCompressError(f"teacher checkpoint not found: {path}", "fix teacher.checkpoint in the recipe")
        source = ref if ref.recipe is not None else self.cfg.student
        recipe = {k: v for k, v in self.stage_recipe(source, "teacher", []).items() if k not in ("distill", "quant")}
        if ref.name is not None:
            recipe["model"] = {"name": ref.name}
        section = {"checkpoint": str(path.resolve()), "mtime": path.stat().st_mtime, "eval": recipe}

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            from gaitcompress.train.stage import run_eval

            run_eval(recipe, path, self.tracker, out=folder / "metrics.json")
            return {"checkpoint": str(path), "metrics": str(folder / "metrics.json")}

        self.stage("teacher", section, [], fn)

    def student(self) -> None:
        teacher = self.outputs["teacher"]["checkpoint"]
        wiring = [f"distill.teachers=[{{checkpoint: {teacher}, name: {self.cfg.teacher.name or 'null'}}}]"]
        recipe = self.stage_recipe(self.cfg.student, "student", wiring)

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            from gaitcompress.distill.stage import run_distill

            run_distill(recipe, self.tracker, resume=resume)
            return {"checkpoint": _final(folder), "metrics": str(folder / "metrics.json")}

        self.stage("student", recipe, ["teacher"], fn)

    def quantize(self, index: int, ref: StageRef) -> str:
        student = self.outputs["student"]["checkpoint"]
        probe = load_recipe(self.base / ref.recipe)  # only to name the stage after its method
        name = f"quant-{probe.get('method', index)}"
        recipe = self.stage_recipe(ref, name, [f"quant.checkpoint={student}"])

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            from gaitcompress.quant.qat import run_quantize

            run_quantize(recipe, self.tracker, resume=resume)
            return {"checkpoint": _final(folder), "metrics": str(folder / "metrics.json")}

        self.stage(name, recipe, ["student"], fn)
        return name

    def export(self, model: str) -> None:
        """ONNX of one model stage: FP32 (and FP16 if asked) for float models, INT8 QDQ for QAT ones."""
        from gaitcompress.export.stage import ExportConfig, ParityError, export_checkpoint
        from gaitcompress.results import read_results

        sec = self.cfg.export
        qat = model.startswith("quant-")
        formats = ["int8"] if qat else [f for f in sec.formats if f != "int8"]
        section = {**dataclasses.asdict(sec), "formats": formats}

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            files, parity = {}, {}
            for fmt in formats:
                cfg = ExportConfig(format=fmt, out=str(folder), frames=sec.frames, opset=sec.opset, verify=sec.verify,
                                   rank1_tol=sec.rank1_tol)  # fmt: skip
                try:
                    result = export_checkpoint(self.outputs[model]["checkpoint"], cfg, self.tracker)
                except ParityError as exc:  # the files are written; the report carries the failure
                    self.log(f"[export-{model}] PARITY FAILED: {exc.message}")
                    self.parity_failures.append(f"{model} {fmt}: {exc.message}")
                    export = read_results(folder / "export.json")["rows"][0]["export"]
                    files[fmt], parity[fmt] = export["onnx"], export["parity"]
                    continue
                files[fmt] = str(result.onnx)
                if result.parity is not None:
                    parity[fmt] = result.parity.to_dict()
                if result.fused:
                    parity.setdefault("fused", {})[fmt] = result.fused
            return {"onnx": files, "parity": parity}

        self.stage(f"export-{model}", section, [model], fn)

    def bench(self, models: list[str]) -> None:
        """Interleaved onnxruntime latency of every exported model (the first format of each)."""
        from gaitcompress.bench.latency import BenchSpec, run_bench

        sec = self.cfg.bench
        files = {m: next(iter(self.outputs[f"export-{m}"]["onnx"].values())) for m in models}
        section = {"files": files, **{k: getattr(sec, k) for k in ("backends", "frames", "batch", "rounds")}}

        def fn(folder: Path, resume: bool) -> dict[str, Any]:
            from gaitcompress.bench.report import write_bench

            size = self.input_size()
            spec = BenchSpec(files, sec.backends, (sec.batch,), (sec.frames,), size, sec.rounds, sec.warmup,
                             sec.threads, reference=models[0])  # fmt: skip
            rows = run_bench(spec, self.tracker)
            write_bench(rows, spec, folder / "latency.json")
            return {"latency": str(folder / "latency.json")}

        self.stage("bench", section, [f"export-{m}" for m in models], fn)

    def input_size(self) -> tuple[int, int]:
        """The models' input size, from the teacher stage's resolved recipe (or the first stage that has one)."""
        for ref in (self.cfg.teacher, self.cfg.student):
            if ref is not None and ref.recipe is not None:
                size = load_recipe(self.base / ref.recipe, self.cfg.overrides).get("data", {}).get("input_size")
                if size:
                    return tuple(size)
        return (64, 44)

    def run(self) -> dict[str, Mapping[str, Any]]:
        """Every stage in order; returns stage name → outputs (paths as strings)."""
        save_recipe(self.raw, self.run_dir / "pipeline.yaml")
        self.teacher()
        models = ["teacher"]
        if self.cfg.student is not None:
            self.student()
            models.append("student")
        models += [self.quantize(i, ref) for i, ref in enumerate(self.cfg.quantize)]
        self.models = models
        if self.cfg.export is not None:
            for model in models:
                self.export(model)
            if self.cfg.bench is not None:
                self.bench(models)
        return self.outputs

    def report(self, command: str | None = None) -> dict[str, Any]:
        """Write `report/report.{json,md}` and plots from the stage outputs; returns the results document."""
        from gaitcompress.pipeline.report import attach_latency, stage_rows, write_report
        from gaitcompress.results import read_results, summarize

        frames = self.cfg.export.frames if self.cfg.export else 30
        outputs = {m: {**self.outputs[m], "exports": self.outputs.get(f"export-{m}", {}).get("onnx", {})}
                   for m in self.models}  # fmt: skip
        rows = stage_rows(outputs, self.models, frames, self.input_size())
        if "bench" in self.outputs:
            attach_latency(rows, read_results(self.outputs["bench"]["latency"])["rows"])
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
        first = read_results(self.outputs["teacher"]["metrics"]) if "metrics" in self.outputs["teacher"] else None
        dataset = first["dataset"] if first else {"name": "unknown"}
        return write_report(rows, dataset, self.run_dir / "report", self.cfg.name, command)


def run_pipeline(recipe: dict[str, Any], tracker: Tracker = NULL, log: Log = print) -> PipelineRun:
    """Run (or continue) the pipeline of `recipe`; the returned object holds every stage's outputs."""
    run = PipelineRun(recipe, tracker, log)
    run.run()
    return run
