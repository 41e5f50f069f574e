"""Stage caching for the pipeline: a stage's output is reused while its resolved recipe is unchanged.

Each stage gets a key = sha256 of its resolved recipe section plus the keys of the stages it reads
from, so changing a stage changes its key and the key of everything after it. `pipeline.json` in the
run folder records, per stage, the key, the status (`running` until the stage returns, then `done`)
and its outputs. On a re-run:

- same key, `done`     → skipped, outputs reused;
- same key, `running`  → the stage was interrupted: it runs again in the same folder and resumes from
  its last checkpoint (the training engine's `--resume`);
- different key        → the old stage folder is moved aside (`<stage>.stale-<key>`), never deleted,
  and the stage runs from scratch.
The state file is written atomically, so an interrupt can never leave it half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def stage_key(section: Any, upstream: Sequence[str] = ()) -> str:
    """Stable 16-hex-digit key of a recipe section and its upstream stage keys."""
    text = json.dumps({"section": section, "upstream": list(upstream)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class StageCache:
    """The record of which pipeline stages are done, in `<run_dir>/pipeline.json`."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "pipeline.json"
        self.state: dict[str, dict[str, Any]] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def _write(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        os.replace(tmp, self.path)

    def done(self, name: str, key: str) -> Mapping[str, Any] | None:
        """The outputs of stage `name` if it finished with this key, else None."""
        rec = self.state.get(name)
        return rec["outputs"] if rec and rec["key"] == key and rec["status"] == "done" else None

    def begin(self, name: str, key: str, fresh: bool = False) -> tuple[Path, bool]:
        """Mark `name` running; returns (its folder, whether to resume an interrupted run).

        `fresh` (a `--redo`, or outputs gone from disk): the old folder is moved aside and the stage starts over.
        """
        folder = self.run_dir / name
        rec = self.state.get(name)
        resume = bool(rec and rec["key"] == key and rec["status"] == "running" and folder.exists() and not fresh)
        if folder.exists() and (rec is None or rec["key"] != key or fresh):  # None: a folder pipeline.json never made
            stale = self.run_dir / f"{name}.stale-{rec['key'] if rec else 'unrecorded'}"
            if stale.exists():
                shutil.rmtree(stale)
            folder.rename(stale)
        self.state[name] = {"key": key, "status": "running", "outputs": {}}
        self._write()
        return folder, resume

    def finish(self, name: str, key: str, outputs: Mapping[str, Any]) -> None:
        """Mark `name` done with its outputs (paths as strings, metrics file, ...)."""
        self.state[name] = {"key": key, "status": "done", "outputs": dict(outputs)}
        self._write()
