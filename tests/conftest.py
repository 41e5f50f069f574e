"""Suite-wide settings: one intra-op thread per test process.

CI runs `pytest -n 2` on two cores; torch's default of one thread per core in each worker oversubscribes
the machine (measured: test_models.py 85 s with default threads vs 9.5 s with one, under load).
"""

import os

import pytest
import torch
from typer.testing import CliRunner

from gaitcompress.cli import _register

os.environ.setdefault("COLUMNS", "200")  # rich tables printed by CLI tests are not truncated

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    """A CLI runner whose SynthGait cache is a fresh temporary folder (tests never touch ./data)."""
    data = tmp_path_factory.mktemp("data")
    old = os.environ.get("GAITCOMPRESS_DATA")
    os.environ["GAITCOMPRESS_DATA"] = str(data)
    _register()
    yield CliRunner()
    if old is None:
        os.environ.pop("GAITCOMPRESS_DATA")
    else:
        os.environ["GAITCOMPRESS_DATA"] = old
