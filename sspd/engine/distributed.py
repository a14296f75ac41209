"""Distributed helpers that work the same with and without ``torch.distributed`` initialised.

Without a process group every helper answers as the only process of a world of one (rank 0, reductions
return their input), so the engine's code reads the same on a laptop and under ``torchrun``:

    init_distributed_from_env()          # torchrun's env vars → process group (gloo on CPU, nccl on GPUs)
    model = maybe_convert_sync_batchnorm(model, enabled=config.sync_batchnorm)
    loss_mean = all_reduce_mean(loss.detach())
    if is_main_process(): ...            # logs and checkpoints on rank 0 only

Data order under DDP: :func:`shard_indices` gives exactly the indices that
``torch.utils.data.DistributedSampler(num_replicas=world_size, rank=rank, seed=seed, shuffle=...,
drop_last=...)`` yields after ``set_epoch(epoch)``, as a pure function (no sampler object, no process
group), so the sampler and this function can be used interchangeably.
"""
from __future__ import annotations

import datetime
import logging
import math
import os
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = [
    "DistributedConfig",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "init_distributed_from_env",
    "barrier",
    "all_reduce_mean",
    "all_ranks_true",
    "broadcast_object",
    "maybe_convert_sync_batchnorm",
    "shard_indices",
]

log = logging.getLogger(__name__)


@dataclass
class DistributedConfig:
    """Multi-process training under torchrun (gloo on CPU, NCCL on GPUs, chosen automatically).

    Attributes:
        sync_batchnorm: batch statistics over the global batch (torch supports it on CUDA only).
        backend: ``gloo``, ``nccl`` or null (choose by device).
        timeout_s: collective timeout.
    """

    sync_batchnorm: bool = False
    backend: str | None = None
    timeout_s: int = 1800

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _initialised() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's rank in the default process group; 0 when none is initialised."""
    return dist.get_rank() if _initialised() else 0


def get_world_size() -> int:
    """Processes in the default process group; 1 when none is initialised."""
    return dist.get_world_size() if _initialised() else 1


def is_main_process() -> bool:
    """True on rank 0 (and in a single process): the process that logs and writes checkpoints."""
    return get_rank() == 0


def init_distributed_from_env(backend: str | None = None, timeout_s: float = 1800.0) -> bool:
    """Initialise the default process group from torchrun's environment variables.

    Does nothing (returns False) when ``WORLD_SIZE`` is not set, i.e. in a plain ``python`` process,
    and returns True at once when a process group already exists.

    Args:
        backend: ``"gloo"``, ``"nccl"`` or ``"mpi"``; None picks nccl when CUDA is available, else gloo.
            With nccl the current CUDA device is set to ``LOCAL_RANK`` (one GPU per process).
        timeout_s: seconds a collective may wait for the other ranks before failing.

    Returns:
        True if a process group is initialised on return.
    """
    if _initialised():
        return True
    if "WORLD_SIZE" not in os.environ:
        return False
    missing = [name for name in _TORCHRUN_VARS if name not in os.environ]
    if missing:
        raise ValueError(f"init_distributed_from_env: WORLD_SIZE is set but {', '.join(missing)} is not; "
                         "start the run with torchrun (which sets all of "
                         f"{', '.join(_TORCHRUN_VARS)}) or unset WORLD_SIZE for a single process")
    backend = _choose_backend(backend)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend=backend, init_method="env://",
                            timeout=datetime.timedelta(seconds=timeout_s))
    log.info("process group initialised: rank %d of %d, backend %s", get_rank(), get_world_size(), backend)
    return True


def _choose_backend(backend: str | None) -> str:
    if backend is None:
        return "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("gloo", "nccl", "mpi"):
        raise ValueError(f"init_distributed_from_env: backend must be 'gloo', 'nccl' or 'mpi' (or None to "
                         f"choose), got {backend!r}")
    if backend == "nccl" and not torch.cuda.is_available():
        raise ValueError("init_distributed_from_env: backend 'nccl' needs CUDA GPUs and none is available; "
                         "use backend 'gloo' (or None) on CPU")
    return backend


def barrier() -> None:
    """Wait until every rank gets here; a no-op without a process group."""
    if _initialised():
        dist.barrier()


def all_reduce_mean(tensor: Tensor) -> Tensor:
    """The element-wise mean of ``tensor`` over all ranks, as a new tensor (the input is unchanged).

    Args:
        tensor: a floating-point tensor of the same shape on every rank, on the backend's device (a
            CUDA tensor under nccl).

    Returns:
        A tensor of the input's shape; a copy of the input without a process group.
    """
    if not tensor.is_floating_point():
        raise ValueError(f"all_reduce_mean needs a floating-point tensor, got {tensor.dtype}: "
                         "convert it with .float() first")
    reduced = tensor.detach().clone()
    if _initialised():
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        reduced /= dist.get_world_size()
    return reduced


def all_ranks_true(flag: bool) -> bool:
    """True only if ``flag`` is True on every rank (e.g. "this step's loss is finite everywhere").

    Ranks must agree on skipping a step: a rank that skipped backward while the others ran it would
    leave DDP's gradient all-reduce waiting forever.
    """
    if not _initialised():
        return bool(flag)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (any picklable object); ``obj`` itself without a group."""
    if not _initialised():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def maybe_convert_sync_batchnorm(model: nn.Module, enabled: bool) -> nn.Module:
    """Replace every BatchNorm layer with SyncBatchNorm when ``enabled`` and more than one rank runs.

    SyncBatchNorm computes batch statistics over the global batch instead of each rank's share,
    which matters when the per-rank batch is small. Call before wrapping the model in DDP. torch's
    SyncBatchNorm runs on GPUs only, so a multi-process run without CUDA fails here rather than at
    the first forward.

    Returns:
        The converted model, or ``model`` itself when disabled or in a world of one.
    """
    if not enabled:
        return model
    if get_world_size() == 1:
        log.info("sync_batchnorm requested in a single process: BatchNorm layers left as they are")
        return model
    if not torch.cuda.is_available():
        raise ValueError("sync_batchnorm needs CUDA GPUs (torch's SyncBatchNorm does not run on CPU); "
                         "turn it off for CPU (gloo) runs, where each rank normalises with its own batch")
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def shard_indices(n: int, rank: int, world_size: int, seed: int = 0, epoch: int = 0, shuffle: bool = True,
                  drop_last: bool = False) -> list[int]:
    """This rank's sample indices for one epoch; the same as torch's ``DistributedSampler``.

    The epoch's order is a permutation of ``range(n)`` drawn from a torch generator seeded with
    ``seed + epoch`` (identical on every rank), or the identity without ``shuffle``. It is then made
    divisible by ``world_size``: padded by repeating its first indices, or with ``drop_last`` cut to
    a multiple. Rank r takes every ``world_size``-th index starting at r, so the shards are disjoint
    (up to the padding) and together cover every index.

    Args:
        n: dataset length, > 0.
        rank, world_size: 0 <= rank < world_size.
        seed, epoch: non-negative ints; pass a seed derived from the run seed (see
            :func:`sspd.engine.seeding.derive_seed`) so the data order follows the run seed.
        shuffle: permute the indices every epoch.
        drop_last: drop the tail instead of padding (needs n >= world_size).

    Returns:
        ceil(n / world_size) indices (floor with ``drop_last``).
    """
    _check_shard_args(n, rank, world_size, seed, epoch, drop_last)
    if shuffle:
        generator = torch.Generator().manual_seed(seed + epoch)
        order = torch.randperm(n, generator=generator).tolist()
    else:
        order = list(range(n))
    if drop_last:
        order = order[: (n // world_size) * world_size]
    else:
        total = math.ceil(n / world_size) * world_size
        padding = total - n
        order += (order * math.ceil(padding / n))[:padding]  # repeats the start, as DistributedSampler does
    return order[rank::world_size]


def _check_shard_args(n: int, rank: int, world_size: int, seed: int, epoch: int, drop_last: bool) -> None:
    for name, value, low in (("n", n, 1), ("world_size", world_size, 1), ("rank", rank, 0),
                             ("seed", seed, 0), ("epoch", epoch, 0)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
            raise ValueError(f"shard_indices: {name} must be an int >= {low}, got {value!r}")
    if rank >= world_size:
        raise ValueError(f"shard_indices: rank must be < world_size={world_size}, got {rank}")
    if drop_last and n < world_size:
        raise ValueError(f"shard_indices: drop_last with n={n} < world_size={world_size} leaves every rank "
                         "empty; use drop_last=False (pads by repeating) or a larger dataset")
