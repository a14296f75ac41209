"""Step time of data-parallel pretraining: 2 torchrun processes (gloo, DistributedDataParallel) against one
process doing the same global batch in 2 accumulated micro-batches, measured in the same run.

Both runs train the same network on the same clips (``sspd pretrain`` on the embedded synthetic data, the
collapse monitor and the online probe off, no checkpoint before the end): the one process with
--threads torch threads, each of the 2 ranks with --threads / 2, so both use the same cores. The step
time is the median gap between consecutive lines of metrics.jsonl (one per optimiser step), after
--warmup steps. On CPU the ranks compete for the same cores, so the figure measures the overhead of the
bucketed all-reduce and of two processes, not a speed-up; on GPUs each rank has its own device.

Usage: python benchmarks/ddp_step.py [--steps 12] [--batch 4] [--backbone sspdnet] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _settings(args: argparse.Namespace, run_dir: Path) -> list[str]:
    size = {"sspdnet": (66, 72), "physnet": (32, 36)}[args.backbone]
    items = [f"model.backbone={args.backbone}", f"model.input_size={size[0]}", f"data.box_size={size[1]}",
             f"data.frames={args.frames}", f"data.clips={args.batch * (args.steps + 1)}",
             f"loop.batch_size={args.batch}", f"loop.max_steps={args.steps}",
             f"loop.checkpoint_every={args.steps}", "collapse.enabled=false", "probe.every_n_steps=0",
             "loop.device=cpu", "logging.images_every_n_steps=100000",
             "logging.histograms_every_n_steps=100000", f"run_dir={run_dir}"]
    return [arg for item in items for arg in ("--set", item)]


def _run(command: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} ... failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def _cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one)."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _step_seconds(run_dir: Path, warmup: int) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    times = [row["time"] for row in rows if row["step"] > warmup]
    return [b - a for a, b in zip(times, times[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="optimiser steps per run (default 12)")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the median")
    parser.add_argument("--batch", type=int, default=4, help="global batch (clips per step, default 4)")
    parser.add_argument("--frames", type=int, default=64, help="difference frames per clip (default 64)")
    parser.add_argument("--backbone", default="sspdnet", choices=("sspdnet", "physnet"))
    parser.add_argument("--threads", type=int, default=2, help="torch threads in all (default 2)")
    args = parser.parse_args()
    if args.batch % 2 or args.steps <= args.warmup + 2 or args.threads < 2:
        parser.error("--batch must be even, --steps > --warmup + 2 and --threads >= 2")

    config = str(ROOT / "experiments" / "synthetic_demo.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        one_dir, two_dir = Path(tmp) / "one", Path(tmp) / "two"
        one = [sys.executable, "-m", "sspd", "pretrain", config, "--no-progress",
               *_settings(args, one_dir), "--set", "optim.accumulation=2"]
        two = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "sspd", "pretrain", config, "--no-progress", *_settings(args, two_dir)]
        wall_one = _run(one, args.threads)
        wall_two = _run(two, args.threads // 2)
        one_steps, two_steps = _step_seconds(one_dir, args.warmup), _step_seconds(two_dir, args.warmup)
    median_one, median_two = statistics.median(one_steps), statistics.median(two_steps)
    print(f"data-parallel step: {args.backbone}, global batch {args.batch}, {args.frames} frames, fp32, CPU "
          f"({_cpu_name()}, {os.cpu_count()} cores), {args.threads} torch "
          f"threads in all; median of {len(one_steps)} steps after {args.warmup} warm-up steps")
    print(f"{'run':<46}{'step s':>9}{'run wall s':>12}")
    print(f"{'1 process, 2 accumulated micro-batches':<46}{median_one:>9.3f}{wall_one:>12.1f}")
    print(f"{'2 processes (torchrun, gloo, DDP)':<46}{median_two:>9.3f}{wall_two:>12.1f}")
    print(f"2-process step / 1-process step: {median_two / median_one:.2f}")


if __name__ == "__main__":
    main()
