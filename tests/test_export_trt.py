"""TensorRT engine builder against a fake `tensorrt` module that records every call (TensorRT 10 and 11 APIs)."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from gaitcompress.export import tensorrt_builder as tb

ROOT = Path(__file__).resolve().parents[1]


def fake_tensorrt(version: str, parse_ok: bool = True, build_ok: bool = True) -> types.SimpleNamespace:
    """A stand-in for the `tensorrt` module: the documented names, each call appended to `.calls`."""
    calls: list[tuple] = []

    class Obj:
        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str):
            def method(*args):
                calls.append((f"{self._name}.{attr}", *args))
                return {
                    "create_network": Obj("network"),
                    "create_builder_config": Obj("config"),
                    "create_optimization_profile": Obj("profile"),
                    "build_serialized_network": b"ENGINE" if build_ok else None,
                }.get(attr)

            return method

    class Parser(Obj):
        num_errors = 0 if parse_ok else 1

        def __init__(self, network, logger) -> None:
            super().__init__("parser")

        def parse(self, data: bytes) -> bool:
            calls.append(("parser.parse", len(data)))
            return parse_ok

        def get_error(self, i: int) -> str:
            return "Unsupported op Foo"

    flag_names = ["FP16", "INT8"] if version.startswith("10") else []
    return types.SimpleNamespace(
        __version__=version,
        calls=calls,
        Logger=type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None}),
        Builder=lambda logger: Obj("builder"),
        OnnxParser=Parser,
        NetworkDefinitionCreationFlag=types.SimpleNamespace(STRONGLY_TYPED=1),
        MemoryPoolType=types.SimpleNamespace(WORKSPACE="WORKSPACE"),
        BuilderFlag=types.SimpleNamespace(**{n: n for n in flag_names}),
    )


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"not parsed by the fake")
    return path


PROFILE = tb.Profile(batch=(1, 2, 8), frames=(1, 30, 64), height=64, width=44)


@pytest.mark.parametrize(("precision", "flags"), [("int8", ["INT8", "FP16"]), ("fp16", ["FP16"]), ("fp32", [])])
def test_tensorrt10_weakly_typed_sets_precision_flags(onnx_file, precision, flags):
    trt = fake_tensorrt("10.13.0")
    engine = tb.build_engine(onnx_file, onnx_file.with_suffix(".engine"), precision, PROFILE, trt=trt)
    assert engine.read_bytes() == b"ENGINE"
    assert ("builder.create_network", 0) in trt.calls  # no STRONGLY_TYPED bit
    assert [c[1] for c in trt.calls if c[0] == "config.set_flag"] == flags
    assert ("profile.set_shape", "sils", (1, 1, 64, 44), (2, 30, 64, 44), (8, 64, 64, 44)) in trt.calls
    assert ("config.set_memory_pool_limit", "WORKSPACE", 1024 << 20) in trt.calls


def test_tensorrt11_is_strongly_typed_without_flags(onnx_file):
    trt = fake_tensorrt("11.4.0")  # BuilderFlag.INT8/FP16 do not exist: touching them would raise
    tb.build_engine(onnx_file, onnx_file.with_suffix(".engine"), "int8", PROFILE, trt=trt)
    assert ("builder.create_network", 1 << 1) in trt.calls
    assert not [c for c in trt.calls if c[0] == "config.set_flag"]
    assert any(c[0] == "config.add_optimization_profile" for c in trt.calls)


def test_parse_and_build_failures_leave_no_engine(onnx_file):
    engine = onnx_file.with_suffix(".engine")
    with pytest.raises(tb.BuildError, match="Unsupported op Foo"):
        tb.build_engine(onnx_file, engine, "fp32", PROFILE, trt=fake_tensorrt("10.0", parse_ok=False))
    with pytest.raises(tb.BuildError, match="failed to build"):
        tb.build_engine(onnx_file, engine, "fp32", PROFILE, trt=fake_tensorrt("10.0", build_ok=False))
    assert not engine.exists() and [p.name for p in onnx_file.parent.iterdir()] == ["m.onnx"]


def test_missing_tensorrt_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` fail
    with pytest.raises(tb.BuildError, match="'tensorrt' Python package"):
        tb.import_tensorrt()


def test_bad_profile_is_refused(onnx_file):
    with pytest.raises(tb.BuildError, match="min <= opt <= max"):
        tb.build_engine(onnx_file, onnx_file.with_suffix(".e"), "fp32", tb.Profile(batch=(2, 1, 4)), trt=object())


def test_commands_match_the_api():
    ten = tb.commands(Path("m.onnx"), Path("m.engine"), "int8", 10, PROFILE)
    assert "--int8 --fp16" in ten["trtexec"] and "--maxShapes=sils:8x64x64x44" in ten["trtexec"]
    assert ten["polygraphy"].startswith("polygraphy run m.onnx --onnxrt --trt --int8")
    eleven = tb.commands(Path("m.onnx"), Path("m.engine"), "int8", 11, PROFILE)
    assert "--stronglyTyped" in eleven["trtexec"] and "--int8" not in eleven["trtexec"]


def test_device_script_is_the_library_module_and_runs_without_torch(tmp_path):
    script = ROOT / "export" / "build_trt_engine.py"
    assert script.resolve() == Path(tb.__file__).resolve()  # one implementation
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"x")
    code = (
        "import runpy, sys; sys.modules['torch'] = None; sys.modules['onnx'] = None; "
        f"sys.argv = ['b', {str(onnx_file)!r}, '--precision', 'int8', '--commands-only']; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "trtexec --onnx=" in result.stdout
    assert (tmp_path / "m.engine.commands.txt").read_text().count("polygraphy run") == 1
