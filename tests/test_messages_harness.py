"""Issue 15 messages of the checkpoint, evaluation and progress code, through the real entry point
(`gaitcompress.cli.main`): one `error:` line naming the file, key or flag and the fix, never a traceback; progress
that reads in a log file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from gaitcompress.cli import main

TEACHER = "recipes/synthgait/teacher_quick.yaml"


def _main(capsys, monkeypatch, *args: str) -> tuple[int, str]:
    """Run `gaitcompress ARGS` in this process; (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["gaitcompress", *args])
    monkeypatch.delenv("GAITCOMPRESS_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as done:
        main()
    captured = capsys.readouterr()
    code = done.value.code if isinstance(done.value.code, int) else 1
    return code, captured.out + captured.err


def _error(capsys, monkeypatch, *args: str) -> str:
    code, text = _main(capsys, monkeypatch, *args)
    assert code == 1, text
    assert "Traceback" not in text and "error:" in text, text
    return " ".join(text.split())  # rich wraps at the terminal width


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
