"""gaitlab.synth_signal: the real-data reference of the GaitCrafter judge's label sensitivity."""

from __future__ import annotations

import numpy as np

from gaitcompress.data.synthgait.config import preset
from gaitcompress.data.synthgait.identity import sample_identity
from gaitcompress.data.synthgait.writer import render_sequence
from gaitlab.synth_signal import label_moves


def test_a_subject_walking_in_its_own_place_renders_the_same_bytes():
    cfg = preset("default")
    own = render_sequence(cfg, 3, "nm-01", 90)
    assert np.array_equal(render_sequence(cfg, 3, "nm-01", 90, identity=sample_identity(cfg.seed, 3)), own)
    assert not np.array_equal(render_sequence(cfg, 3, "nm-01", 90, identity=sample_identity(cfg.seed, 4)), own)


def test_every_label_moves_some_pixels_of_a_real_clip():
    moves = label_moves(ids=2, size=(32, 22), frames=4)
    assert set(moves) == {"Δid", "Δview", "Δcov", "Δnoise"}
    assert all(len(v) == 2 * 11 * 3 for v in moves.values())
    assert all(0 < np.mean(v) < 100 for v in moves.values())
