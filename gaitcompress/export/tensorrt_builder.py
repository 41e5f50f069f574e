#!/usr/bin/env python3
"""Build a TensorRT engine from a gaitcompress ONNX export — no torch, no gaitcompress needed.

This one file is also `export/build_trt_engine.py` at the repository top level: copy it with the
`.onnx` to a Jetson or a GPU server that has TensorRT (`pip install tensorrt` from NVIDIA's index, or
JetPack) and run, for example:

    python build_trt_engine.py student_w8a8_trt.onnx --frames 1 30 128 --batch 1 1 16

TensorRT 10 and 11 differ in how precision is chosen:
- TensorRT 10: a weakly typed network; the builder flags allow the reduced precisions — `INT8` (+`FP16`
  for the layers outside Q/DQ) for an INT8 QDQ graph, `FP16` for an FP16 graph, none for FP32.
- TensorRT 11: networks are strongly typed only (`NetworkDefinitionCreationFlag.STRONGLY_TYPED`); the
  INT8/FP16 flags are gone and precision comes from the ONNX itself (Q/DQ nodes, fp16 initializers).
`--api auto` picks by `tensorrt.__version__`. One optimisation profile covers the dynamic batch and frame
axes of the input `sils [N, T, H, W]` (min/opt/max); H and W come from the ONNX.

Beside the engine it writes `<engine>.commands.txt` with the equivalent `trtexec` build and a
`polygraphy run --onnxrt --trt` comparison of onnxruntime against TensorRT, and prints them; with
`--commands-only` it does only that (no TensorRT needed). The engine is written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INPUT = "sils"
PRECISIONS = ("fp32", "fp16", "int8")
APIS = ("auto", "10", "11")


class BuildError(RuntimeError):
    """A problem the user can fix (missing package, bad model, failed parse or build)."""


@dataclass(frozen=True)
class Profile:
    """min/opt/max of the dynamic batch (N) and frame (T) axes; H, W are the ONNX's static sizes."""

    batch: tuple[int, int, int] = (1, 1, 16)
    frames: tuple[int, int, int] = (1, 30, 128)
    height: int = 64
    width: int = 44

    def shapes(self) -> dict[str, tuple[int, int, int, int]]:
        return {
            k: (self.batch[i], self.frames[i], self.height, self.width) for i, k in enumerate(("min", "opt", "max"))
        }

    def check(self) -> None:
        for name, (lo, opt, hi) in (("batch", self.batch), ("frames", self.frames)):
            if not 1 <= lo <= opt <= hi:
                raise BuildError(f"{name} profile {lo} {opt} {hi} must satisfy 1 <= min <= opt <= max")


def import_tensorrt() -> Any:
    """`import tensorrt`, or a BuildError naming the package and where it comes from."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BuildError(
            "the 'tensorrt' Python package is not installed here "
            f"({exc}); install it on the GPU machine: `pip install tensorrt` (NVIDIA's index) or use JetPack's"
        ) from None
    return tensorrt


def major_version(trt: Any) -> int:
    try:
        return int(str(trt.__version__).split(".")[0])
    except ValueError:
        return 10


def resolve_api(trt: Any, api: str) -> int:
    if api not in APIS:
        raise BuildError(f"unknown --api {api!r}; use one of {APIS}")
    return major_version(trt) if api == "auto" else int(api)


def read_onnx_info(path: Path) -> dict[str, Any]:
    """Format, input size and TensorRT warnings from the export's metadata (needs `onnx`; {} without it)."""
    try:
        import onnx
    except ImportError:
        return {}
    graph = onnx.load(str(path), load_external_data=False)
    meta = {}
    for prop in graph.metadata_props:
        try:
            meta[prop.key] = json.loads(prop.value)
        except json.JSONDecodeError:
            meta[prop.key] = prop.value
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    size = [d.dim_value for d in dims[2:4]] if len(dims) == 4 else []
    return {"format": meta.get("format"), "size": size, "trt_incompatible": meta.get("trt_incompatible") or []}


def commands(onnx_path: Path, engine_path: Path, precision: str, api: int, profile: Profile) -> dict[str, str]:
    """The equivalent `trtexec` build and `polygraphy` onnxruntime-vs-TensorRT comparison."""
    shp = profile.shapes()
    dims = {k: "x".join(map(str, v)) for k, v in shp.items()}
    lists = {k: "[" + ",".join(map(str, v)) + "]" for k, v in shp.items()}
    if api >= 11:
        flags = ["--stronglyTyped"]
        poly_flags = ["--strongly-typed"]
    else:
        flags = {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8", "--fp16"]}[precision]
        poly_flags = list(flags)
    trtexec = [
        "trtexec",
        f"--onnx={onnx_path}",
        f"--saveEngine={engine_path}",
        *flags,
        f"--minShapes={INPUT}:{dims['min']}",
        f"--optShapes={INPUT}:{dims['opt']}",
        f"--maxShapes={INPUT}:{dims['max']}",
        "--memPoolSize=workspace:1024M",
    ]
    tol = {"fp32": "1e-3", "fp16": "1e-2", "int8": "5e-2"}[precision]
    polygraphy = [
        "polygraphy",
        "run",
        str(onnx_path),
        "--onnxrt",
        "--trt",
        *poly_flags,
        "--trt-min-shapes",
        f"{INPUT}:{lists['min']}",
        "--trt-opt-shapes",
        f"{INPUT}:{lists['opt']}",
        "--trt-max-shapes",
        f"{INPUT}:{lists['max']}",
        "--input-shapes",
        f"{INPUT}:{lists['opt']}",
        "--atol",
        tol,
        "--rtol",
        tol,
    ]
    return {"trtexec": shlex.join(trtexec), "polygraphy": shlex.join(polygraphy)}


def write_commands(engine_path: Path, cmds: dict[str, str]) -> Path:
    path = engine_path.with_name(engine_path.name + ".commands.txt")
    text = "".join(f"# {name}\n{cmd}\n\n" for name, cmd in cmds.items())
    _atomic_write(path, text.encode())
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; give the file a plain open()'s permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    precision: str,
    profile: Profile,
    api: str = "auto",
    workspace_mb: int = 1024,
    trt: Any | None = None,
) -> Path:
    """Parse `onnx_path`, configure precision for TensorRT 10 or 11, add the profile, build, write atomically.

    `trt` is the tensorrt module (imported lazily when None; tests pass a recording fake).
    """
    if precision not in PRECISIONS:
        raise BuildError(f"unknown precision {precision!r}; use one of {PRECISIONS}")
    profile.check()
    trt = trt or import_tensorrt()
    version = resolve_api(trt, api)
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if version >= 11 else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BuildError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if version < 11:  # weakly typed: the flags allow reduced precision; Q/DQ pins INT8 where it appears
        for flag in {"fp32": (), "fp16": ("FP16",), "int8": ("INT8", "FP16")}[precision]:
            config.set_flag(getattr(trt.BuilderFlag, flag))
    opt = builder.create_optimization_profile()
    shp = profile.shapes()
    opt.set_shape(INPUT, shp["min"], shp["opt"], shp["max"])
    config.add_optimization_profile(opt)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BuildError(f"TensorRT failed to build an engine from {onnx_path} (see the log above)")
    _atomic_write(engine_path, bytes(serialized))
    return engine_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("onnx", type=Path, help="a gaitcompress ONNX export")
    parser.add_argument("--engine", type=Path, default=None, help="output engine (default: ONNX path + .engine)")
    parser.add_argument("--precision", choices=PRECISIONS, default=None, help="default: the export's metadata")
    parser.add_argument("--api", choices=APIS, default="auto", help="TensorRT API generation (default: installed)")
    parser.add_argument("--batch", type=int, nargs=3, default=(1, 1, 16), metavar=("MIN", "OPT", "MAX"))
    parser.add_argument("--frames", type=int, nargs=3, default=(1, 30, 128), metavar=("MIN", "OPT", "MAX"))
    parser.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"), help="default: from the ONNX")
    parser.add_argument("--workspace-mb", type=int, default=1024)
    parser.add_argument("--commands-only", action="store_true", help="only print/write trtexec and polygraphy")
    args = parser.parse_args(argv)
    try:
        if not args.onnx.is_file():
            raise BuildError(f"ONNX file not found: {args.onnx}")
        info = read_onnx_info(args.onnx)
        precision = args.precision or info.get("format")
        if precision not in PRECISIONS:
            raise BuildError(f"{args.onnx}: cannot tell its precision from metadata; pass --precision")
        if info.get("trt_incompatible"):
            raise BuildError(
                f"{args.onnx} quantizes {info['trt_incompatible']} as uint8, which TensorRT does not accept; "
                "re-export from a QAT model with the `trt` placement"
            )
        size = args.size or info.get("size") or (64, 44)
        profile = Profile(tuple(args.batch), tuple(args.frames), *size)
        profile.check()
        engine = args.engine or args.onnx.with_suffix(".engine")
        trt = None if args.commands_only else import_tensorrt()
        api = int(args.api) if args.api != "auto" else (major_version(trt) if trt else 10)
        cmds = commands(args.onnx, engine, precision, api, profile)
        print(f"wrote {write_commands(engine, cmds)}")
        for name, cmd in cmds.items():
            print(f"{name}: {cmd}")
        if not args.commands_only:
            build_engine(args.onnx, engine, precision, profile, args.api, args.workspace_mb, trt=trt)
            print(f"wrote {engine}")
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
