import json
import os
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DistributedSampler

from sspd.engine.distributed import (all_ranks_true, all_reduce_mean, barrier, broadcast_object, get_rank,
                                     get_world_size, init_distributed_from_env, is_main_process,
                                     maybe_convert_sync_batchnorm, shard_indices)

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def no_torchrun_env(monkeypatch):
    for name in _TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_single_process_answers_as_a_world_of_one(no_torchrun_env):
    assert init_distributed_from_env() is False and not dist.is_initialized()
    assert (get_rank(), get_world_size(), is_main_process()) == (0, 1, True)
    barrier()
    x = torch.tensor([1.0, -2.0])
    mean = all_reduce_mean(x)
    assert torch.equal(mean, x) and mean.data_ptr() != x.data_ptr()
    obj = {"a": [1, 2]}
    assert broadcast_object(obj) is obj
    assert all_ranks_true(True) is True and all_ranks_true(False) is False
    model = nn.Sequential(nn.Conv1d(2, 2, 1), nn.BatchNorm1d(2))
    assert maybe_convert_sync_batchnorm(model, enabled=True) is model
    assert maybe_convert_sync_batchnorm(model, enabled=False) is model


def test_all_reduce_mean_needs_floats():
    with pytest.raises(ValueError, match="floating-point tensor, got torch.int64"):
        all_reduce_mean(torch.tensor([1, 2]))


def test_init_errors(no_torchrun_env):
    no_torchrun_env.setenv("WORLD_SIZE", "2")
    no_torchrun_env.setenv("RANK", "0")
    with pytest.raises(ValueError, match="LOCAL_RANK, MASTER_ADDR, MASTER_PORT is not"):
        init_distributed_from_env()
    for name, value in (("LOCAL_RANK", "0"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "1")):
        no_torchrun_env.setenv(name, value)
    with pytest.raises(ValueError, match="backend must be 'gloo', 'nccl' or 'mpi'"):
        init_distributed_from_env(backend="tcp")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'nccl' needs CUDA GPUs"):
            init_distributed_from_env(backend="nccl")
    assert not dist.is_initialized()


@pytest.mark.parametrize("n,world,shuffle,drop_last,seed,epoch", [
    (10, 3, True, False, 0, 0), (10, 3, True, True, 5, 2), (10, 3, False, False, 0, 0),
    (2, 4, True, False, 1, 1), (7, 7, True, False, 0, 3), (12, 4, False, True, 0, 0), (1, 3, False, False, 0, 0),
])
def test_shard_indices_equal_distributed_sampler(n, world, shuffle, drop_last, seed, epoch):
    for rank in range(world):
        sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed,
                                     drop_last=drop_last)
        sampler.set_epoch(epoch)
        assert shard_indices(n, rank, world, seed=seed, epoch=epoch, shuffle=shuffle,
                             drop_last=drop_last) == list(sampler)


def test_shards_partition_the_dataset_and_reshuffle_each_epoch():
    shards = [shard_indices(12, r, 4, seed=3, epoch=0) for r in range(4)]
    assert sorted(i for shard in shards for i in shard) == list(range(12))  # disjoint and complete
    padded = [shard_indices(10, r, 4, seed=3, epoch=0) for r in range(4)]
    assert [len(s) for s in padded] == [3, 3, 3, 3]
    assert set(i for s in padded for i in s) == set(range(10))  # two indices repeated as padding
    dropped = [shard_indices(10, r, 4, seed=3, epoch=0, drop_last=True) for r in range(4)]
    assert [len(s) for s in dropped] == [2, 2, 2, 2] and len(set(i for s in dropped for i in s)) == 8
    assert shard_indices(100, 0, 1, seed=3, epoch=0) != shard_indices(100, 0, 1, seed=3, epoch=1)
    assert shard_indices(100, 0, 1, seed=3, epoch=1) == shard_indices(100, 0, 1, seed=3, epoch=1)


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 0, "rank": 0, "world_size": 1}, "n must be an int >= 1"),
    ({"n": 5, "rank": 2, "world_size": 2}, "rank must be < world_size=2"),
    ({"n": 5, "rank": -1, "world_size": 2}, "rank must be an int >= 0"),
    ({"n": 5, "rank": 0, "world_size": 0}, "world_size must be an int >= 1"),
    ({"n": 5, "rank": 0, "world_size": 2, "seed": -1}, "seed must be an int >= 0"),
    ({"n": 5, "rank": 0, "world_size": 2, "epoch": 1.0}, "epoch must be an int >= 0"),
    ({"n": 2, "rank": 0, "world_size": 3, "drop_last": True}, "leaves every rank empty"),
])
def test_shard_indices_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        shard_indices(**kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, port: int, out_dir: str) -> None:
    """One rank of the two-process test: torchrun's environment, then every collective helper."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    assert init_distributed_from_env(backend="gloo", timeout_s=60)
    result = {"rank": get_rank(), "world": get_world_size(), "main": is_main_process(),
              "mean": all_reduce_mean(torch.tensor([float(rank), 10.0 * rank + 1.0])).tolist(),
              "broadcast": broadcast_object({"from": rank, "values": [rank] * 3}),
              "all_true": all_ranks_true(True), "one_false": all_ranks_true(rank == 0),
              "shard": shard_indices(11, get_rank(), get_world_size(), seed=4, epoch=2)}
    try:
        maybe_convert_sync_batchnorm(nn.BatchNorm1d(2), enabled=True)
        result["sync_bn"] = "converted"
    except ValueError as err:
        result["sync_bn"] = str(err)
    barrier()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


@pytest.mark.distributed
def test_two_gloo_processes_share_means_objects_and_shards(tmp_path):
    context = mp.start_processes(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=False,
                                 start_method="spawn")
    deadline = time.monotonic() + 60.0
    try:
        while not context.join(timeout=1.0):
            if time.monotonic() > deadline:
                pytest.fail("the two gloo processes did not finish within 60 s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [(r["rank"], r["world"], r["main"]) for r in results] == [(0, 2, True), (1, 2, False)]
    assert all(r["mean"] == [0.5, 6.0] for r in results)
    assert all(r["broadcast"] == {"from": 0, "values": [0, 0, 0]} for r in results)
    assert all(r["all_true"] is True and r["one_false"] is False for r in results)
    shards = [r["shard"] for r in results]
    assert [len(s) for s in shards] == [6, 6] and set(shards[0] + shards[1]) == set(range(11))
    assert shards == [shard_indices(11, r, 2, seed=4, epoch=2) for r in range(2)]
    expected_bn = "converted" if torch.cuda.is_available() else "needs CUDA GPUs"
    assert all(expected_bn in r["sync_bn"] for r in results)

