"""The SSPD pretraining loop: epochs of optimiser steps over :class:`sspd.engine.SSPDTrainStep`, with
gradient accumulation, clipping, mixed precision, LR schedules, the NaN/inf guard, collapse monitoring,
checkpoints, exact resume, logging sinks, the online linear probe (:mod:`sspd.engine.online_probe`) and
data parallelism under torchrun.

    result = run_pretraining(config)                         # config: sspd.cli.config.RunConfig
    result = run_pretraining(config, resume=True)            # continue config.run_dir's last checkpoint

One optimiser step, in order: learning rate of the step; for each of the A micro-batches of this rank
(the view generator reseeded from (seed, step, slot), so views do not depend on how the batch is split
or on where a run was resumed) a forward under autocast and a backward of loss / A; the gradients
averaged over the ranks (one all-reduce per parameter: the same mean DDP computes); the guard; clipping;
the optimiser step and the EMA (:meth:`SSPDTrainStep.update`). Every rank holds the same weights after
every step, so the EMA targets are identical on every rank. Rank 0 alone writes the run directory
(layout: the module docstring of :mod:`sspd.engine.run_dir`).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch.utils.data import Dataset

from sspd.engine.data import build_train_dataset, epoch_loader, epoch_order, set_dataset_epoch, steps_per_epoch
from sspd.engine.distributed import (all_ranks_true, all_reduce_mean, barrier, get_rank, get_world_size,
                                     init_distributed_from_env, maybe_convert_sync_batchnorm)
from sspd.engine.guards import NonFiniteGuard, NonFiniteLossError
from sspd.engine.online_probe import LoopProbe, batch_labels
from sspd.engine.run_dir import RunWriter, build_network, build_trainer, network_spec
from sspd.engine.schedules import lr_at, set_lr
from sspd.engine.seeding import derive_seed, seed_everything
from sspd.engine.snapshots import CapturedOutputs, capture_outputs
from sspd.engine.step import SSPDTrainStep

__all__ = ["LoopResult", "run_pretraining", "resolve_device", "STOP_REASONS"]

log = logging.getLogger(__name__)

STOP_REASONS = ("completed", "collapse", "non-finite", "interrupted")
_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: Called on rank 0 after every optimiser step with (steps done, total steps, the step's float scalars).
StepCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class LoopResult:
    """How a run ended: steps done, why it stopped, the last step's scalars, where the outputs are."""

    run_dir: Path
    steps: int
    total_steps: int
    stop_reason: str
    message: str = ""
    wall_time_s: float = 0.0
    final: dict[str, float] = field(default_factory=dict)


def resolve_device(device: str, precision: str) -> torch.device:
    """The run's device (``auto``: CUDA when available) after checking the precision can run on it."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("loop.device is 'cuda' but no CUDA GPU is available: use loop.device=auto or cpu")
    chosen = torch.device("cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    if precision == "fp16" and chosen.type != "cuda":
        raise ValueError("loop.precision fp16 needs a CUDA GPU (its grad scaler is CUDA-only here); on CPU use "
                         "bf16 (fast on CPUs with AMX-BF16) or fp32")
    if precision not in _PRECISIONS:
        raise ValueError(f"loop.precision must be one of {', '.join(_PRECISIONS)}, got {precision!r}")
    if chosen.type == "cuda" and dist.is_available() and dist.is_initialized():
        chosen = torch.device("cuda", torch.cuda.current_device())
    return chosen


@dataclass
class _Run:
    """Everything the step function needs, built once per run."""

    config: Any
    trainer: SSPDTrainStep
    device: torch.device
    total_steps: int
    guard: NonFiniteGuard
    writer: RunWriter
    scaler: Any = None
    rank: int = 0
    world_size: int = 1


def _autocast(run: _Run):
    dtype = _PRECISIONS[run.config.loop.precision]
    return torch.autocast(run.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def _set_step_lr(run: _Run, step: int) -> None:
    schedule, optim = run.config.schedule, run.config.optim
    lr = lr_at(step, run.total_steps, optim.lr, schedule=schedule.name, warmup_steps=schedule.warmup_steps,
               min_lr=schedule.min_lr, pct_start=schedule.pct_start)
    set_lr(run.trainer.optimizer, lr)


def _inputs_finite(micro_batches: list[dict[str, Any]]) -> bool:
    local = all(bool(torch.isfinite(batch["video"]).all()) for batch in micro_batches)
    return all_ranks_true(local)  # every rank must skip together (no rank waits in an all-reduce)


def _accumulate(run: _Run, micro_batches: list[dict[str, Any]], step: int) -> tuple[dict[str, float],
                                                                                    CapturedOutputs]:
    """Forward and backward of every micro-batch; returns the mean scalars and the last batch's outputs."""
    accumulation = len(micro_batches)
    sums: dict[str, torch.Tensor] = {}
    seen = CapturedOutputs()
    for micro, batch in enumerate(micro_batches):
        slot = run.rank * accumulation + micro
        run.trainer.generator.manual_seed(derive_seed(run.config.seed, "views", step, slot))
        with capture_outputs(run.trainer) as seen, _autocast(run):
            total, scalars = run.trainer.forward(batch)
        loss = total.float() / accumulation
        (loss if run.scaler is None else run.scaler.scale(loss)).backward()
        for name, value in scalars.items():
            sums[name] = sums.get(name, 0.0) + value.detach().float().cpu() / accumulation
    names = list(sums)
    means = all_reduce_mean(torch.stack([sums[n] for n in names]))  # (S,) the mean over ranks
    return dict(zip(names, means.tolist())), seen


def _all_reduce_grads(run: _Run) -> None:
    """Average the online gradients over the ranks (what DDP's all-reduce computes)."""
    if run.world_size == 1:
        return
    for param in run.trainer.online_network.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
            param.grad /= run.world_size


def _broadcast_buffers(run: _Run) -> None:
    """Rank 0's BatchNorm running statistics on every rank (as DDP's broadcast_buffers does)."""
    if run.world_size == 1:
        return
    for buffer in run.trainer.online_network.buffers():
        dist.broadcast(buffer, src=0)


def _optimiser_step(run: _Run, scalars: dict[str, float], step: int) -> dict[str, float]:
    """Guard, clipping, optimiser step and EMA; the momentum, lr, grad norm and skip counters."""
    trainer, online = run.trainer, run.trainer.online_network
    if run.scaler is not None:
        run.scaler.unscale_(trainer.optimizer)
    _all_reduce_grads(run)
    # Under fp16 the grad scaler skips inf-gradient steps itself; the guard then judges the loss only.
    finite = run.guard.check(scalars, step=step, grads_of=online if run.scaler is None else None)
    out = {"skipped": float(run.guard.skipped_total)}
    if not finite:
        trainer.optimizer.zero_grad(set_to_none=True)
        momentum = trainer.momentum(step, run.total_steps)
        return {**out, "momentum": momentum, "lr": trainer.optimizer.param_groups[0]["lr"], "stepped": 0.0}
    max_norm = run.config.optim.grad_clip or math.inf
    out["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(online.parameters(), max_norm))
    updated = trainer.update(step, run.total_steps, run.scaler)
    return {**out, **{name: float(value) for name, value in updated.items()}}


def _skip_step(run: _Run, step: int) -> dict[str, float]:
    """A batch with NaN/inf input: count it with the guard (which raises after K in a row), no forward."""
    run.guard.check({"input/video": math.nan}, step=step)
    return {"skipped": float(run.guard.skipped_total), "stepped": 0.0,
            "momentum": run.trainer.momentum(step, run.total_steps),
            "lr": run.trainer.optimizer.param_groups[0]["lr"]}


def _train_step(run: _Run, micro_batches: list[dict[str, Any]], step: int) -> tuple[dict[str, float],
                                                                                   CapturedOutputs | None]:
    """One optimiser step over this rank's micro-batches; returns its scalars and the captured outputs."""
    _set_step_lr(run, step)
    run.trainer.train(True)
    run.trainer.optimizer.zero_grad(set_to_none=True)
    if not _inputs_finite(micro_batches):
        return _skip_step(run, step), None
    scalars, seen = _accumulate(run, micro_batches, step)
    scalars.update(_optimiser_step(run, scalars, step))
    _broadcast_buffers(run)
    return scalars, seen


def _labels_hr(batch: dict[str, Any]) -> torch.Tensor | None:
    """The batch's reference HRs (B,) in bpm, when every clip has one (synthetic clips do)."""
    hr = batch.get("hr")
    if not isinstance(hr, torch.Tensor) or not bool((hr > 0).all()):
        return None
    return hr.float()


def _total_steps(config: Any, n_items: int) -> tuple[int, int]:
    per_epoch = steps_per_epoch(n_items, config.loop.batch_size)
    total = config.loop.epochs * per_epoch
    if config.loop.max_steps is not None:
        total = min(total, config.loop.max_steps)
    return total, per_epoch


def _build_probe(config: Any, network: Any, fps: float) -> LoopProbe | None:
    """The online linear probe of ``config.probe`` (None when probe.every_n_steps is 0)."""
    if config.probe.every_n_steps == 0:
        return None
    return LoopProbe(config.probe, feature_dim=network.backbone.feature_dim, fs=fps, frames=config.data.frames,
                     seed=config.seed)


def _setup(config: Any, dataset: Dataset, resume: bool | str | Path) -> tuple[_Run, int, int]:
    """Process group, seeds, network, trainer, guard, run writer; returns (run, first step, steps/epoch)."""
    init_distributed_from_env(config.distributed.backend, timeout_s=config.distributed.timeout_s)
    rank, world_size = get_rank(), get_world_size()
    device = resolve_device(config.loop.device, config.loop.precision)
    total, per_epoch = _total_steps(config, len(dataset))
    torch.manual_seed(derive_seed(config.seed, "init"))   # the same initial weights on every rank
    network = maybe_convert_sync_batchnorm(build_network(network_spec(config)), config.distributed.sync_batchnorm)
    trainer = build_trainer(network.to(device), config)
    seed_everything(config.seed, rank=rank)
    scaler = torch.amp.GradScaler("cuda") if config.loop.precision == "fp16" else None
    guard = NonFiniteGuard(config.loop.max_nonfinite)
    fps = float(getattr(dataset, "fps", None) or config.data.fps)
    probe = _build_probe(config, network, fps) if rank == 0 else None
    writer = RunWriter(config, fps=fps, total_steps=total, steps_per_epoch=per_epoch, rank=rank, probe=probe,
                       dataset=dataset)
    run = _Run(config, trainer, device, total, guard, writer, scaler, rank, world_size)
    if not resume:
        writer.check_fresh()
    first = writer.restore(run.trainer, guard, scaler, path=None if resume is True else resume) if resume else 0
    writer.open_sinks(resume_step=first if resume else None)
    return run, first, per_epoch


def _epochs(run: _Run, dataset: Dataset, first: int, last: int, per_epoch: int):
    """(step, micro-batches) of this rank from step ``first`` to ``last`` (exclusive), epoch by epoch."""
    config, step = run.config, first
    data_seed = derive_seed(config.seed, "data_order")
    while step < last:
        epoch, position = divmod(step, per_epoch)
        set_dataset_epoch(dataset, epoch)
        order = epoch_order(len(dataset), seed=data_seed, epoch=epoch)
        end = min(per_epoch, position + last - step)
        for micro_batches in epoch_loader(dataset, order, first_step=position, last_step=end,
                                          batch_size=config.loop.batch_size, rank=run.rank,
                                          world_size=run.world_size, accumulation=config.optim.accumulation,
                                          workers=config.data.workers, seed=config.seed, epoch=epoch):
            yield step, micro_batches
            step += 1


def _loop(run: _Run, dataset: Dataset, first: int, on_step: StepCallback | None) -> tuple[int, str, str]:
    """The steps; returns (steps done, stop reason, message)."""
    last = run.total_steps if run.config.loop.stop_after is None else min(run.total_steps,
                                                                          run.config.loop.stop_after)
    done = first
    try:
        for step, micro_batches in _epochs(run, dataset, first, last, _total_steps(run.config, len(dataset))[1]):
            scalars, seen = _train_step(run, micro_batches, step)
            done = step + 1
            labels_hr = _labels_hr(micro_batches[-1])
            collapse = run.writer.after_step(done, scalars, seen, labels_hr, run.trainer,
                                             ppg=batch_labels(micro_batches[-1]))
            run.writer.save(done, run.trainer, run.guard, run.scaler, seen, labels_hr)
            if on_step is not None and run.rank == 0:
                on_step(done, run.total_steps, scalars)
            if collapse:
                return done, "collapse", collapse
    except NonFiniteLossError as err:
        return done, "non-finite", str(err)
    except KeyboardInterrupt:
        return done, "interrupted", "interrupted by the user (Ctrl-C): resume with --resume RUN_DIR"
    if done < run.total_steps:
        return done, "interrupted", f"stopped after step {done} of {run.total_steps} (loop.stop_after)"
    return done, "completed", ""


def run_pretraining(config: Any, *, resume: bool | str | Path = False, dataset: Dataset | None = None,
                    on_step: StepCallback | None = None) -> LoopResult:
    """Pretrain SSPD as ``config`` says, writing ``config.run_dir``; returns how the run ended.

    Args:
        config: a :class:`sspd.cli.config.RunConfig` (its sections: data, model, views, objective, optim,
            schedule, ema, loop, logging, collapse, probe, distributed).
        resume: True continues from ``config.run_dir``'s newest readable checkpoint (``last.pt``, else the
            newest step file, with a warning), a path from that checkpoint file (exactly: on CPU the losses
            after resuming equal those of an uninterrupted run).
        dataset: a torch Dataset of {"video": (C, T+1, S, S), "fps", optional "ppg" or "label" (T+1,),
            "hr"} to train on instead of the one ``config.data`` describes (labels feed the online probe).
        on_step: called on rank 0 after every step (the CLI's progress bar).

    Under torchrun every rank calls this; the process group is created from the environment.
    """
    started = time.time()
    dataset = dataset if dataset is not None else build_train_dataset(config.data, seed=config.seed)
    run, first, _ = _setup(config, dataset, resume)
    try:
        done, reason, message = _loop(run, dataset, first, on_step)
        if reason == "non-finite":
            log.error(message)
        run.writer.save(done, run.trainer, run.guard, run.scaler, None, None, final=done > 0)
        run.writer.finish(done, reason, message, run.trainer, wall_time_s=time.time() - started)
    finally:
        run.writer.close()
        barrier()
    return LoopResult(run_dir=Path(config.run_dir), steps=done, total_steps=run.total_steps, stop_reason=reason,
                      message=message, wall_time_s=time.time() - started, final=run.writer.last_scalars)
