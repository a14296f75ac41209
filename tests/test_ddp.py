"""Data-parallel training under a real ``torchrun`` (2 processes, gloo, CPU) equals one process.

The comparison run is ONE process with gradient accumulation 2 and the same global batch of 4: its two
micro-batches are exactly the two ranks' shares (the loop's data plan puts slot rank·A + micro in the same
place either way, and reseeds the view generator per slot), so each micro-batch's BatchNorm statistics
equal one rank's, and the accumulated mean gradient equals the ranks' all-reduced mean. The final online
and target parameters must then agree to float tolerance (summation order differs). BatchNorm running
statistics are not compared: rank 0's are broadcast each step, while the single process updates them
once per micro-batch.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.engine import load_checkpoint

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[1]

TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=8",
        "loop.batch_size=4", "loop.max_steps=2", "loop.checkpoint_every=2", "collapse.enabled=false",
        "loop.channels_last=false", "loop.device=cpu"]


def _torchrun(run_dir: Path, config: str, items: list[str]) -> None:
    """``sspd pretrain CONFIG`` with the settings ``items`` under a real torchrun: 2 processes, gloo, CPU."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "sspd", "pretrain", config, "--no-progress",
               *[arg for item in [*items, f"run_dir={run_dir}"] for arg in ("--set", item)]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_rank_gloo_run_equals_one_process_with_accumulation(tmp_path):
    _torchrun(tmp_path / "ddp", str(ROOT / "experiments" / "synthetic_demo.yaml"), TINY)
    torch.set_num_threads(1)
    single = load_config(RunConfig, None, [*TINY, "optim.accumulation=2", f"run_dir={tmp_path / 'one'}"])
    assert pretrain(single).stop_reason == "completed"

    ddp = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    one = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")
    assert ddp["step"] == one["step"] == 2
    for which in ("online", "target"):
        params = dict(torch.nn.Module.named_parameters(_rebuilt(ddp, which)))
        for name, value in _rebuilt(one, which).named_parameters():
            torch.testing.assert_close(params[name], value, rtol=1e-4, atol=1e-6, msg=f"{which} {name}")
    start = _rebuilt(one, "online", initial=True)
    moved = [n for n, p in _rebuilt(one, "online").named_parameters()
             if not torch.equal(p, dict(start.named_parameters())[n])]
    assert moved  # the comparison is not between two untrained networks


def _rebuilt(checkpoint: dict, which: str, initial: bool = False) -> torch.nn.Module:
    from sspd.engine import build_network
    from sspd.engine.seeding import derive_seed

    torch.manual_seed(derive_seed(checkpoint["config"]["seed"], "init"))
    network = build_network(checkpoint["network"])
    if not initial:
        network.load_state_dict(checkpoint[which])
    return network


def test_contrast_phys_under_two_ranks_equals_one_process_with_accumulation(tmp_path):
    """Contrast-Phys (no target) under torchrun: each rank pairs the videos of its own share of the batch and
    draws its windows from the slot's reseeded generator, as the accumulating single process does."""
    objective = ["objective.name=contrast-phys", "model.head=st_rppg"]
    config = str(ROOT / "experiments" / "synthetic_contrast_phys.yaml")
    _torchrun(tmp_path / "ddp", config, [*TINY, *objective])
    torch.set_num_threads(1)
    single = load_config(RunConfig, config, [*TINY, *objective, "optim.accumulation=2", f"run_dir={tmp_path / 'one'}"])
    assert pretrain(single).stop_reason == "completed"
    ddp = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    one = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")
    assert ddp["target"] is None and one["target"] is None
    params = dict(torch.nn.Module.named_parameters(_rebuilt(ddp, "online")))
    start = dict(_rebuilt(one, "online", initial=True).named_parameters())
    moved = 0
    for name, value in _rebuilt(one, "online").named_parameters():
        torch.testing.assert_close(params[name], value, rtol=1e-4, atol=1e-6, msg=name)
        moved += not torch.equal(value, start[name])
    assert moved


def test_a_restart_under_two_ranks_equals_one_process_with_accumulation(tmp_path):
    """Rank 0's health check decides the restart and broadcasts it with the stop decision: both ranks take the
    same new weights at the same step, so the run still equals one process, which restarts at the same check
    (a rank left on the old weights would send the all-reduce gradients of another network)."""
    items = [*[s for s in TINY if not s.startswith(("collapse.enabled", "loop.max_steps"))], "loop.max_steps=4",
             "collapse.every_n_steps=2", "collapse.min_clips=4", "collapse.health_clips=2",
             "collapse.health_seconds=2.0", "probe.every_n_steps=0", "collapse.restart_after=2"]
    _torchrun(tmp_path / "ddp", str(ROOT / "experiments" / "synthetic_demo.yaml"), items)
    torch.set_num_threads(1)
    assert pretrain(load_config(RunConfig, None, [*items, "optim.accumulation=2",
                                                  f"run_dir={tmp_path / 'one'}"])).stop_reason == "completed"
    ddp = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    one = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")
    assert [r["step"] for r in ddp["health"]["restarts"]] == [r["step"] for r in one["health"]["restarts"]] == [2]
    for which in ("online", "target"):
        params = dict(torch.nn.Module.named_parameters(_rebuilt(ddp, which)))
        for name, value in _rebuilt(one, which).named_parameters():
            torch.testing.assert_close(params[name], value, rtol=1e-4, atol=1e-6, msg=f"{which} {name}")
