"""Training logs: `log.jsonl` (one JSON object per logged iteration) and, when available, TensorBoard events.

Each JSONL row is `{"iteration", "loss", <each loss term>, "lr", "it_s", ...}` (metrics rows carry the metric names
instead). Resuming from iteration i drops rows past i first, so the log of a resumed run reads exactly like the log
of an uninterrupted one. Only rank 0 constructs a writer; the others get `enabled=False` and write nothing.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from gaitcompress.checkpoints import atomic_write_text

LOG_FILE = "log.jsonl"


class RunLogger:
    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = True, start: int = 0) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / LOG_FILE
        self._tb = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._truncate(start)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional at run time
                warnings.warn("tensorboard is not installed: writing log.jsonl only", stacklevel=2)
            else:
                self._tb = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=start + 1 if start else None)

    def _truncate(self, start: int) -> None:
        """Keep only rows up to iteration `start` (the checkpoint a resumed run continues from)."""
        if not self.path.is_file():
            return
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
            if row.get("iteration", 0) <= start:
                rows.append(line)
        atomic_write_text("".join(r + "\n" for r in rows), self.path)

    def log(self, iteration: int, scalars: dict[str, Any], prefix: str = "train") -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({"iteration": iteration, **scalars}) + "\n")
        if self._tb is not None:
            for key, value in scalars.items():
                if isinstance(value, (int, float)):
                    self._tb.add_scalar(f"{prefix}/{key}", value, iteration)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a run's log.jsonl."""
    path = Path(run_dir) / LOG_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
