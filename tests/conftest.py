"""Suite-wide settings: one intra-op thread per test process.

CI runs `pytest -n 2` on two cores; torch's default of one thread per core in each worker oversubscribes
the machine (measured: test_models.py 85 s with default threads vs 9.5 s with one, under load).
"""

import os

import torch

os.environ.setdefault("COLUMNS", "200")  # rich tables printed by CLI tests are not truncated

torch.set_num_threads(1)
