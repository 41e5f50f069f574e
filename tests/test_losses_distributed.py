"""Triplet loss under a real 2-process gloo group: global batch mined, gradient to the local slice."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gaitcompress.train.losses import TripletLoss, gather_for_triplet


def _batches() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return torch.randn(8, 3, 2), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])


def _worker(rank: int, init: str, results) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        emb_all, labels_all = _batches()
        local = emb_all[4 * rank : 4 * rank + 4].clone().requires_grad_()
        _, labels = gather_for_triplet(local, labels_all[4 * rank : 4 * rank + 4])
        loss, _ = TripletLoss(margin=0.2)(local, labels_all[4 * rank : 4 * rank + 4])  # gathers inside
        loss.backward()
        results.put((rank, labels.tolist(), loss.item(), local.grad.tolist()))  # plain data: no shared memory
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_gather_for_triplet_two_ranks(tmp_path):
    ctx = mp.get_context("fork")  # fork: the workers need not re-import torch
    results = ctx.SimpleQueue()
    mp.start_processes(_worker, args=(f"file://{tmp_path / 'pg'}", results), nprocs=2, start_method="fork")
    by_rank = {}
    for _ in range(2):
        rank, *rest = results.get()
        by_rank[rank] = rest
    emb_all, labels_all = _batches()
    full = emb_all.clone().requires_grad_()
    loss, _ = TripletLoss(margin=0.2, gather=False)(full, labels_all)
    loss.backward()
    for rank in (0, 1):
        labels, rank_loss, grad = by_rank[rank]
        assert labels == labels_all.tolist()  # every rank sees the global batch in rank order
        assert rank_loss == pytest.approx(loss.item(), rel=1e-6)
        # the local slice carries the gradient, scaled by the world size so that DDP's mean over ranks
        # reproduces the single-process gradient on the global batch
        torch.testing.assert_close(torch.tensor(grad), 2 * full.grad[4 * rank : 4 * rank + 4])
