"""The README's own-model section, run as written (issue 15): an OpenGait-layout checkpoint and an OpenGait-format set.

`COMMANDS` is the README block word for word (keep them identical; /work/notes/readme-15.md); each gets only tiny
overrides appended (a 6-id SynthGait set at 32×22, one iteration) and `/data/CASIA-B-pkl` becomes that set, whose
partition is named `CASIA-B.json` like CASIA-B's, so the partition must follow the root. The checkpoint is a
gaitcompress model's state dict saved alone as `{'model': sd}` (OpenGait's layout, no spec, no recipe).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
import torch

from gaitcompress import checkpoints
from gaitcompress.cli import main

REPO = Path(__file__).resolve().parents[1]
COMMANDS = """
gaitcompress info GaitBase_DA-60000.pt --frames 30 --input 64 44          # params, MACs, BitOPs per layer
gaitcompress eval recipes/casiab/gaitbase.yaml data.root=/data/CASIA-B-pkl --checkpoint GaitBase_DA-60000.pt
gaitcompress quantize recipes/casiab/quant_qgait8.yaml quant.method=ptq quant.checkpoint=GaitBase_DA-60000.pt \\
    data.root=/data/CASIA-B-pkl                                           # → runs/casiab/quant_qgait8-ptq
gaitcompress export runs/casiab/quant_qgait8-ptq --format int8 --verify  # INT8 QDQ ONNX, parity + its accuracy
gaitcompress quantize recipes/casiab/quant_qgait8.yaml quant.checkpoint=GaitBase_DA-60000.pt data.root=/data/CASIA-B-pkl
gaitcompress export runs/casiab/quant_qgait8/final.pt --format int8 --verify
gaitcompress pipeline recipes/casiab/pipeline.yaml teacher.checkpoint=GaitBase_DA-60000.pt \\
    --all data.root=/data/CASIA-B-pkl
gaitcompress report runs/pipeline/casiab                                  # reprint the table of a finished run
"""
DATA = ["data.input_size=[32,22]", "data.test_max_frames=8", "data.workers=0", "data.batch_p=2", "data.batch_k=2",
        "data.train_frames=8"]  # fmt: skip
TINY = {  # what each command gets appended: sizes only, never a path or a key the README leaves out
    "info": [],
    "eval": ["model.name=gaitbase_w0125", *DATA],
    "quantize": DATA,  # + PTQ or QAT below
    "export": ["--frames", "8"],
    "pipeline": [
        "teacher.name=gaitbase_w0125",
        *(
            w
            for o in [
                *DATA,
                "model.name=gaitbase_w0125",
                "train.iterations=1",
                "quant.stage1.iterations=1",
                "quant.stage2.iterations=0",
            ]
            for w in ("--all", o)
        ),
        "bench.backends=[ort-cpu]",
        "bench.rounds=2",
        "bench.frames=8",
        "export.frames=8",
    ],  # fmt: skip
    "report": [],
}
PTQ, QAT = ["quant.calib_sequences=8"], ["quant.stage1.iterations=1", "quant.stage2.iterations=0"]


def readme_commands(root: Path) -> list[list[str]]:
    """The README lines as argv lists (comments and line continuations dropped, the dataset path replaced)."""
    text = COMMANDS.replace("\\\n", " ")
    lines = [line.split("#", 1)[0].strip() for line in text.strip().splitlines()]
    return [shlex.split(line.replace("/data/CASIA-B-pkl", str(root)))[1:] for line in lines if line]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A user's folder: the repository's recipes, an OpenGait-format set and an OpenGait-layout checkpoint."""
    from gaitcompress.data.synthgait.config import SynthConfig
    from gaitcompress.data.synthgait.writer import generate
    from gaitcompress.models import create_model

    work = tmp_path_factory.mktemp("user")
    (work / "recipes").symlink_to(REPO / "recipes")
    root = generate(SynthConfig(ids=6, train=4, frames=8, views=(0, 90)), work / "CASIA-B-pkl", processes=1)
    (root / "partition.json").rename(root / "CASIA-B.json")  # named as OpenGait names CASIA-B's
    torch.manual_seed(0)
    model = create_model("gaitbase_w0125", num_classes=4)
    torch.save({"model": model.state_dict(), "iteration": 60000}, work / "GaitBase_DA-60000.pt")
    return work


def test_readme_own_model_commands_run_as_written(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("GAITCOMPRESS_DATA", str(workdir / "synth-cache"))
    monkeypatch.delenv("GAITCOMPRESS_TRACEBACK", raising=False)
    outputs = []
    for argv in readme_commands(workdir / "CASIA-B-pkl"):
        tiny = TINY[argv[0]] + ((PTQ if "quant.method=ptq" in argv else QAT) if argv[0] == "quantize" else [])
        monkeypatch.setattr(sys, "argv", ["gaitcompress", *argv, *tiny])
        with pytest.raises(SystemExit) as done:
            main()
        text = capsys.readouterr()
        assert done.value.code in (0, None), f"{shlex.join(argv)}\n{text.out}\n{text.err}"
        assert "Traceback" not in text.err
        outputs.append(text.out + text.err)
    ptq = checkpoints.load(workdir / "runs/casiab/quant_qgait8-ptq/final.pt")
    assert ptq["kind"] == "qat" and ptq["qconfig"]["placement"] == "trt"
    assert "parity" in outputs[3] and "passed" in outputs[3]  # the PTQ model's INT8 ONNX agrees with PyTorch
    assert list((workdir / "runs").glob("**/export/*_w8a8_trt.onnx"))
    assert "recommended:" in outputs[-1] and (workdir / "runs/pipeline/casiab/report/report.md").is_file()
    assert not (workdir / "data").exists() and not (workdir / "synth-cache").exists()  # nothing generated unasked
