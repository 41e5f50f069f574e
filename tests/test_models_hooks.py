"""`forward_with_hooks`: hooks see one eval forward without grad and are gone afterwards, even after an error."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gaitcompress.models.hooks import forward_with_hooks


def test_hooks_run_once_then_are_removed_even_on_error() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.9)).train()
    seen = []
    out = forward_with_hooks(model, [(model[0], lambda m, i, o: seen.append(o.requires_grad))], torch.ones(4, 3))
    assert seen == [False] and not model.training and out.shape == (4, 2)
    model(torch.ones(1, 3))
    assert seen == [False]  # removed after the forward

    def boom(m, i, o):
        raise RuntimeError("probe failed")

    with pytest.raises(RuntimeError, match="probe failed"):
        forward_with_hooks(model, [(model[0], boom)], torch.ones(1, 3))
    model(torch.ones(1, 3))  # the failing hook is gone too
