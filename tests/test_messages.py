"""Every message issue 15 found misleading, through the real entry point (`gaitcompress.cli.main`): the exit code,
one `error:` line naming the key, flag or file and the fix, and never a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from gaitcompress import __version__
from gaitcompress.cli import main
from gaitcompress.data.config import DataConfig
from gaitcompress.errors import GaitCompressError
from gaitcompress.recipe import load_recipe

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


@pytest.mark.parametrize("value", ["32", "[32]", "[32,22,1]", "big"])
def test_input_size_of_the_wrong_shape_names_the_key_and_an_example(capsys, monkeypatch, value):
    text = _error(capsys, monkeypatch, "train", TEACHER, f"data.input_size={value}")
    assert "data.input_size" in text and "list of 2 values" in text and "e.g. data.input_size=[" in text


def test_a_wrong_scalar_reads_as_english_with_an_example(capsys, monkeypatch):
    text = _error(capsys, monkeypatch, "train", TEACHER, "train.iterations=abc")
    assert "write train.iterations as an int, e.g. train.iterations=" in text and "a int" not in text
    text = _error(capsys, monkeypatch, "train", TEACHER, "optim.lr=fast")
    assert "optim.lr" in text and "e.g. optim.lr=" in text


def test_a_value_where_a_section_belongs(capsys, monkeypatch):
    text = _error(capsys, monkeypatch, "train", TEACHER, "data.augment=3")
    assert "data.augment" in text and "data.augment.<key>=value" in text


def test_info_on_an_onnx_file_reads_its_metadata_not_torch_advice(capsys, monkeypatch, tmp_path):
    from gaitcompress.export.onnx_export import InputSpec, export_onnx
    from gaitcompress.models import create_model

    onnx = export_onnx(create_model("gaitbase_w0125", num_classes=4), tmp_path / "m.onnx", "fp32", InputSpec(16, 11))
    code, text = _main(capsys, monkeypatch, "info", str(onnx))
    assert code == 0 and "traced_frames" in text and "weights_only" not in text, text
    (tmp_path / "bad.onnx").write_text("not a model")
    text = _error(capsys, monkeypatch, "info", str(tmp_path / "bad.onnx"))
    assert "not a readable ONNX model" in text and "weights_only" not in text
    text = _error(capsys, monkeypatch, "info", str(tmp_path / "missing.onnx"))
    assert "ONNX file not found" in text


def test_info_on_a_model_name_prints_the_per_layer_cost_it_promises(capsys, monkeypatch):
    code, text = _main(capsys, monkeypatch, "info", "gaitbase_w0125", "--frames", "2", "--input", "16", "11")
    assert code == 0 and "per-layer cost" in text and "layer4.0.conv2" in text, text
    text = _error(capsys, monkeypatch, "info", "gaitbsae")
    assert "no checkpoint at gaitbsae" in text and "gaitbase_w0125" in text


def test_version_and_help_without_bool_or_braces(capsys, monkeypatch):
    code, text = _main(capsys, monkeypatch, "--version")
    assert code == 0 and text.strip() == f"gaitcompress {__version__}"
    code, text = _main(capsys, monkeypatch, "train", "--help")
    assert code == 0 and "<bool>" not in text and "{recipe}" not in text, text
    assert "RECIPE [OVERRIDES]..." in text and "--resume" in text


def _partition(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps({"TRAIN_SET": ["001"], "TEST_SET": ["002"]}))


def test_the_partition_follows_the_root(tmp_path):
    root = tmp_path / "CASIA-B-pkl"
    _partition(root, "CASIA-B.json")
    recipe = load_recipe("recipes/casiab/gaitbase.yaml", [f"data.root={root}"])  # the recipe names data/…/CASIA-B.json
    assert recipe["data"]["partition"] == "CASIA-B.json"
    assert DataConfig(root=str(root), partition="CASIA-B.json", dataset="casiab").partition == str(
        root / "CASIA-B.json"
    )
    assert DataConfig(root=str(root), dataset="casiab").partition == str(root / "CASIA-B.json")  # its only JSON
    both = load_recipe("recipes/casiab/gaitbase.yaml", [f"data.root={root}", "data.partition=/x/p.json"])
    assert both["data"]["partition"] == "/x/p.json"  # named together: taken as written


def test_an_ambiguous_partition_names_both_keys(capsys, monkeypatch, tmp_path):
    root = tmp_path / "set"
    _partition(root, "a.json")
    _partition(root, "b.json")
    with pytest.raises(GaitCompressError, match="data.partition"):
        DataConfig(root=str(root), dataset="casiab")
    text = _error(capsys, monkeypatch, "train", "recipes/casiab/gaitbase.yaml", f"data.root={root}")
    assert "data.partition=CASIA-B.json" in text and f"data.root={root}" in text and "a.json" in text


def test_no_partition_at_all_says_what_to_set(capsys, monkeypatch, tmp_path):
    (tmp_path / "empty").mkdir()
    text = _error(capsys, monkeypatch, "train", TEACHER, f"data.root={tmp_path / 'empty'}", "data.dataset=mine")
    assert "no JSON file" in text and "set data.partition" in text


def test_a_checkpoint_path_that_is_not_torch_is_one_line(capsys, monkeypatch, tmp_path):
    torch.save({"model": {"w": torch.zeros(1)}}, tmp_path / "ok.pt")  # loads, but is not a gait model
    text = _error(capsys, monkeypatch, "info", str(tmp_path / "ok.pt"))
    assert "ok.pt" in text


def test_no_qat_iterations_points_at_post_training_quantization(capsys, monkeypatch):
    text = _error(capsys, monkeypatch, "quantize", "recipes/synthgait/quant_qgait8.yaml", "quant.stage1.iterations=0",
                  "quant.stage2.iterations=0")  # fmt: skip
    assert "no QAT iterations" in text and "quant.method=ptq" in text


def test_data_synth_with_few_ids_names_the_train_flag(capsys, monkeypatch, tmp_path):
    text = _error(capsys, monkeypatch, "data", "synth", "--ids", "8", "--out", str(tmp_path))
    assert "--train" in text and "--ids" in text and "train=30" not in text and "e.g. --train 4" in text
    assert not any(tmp_path.iterdir())  # nothing generated


def test_data_check_without_a_partition_names_the_flag(capsys, monkeypatch, tmp_path):
    (tmp_path / "001").mkdir()
    text = _error(capsys, monkeypatch, "data", "check", str(tmp_path))
    assert "--partition" in text and "data.partition" not in text and "partition.json" in text


def test_renamed_swaps_whole_keys_only():
    err = GaitCompressError("train=3 ≥ ids=2; data.val_ids=1, my_ids=4", "raise ids", key="train")
    new = err.renamed({"train": "--train", "ids": "--ids"})
    assert new.message == "--train 3 ≥ --ids 2; data.val_ids=1, my_ids=4" and new.hint == "raise --ids"
    assert new.key == "train"


def test_a_wrong_int8_weights_choice_names_the_choices(capsys, monkeypatch, tmp_path):
    text = _error(capsys, monkeypatch, "export", str(tmp_path / "q.pt"), "--format", "int8", "--int8-weights", "u8")
    assert "--int8-weights 'u8'" in text and "auto, signed, unsigned" in text
    text = _error(capsys, monkeypatch, "pipeline", "recipes/synthgait/pipeline_quick.yaml", "export.int8_weights=s8",
                  f"run_dir={tmp_path / 'run'}")  # fmt: skip
    assert "export.int8_weights='s8'" in text and "auto, signed, unsigned" in text
    assert not (tmp_path / "run").exists()  # refused before any stage ran
