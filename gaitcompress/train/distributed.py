"""DistributedDataParallel under `torchrun`, and the single-process case with the same interface.

`torchrun --nproc_per_node=N -m gaitcompress.cli train ...` sets RANK / WORLD_SIZE / LOCAL_RANK; `init_distributed`
then joins the process group (NCCL on CUDA, gloo on CPU). Without those variables everything runs in one process
and no process group exists, so library code asks the returned `DistContext` instead of `torch.distributed`.
Only rank 0 writes files (checkpoints, logs, metrics).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from gaitcompress.errors import GaitCompressError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' → CUDA when available else CPU; 'cuda' without a GPU is a user error."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise GaitCompressError("train.device=cuda but no CUDA device is visible", "use train.device=auto or cpu")
    return torch.device("cuda", local_rank)


def init_distributed(device: str = "auto") -> DistContext:
    """Join the `torchrun` process group when launched by it; otherwise a one-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's `obj`, in rank order (a one-element list without a process group)."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def wrap_ddp(module: nn.Module, ctx: DistContext) -> nn.Module:
    """DistributedDataParallel around `module` when distributed; the module itself otherwise."""
    if not ctx.distributed:
        return module
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)
