"""Issue 15 messages of the checkpoint, evaluation and progress code, through the real entry point
(`gaitcompress.cli.main`): one `error:` line naming the file, key or flag and the fix, never a traceback; progress
that reads in a log file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.test_messages import _error, _main  # one way to run the CLI in-process

TEACHER = "recipes/synthgait/teacher_quick.yaml"
STUDENT = "recipes/synthgait/student_quick.yaml"  # gaitbase_w0125
QGAIT8 = "recipes/synthgait/quant_qgait8.yaml"
TINY = [
    "data.synth.ids=6", "data.synth.train=4", "data.synth.frames=8", "data.synth.views=[0,90]",
    "data.input_size=[16,11]", "data.train_frames=6", "data.batch_p=2", "data.batch_k=2", "data.test_max_frames=8",
    "train.tensorboard=false",
]  # fmt: skip
QAT_TINY = ["quant.stage1.iterations=2", "quant.stage2.iterations=1"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """One generated tiny SynthGait folder for the module (4 training ids)."""
    return tmp_path_factory.mktemp("synthgait")


@pytest.fixture
def tiny(data_dir, monkeypatch) -> list[str]:
    monkeypatch.setenv("GAITCOMPRESS_DATA", str(data_dir))
    return TINY


def _opengait(path: Path, classes: int) -> Path:
    """An OpenGait-layout checkpoint (state dict only) of gaitbase_w0125 with `classes` classifier outputs."""
    from gaitcompress.models import create_model

    torch.manual_seed(0)
    torch.save({"model": create_model("gaitbase_w0125", num_classes=classes).state_dict()}, path)
    return path


def test_a_file_that_is_not_a_weights_file_never_quotes_torchs_advice(capsys, monkeypatch, tmp_path):
    (tmp_path / "a.pt").write_text("x\n")
    text = _error(capsys, monkeypatch, "info", str(tmp_path / "a.pt"))
    assert "not a PyTorch weights file gaitcompress can read" in text and "weights_only" not in text, text
    torch.save({"model": {"w": torch.zeros(1)}, "code": Path("x")}, tmp_path / "pickled.pt")  # needs unpickling
    text = _error(capsys, monkeypatch, "info", str(tmp_path / "pickled.pt"))
    assert "weights_only" not in text and "WeightsUnpickler" not in text, text
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07onnx")
    text = _error(capsys, monkeypatch, "eval", TEACHER, "--checkpoint", str(tmp_path / "m.onnx"))
    assert "gaitcompress info reads an ONNX file" in text and "weights_only" not in text, text


def test_eval_and_ptq_take_the_class_count_from_the_checkpoint_qat_names_the_data(capsys, monkeypatch, tmp_path, tiny):
    ckpt = _opengait(tmp_path / "ids8.pt", classes=8)  # trained on 8 ids; the tiny data has 4
    code, text = _main(capsys, monkeypatch, "eval", STUDENT, "--checkpoint", str(ckpt), *tiny)
    assert code == 0 and "mean@R1" in text, text
    quant = [f"quant.checkpoint={ckpt}", "quant.model_name=gaitbase_w0125"]
    code, text = _main(capsys, monkeypatch, "quantize", QGAIT8, *tiny, *quant, "quant.method=ptq",
                       "quant.calib_sequences=4", f"run_dir={tmp_path / 'q'}")  # fmt: skip
    assert code == 0, text
    text = _error(capsys, monkeypatch, "quantize", QGAIT8, *tiny, *quant, *QAT_TINY, f"run_dir={tmp_path / 'qat'}")
    assert "class count (8 vs 4)" in text and "trained on 8 identities" in text and "data.root=" in text, text


def test_a_qat_checkpoint_given_as_quant_checkpoint_names_the_key_and_its_fp32_origin(
    capsys, monkeypatch, tmp_path, tiny
):
    fp32 = _opengait(tmp_path / "fp32.pt", classes=4)
    quant = [*tiny, "quant.model_name=gaitbase_w0125"]
    code, text = _main(capsys, monkeypatch, "quantize", QGAIT8, *quant, *QAT_TINY, f"quant.checkpoint={fp32}",
                       f"run_dir={tmp_path / 'q'}")  # fmt: skip
    assert code == 0, text
    qat = tmp_path / "q" / "final.pt"
    for recipe in (STUDENT, QGAIT8):  # eval loads any kind, with the training or the quantize recipe
        code, text = _main(capsys, monkeypatch, "eval", recipe, "--checkpoint", str(qat), *tiny)
        assert code == 0 and "mean@R1" in text, text
    for method in ("quant.method=lsq", "quant.method=ptq"):
        text = _error(capsys, monkeypatch, "quantize", QGAIT8, *quant, *QAT_TINY, method, f"quant.checkpoint={qat}",
                      f"run_dir={tmp_path / 'again'}")  # fmt: skip
        assert "is a QAT checkpoint (kind qat): quant.checkpoint needs an FP32 one" in text, text
        assert f"quant.checkpoint={fp32}" in text and "--format int8" in text, text


def test_eval_on_a_test_split_with_gallery_only_is_an_error_not_an_empty_table(
    capsys, monkeypatch, tmp_path, tiny, data_dir
):
    import shutil

    ckpt = _opengait(tmp_path / "m.pt", classes=4)
    code, text = _main(capsys, monkeypatch, "eval", STUDENT, "--checkpoint", str(ckpt), *tiny)  # generates the data
    assert code == 0, text
    (generated,) = data_dir.glob("synthgait-*")
    root = Path(shutil.copytree(generated, tmp_path / "gallery-only"))
    for probe in root.glob("00[56]/*"):  # the test ids keep their nm-01..04 gallery only
        if probe.name not in {"nm-01", "nm-02", "nm-03", "nm-04"}:
            shutil.rmtree(probe)
    text = _error(capsys, monkeypatch, "eval", STUDENT, "--checkpoint", str(ckpt), *tiny, f"data.root={root}")
    assert "no probe/gallery pairs to score" in text and "data.protocol" in text and "TEST_SET" in text, text


def test_more_loader_workers_than_cpus_are_lowered_without_pytorchs_warning(tiny):
    import logging
    import warnings

    from gaitcompress.data import DataConfig, build_test_loader, build_train_loader
    from gaitcompress.data.synthgait import SynthConfig

    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("gaitcompress.run")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO  # as the CLI's stage_run sets it
    synth = SynthConfig(ids=6, train=4, frames=8, views=(0, 90))
    cfg = DataConfig(synth=synth, input_size=(16, 11), train_frames=6, batch_p=2, batch_k=2, test_batch=8, workers=64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # PyTorch's "exceeds ... maximum number of worker" is a UserWarning
            next(iter(build_test_loader(cfg)))
            next(build_train_loader(cfg, seed=0))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert lines == [f"data.workers=64 lowered to {len(os.sched_getaffinity(0))} (the CPUs this process may use)"]


class _Clock:
    """A fake monotonic clock the test moves on."""

    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_in_a_log_is_plain_lines_every_30s_and_at_the_end():
    import io

    from rich.console import Console

    from gaitcompress.commands._common import RichTracker

    buffer, clock = io.StringIO(), _Clock()
    tracker = RichTracker(Console(file=buffer, force_terminal=False), clock=clock)
    with tracker.task("train", total=60) as step:
        for _ in range(60):
            clock.now += 1.0
            step(1, loss=0.25)
    lines = buffer.getvalue().splitlines()
    assert lines == ["train: 30/60 30s loss=0.25", "train: 60/60 60s loss=0.25"], lines
    assert "\x1b" not in buffer.getvalue()  # no terminal codes in a log
    with tracker.task("extracting features", total=8) as step:  # a short task: its end line only
        step(5)
    assert buffer.getvalue().splitlines()[2:] == ["extracting features: 5/8 0s"]


def test_progress_on_a_terminal_draws_bars_and_a_nested_task_shares_the_display():
    import io

    from rich.console import Console

    from gaitcompress.commands._common import RichTracker

    buffer = io.StringIO()
    tracker = RichTracker(Console(file=buffer, force_terminal=True, width=100))
    with tracker.task("train", total=2) as step:
        step(1)
        with tracker.task("extracting features", total=3) as inner:  # rich allows one live display: no LiveError
            inner(3)
        step(1, loss=0.5)
    assert "train" in buffer.getvalue() and "2/2" in buffer.getvalue() and tracker._progress is None


def test_train_in_a_log_shows_training_and_its_final_evaluation(capsys, monkeypatch, tmp_path, tiny):
    code, text = _main(capsys, monkeypatch, "train", STUDENT, *tiny, "train.iterations=3", "train.save_every=0",
                       "sched.milestones=[2]", f"run_dir={tmp_path / 'run'}")  # fmt: skip
    assert code == 0, text
    assert "train: 3/3 " in text and "extracting features: " in text, text
