import pytest
import torch

from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation import pairwise_distance


def _reference(x: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    """Per-part distances the slow way: one cdist / cosine matrix per part, then the mean."""
    per_part = []
    for p in range(x.shape[2]):
        a, b = x[:, :, p].double(), y[:, :, p].double()
        if metric == "euc":
            per_part.append(torch.cdist(a, b))
        else:
            per_part.append(1 - torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T)
    return torch.stack(per_part).mean(0).float()


@pytest.mark.parametrize("metric", ["euc", "cos"])
def test_matches_per_part_reference_and_is_block_independent(metric):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 5, 3, generator=g), torch.randn(11, 5, 3, generator=g)
    full = pairwise_distance(x, y, metric, block=512)
    assert full.shape == (7, 11) and full.dtype == torch.float32
    torch.testing.assert_close(full, _reference(x, y, metric), rtol=1e-5, atol=1e-5)
    for block in (1, 2, 3, 6):
        torch.testing.assert_close(pairwise_distance(x, y, metric, block=block), full, rtol=0, atol=1e-6)


def test_euclidean_hand_case():
    # two parts: part distances 5 (3-4-5 triangle) and 0 → mean 2.5; identical rows → exactly 0
    x = torch.tensor([[[0.0, 1.0], [0.0, 2.0]]])  # [1, C=2, P=2]
    y = torch.tensor([[[3.0, 1.0], [4.0, 2.0]], [[0.0, 1.0], [0.0, 2.0]]])  # [2, 2, 2]
    assert pairwise_distance(x, y).tolist() == [[2.5, 0.0]]


def test_cosine_hand_case():
    x = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])  # parts (1,0) and (1,0)
    y = torch.tensor([[[0.0, 2.0], [1.0, 0.0]]])  # parts (0,1) and (2,0): cos 0 and 1
    assert pairwise_distance(x, y, "cos").tolist() == [[0.5]]


def test_bad_input_is_a_clear_error():
    with pytest.raises(GaitCompressError, match="unknown distance metric"):
        pairwise_distance(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), "l1")
    with pytest.raises(GaitCompressError, match=r"\[N, C, P\]"):
        pairwise_distance(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))
