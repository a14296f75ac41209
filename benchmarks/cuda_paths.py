"""The CUDA paths of pretraining, run for real and timed: fp32 (with deterministic kernels, the default, and
without), bf16 autocast, fp16 with the grad scaler, a larger batch, data workers, torchrun with NCCL, and two
ranks with SyncBatchNorm; the 2-core CPU step as the reference, measured in the same run on the same machine.

Every variant is ``sspd pretrain`` on the library's CPU recipe (experiments/synthetic_cpu.yaml: SSPD-Net at
width 0.25, 64-frame clips, batch 4, synthetic clips rendered on the fly) for --steps steps, the collapse
monitor and the online probe off, one checkpoint at the end. The step time is the median gap between
consecutive lines of metrics.jsonl after --warmup steps (it includes rendering the batch: with data.workers 0
the main process renders it). Each row also gives the mean total loss of the last 10 steps (precisions should
agree in size, not in value), the steps the guard or the grad scaler skipped, and under fp16 the grad
scaler's final scale. A variant that fails prints the end of its error and the others go on.

Two ranks on one GPU: NCCL refuses two ranks on the same device, so that row uses gloo (which all-reduces
CUDA tensors) to run DistributedDataParallel and SyncBatchNorm's cross-rank statistics on a single GPU.

Usage: python benchmarks/cuda_paths.py [--steps 40] [--warmup 5] [--cpu-steps 6] [--only fp32,fp16]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ddp_step import _cpu_name, _step_seconds

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
# name -> (device, precision, batch, processes, extra run-config settings)
VARIANTS = {
    "cpu": ("cpu", "fp32", 4, 1, []),
    "fp32": ("cuda", "fp32", 4, 1, []),
    "fp32-fastest": ("cuda", "fp32", 4, 1, ["loop.deterministic=false"]),
    "bf16": ("cuda", "bf16", 4, 1, []),
    "fp16": ("cuda", "fp16", 4, 1, []),
    "fp32-batch32": ("cuda", "fp32", 32, 1, []),
    "fp32-workers4": ("cuda", "fp32", 4, 1, ["data.workers=4"]),
    "nccl-1": ("cuda", "fp32", 4, 1, ["distributed.backend=nccl"]),
    "gloo-2-syncbn": ("cuda", "fp32", 4, 2, ["distributed.backend=gloo", "distributed.sync_batchnorm=true"]),
}
TITLES = {"cpu": "CPU fp32, 2 threads (reference)", "fp32": "CUDA fp32",
          "fp32-fastest": "CUDA fp32, loop.deterministic false", "bf16": "CUDA bf16 autocast",
          "fp16": "CUDA fp16 autocast + grad scaler", "fp32-batch32": "CUDA fp32, batch 32",
          "fp32-workers4": "CUDA fp32, 4 data workers", "nccl-1": "torchrun, 1 rank, NCCL",
          "gloo-2-syncbn": "torchrun, 2 ranks on one GPU, gloo, SyncBatchNorm"}


def _command(name: str, steps: int, run_dir: Path) -> tuple[list[str], int]:
    device, precision, batch, processes, extra = VARIANTS[name]
    items = [f"loop.device={device}", f"loop.precision={precision}", f"loop.batch_size={batch}",
             f"data.clips={batch * (steps + 1)}", f"loop.max_steps={steps}", f"loop.checkpoint_every={steps}",
             "collapse.enabled=false", "probe.every_n_steps=0", "logging.images_every_n_steps=100000",
             "logging.histograms_every_n_steps=100000", f"run_dir={run_dir}", *extra]
    launcher = [sys.executable] if processes == 1 else [*TORCHRUN, "--nproc_per_node", str(processes)]
    command = [*launcher, "-m", "sspd", "pretrain", str(ROOT / "experiments" / "synthetic_cpu.yaml"),
               "--no-progress", *[arg for item in items for arg in ("--set", item)]]
    return command, (2 if device == "cpu" else 4)


def _find(tree, key: str):
    """The first value stored under ``key`` anywhere in a nested checkpoint."""
    if isinstance(tree, dict):
        if key in tree and tree[key] is not None:
            return tree[key]
        for value in tree.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


def _row(name: str, steps: int, warmup: int, tmp: Path) -> str:
    run_dir = tmp / name
    command, threads = _command(name, steps, run_dir)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-4:])
        return f"| {TITLES[name]} | failed (exit {done.returncode}): {tail[-600:]} |"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    step_s = statistics.median(_step_seconds(run_dir, warmup))
    batch = VARIANTS[name][2]
    loss = statistics.fmean(row["total"] for row in rows[-10:])
    skipped = sum(1 for row in rows if row.get("skipped", 0.0) > 0 or row.get("stepped", 1.0) == 0)
    scale = ""
    if VARIANTS[name][1] == "fp16":
        state = _find(torch.load(run_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=False),
                      "scaler")
        scale = f"{state.get('scale', float('nan')):g}" if isinstance(state, dict) else "not saved"
    return (f"| {TITLES[name]} | {step_s:.3f} | {batch / step_s:.1f} | {wall:.0f} | {loss:.3f} | {skipped} | "
            f"{scale} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="optimiser steps per CUDA variant (default 40)")
    parser.add_argument("--cpu-steps", type=int, default=6, help="steps of the CPU reference (default 6)")
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the median (default 5; "
                                                               "the CPU reference leaves out 2)")
    parser.add_argument("--only", help=f"comma-separated variants of {list(VARIANTS)} (default: all; on a "
                                           "machine without CUDA the CPU reference alone)")
    args = parser.parse_args()
    names = [n.strip() for n in (args.only or ",".join(VARIANTS)).split(",") if n.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    if not torch.cuda.is_available() and any(VARIANTS[n][0] == "cuda" for n in names):
        if args.only:
            raise SystemExit("benchmarks/cuda_paths.py: no CUDA GPU here; run the CUDA variants on a GPU machine "
                             "(--only cpu runs the reference alone)")
        print("benchmarks/cuda_paths.py: no CUDA GPU here: the CUDA variants are skipped, the CPU reference runs")
        names = ["cpu"]
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"pretraining step, experiments/synthetic_cpu.yaml; GPU {gpu}; CPU {_cpu_name()} ({os.cpu_count()} "
          f"cores); torch {torch.__version__}; {args.steps} steps per CUDA variant, median after {args.warmup}",
          flush=True)
    print("| variant | step s | clips/s | wall s | total loss (last 10) | skipped steps | fp16 scale |")
    print("|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            cpu = VARIANTS[name][0] == "cpu"
            print(_row(name, args.cpu_steps if cpu else args.steps, 2 if cpu else args.warmup, Path(tmp)),
                  flush=True)


if __name__ == "__main__":
    main()
