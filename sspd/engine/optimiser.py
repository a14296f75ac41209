"""The one optimiser step every training path takes (the loop, the benchmark, the experiments, a script of
one's own), and the optimiser and schedule sections of a run config.

    stepper = OptimiserStep(trainer, total_steps=1000, grad_clip=1.0, precision="bf16", seed=0)
    scalars, seen = stepper.step(micro_batches, step)      # one optimiser step over A micro-batches

One step, in order:

1. the learning rate of the step (when a schedule is given);
2. for each of the A micro-batches of this rank: the view generator reseeded from (seed, step, slot) (so
   views depend neither on how the batch is split nor on where a run was resumed), a forward under
   autocast and a backward of loss / A. Under ``torch.nn.parallel.DistributedDataParallel`` the gradients
   are all-reduced in buckets overlapped with the backward of the last micro-batch; the others run under
   ``no_sync()``. The EMA target stays outside DDP: it is a deterministic function of the synced online
   weights, so it is the same on every rank;
3. the non-finite guard (:class:`sspd.engine.guards.NonFiniteGuard`): a NaN/inf loss or gradient skips
   the step on every rank (the scalars are averaged over the ranks first), K in a row stop the run;
4. gradient clipping of the global norm;
5. the optimiser step, then the EMA of the target (only when the optimiser really stepped).

A batch whose input holds NaN/inf is counted by the guard and skipped with no forward.
"""
from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Sequence

import torch
from torch import nn

from sspd.augment import ViewOptions
from sspd.configuration import require_positive_int
from sspd.ema.pair import EMAConfig
from sspd.engine.capture import CapturedOutputs, capture_outputs
from sspd.engine.distributed import all_ranks_true, all_reduce_mean, get_rank, get_world_size
from sspd.engine.guards import NonFiniteGuard
from sspd.models.network import SSPDNetwork
from sspd.engine.online_probe import batch_labels
from sspd.engine.schedules import lr_at, set_lr
from sspd.engine.seeding import derive_seed
from sspd.engine.step import TrainStep
from sspd.objectives import Objective

__all__ = ["OptimConfig", "ScheduleConfig", "PRECISIONS", "OptimiserStep", "build_optimizer", "build_trainer",
           "lr_schedule"]

log = logging.getLogger(__name__)

#: loop.precision → the autocast dtype (None: no autocast)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class OptimConfig:
    """The optimiser (of the online network only).

    Attributes:
        name: ``adam`` (the release) or ``adamw``.
        lr: peak learning rate; weight_decay: decay (release: 0).
        grad_clip: clip the global gradient norm to this (None: no clipping).
        accumulation: micro-batches per optimiser step (the batch is split into this many).
    """

    name: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = None
    accumulation: int = 1

    def __post_init__(self) -> None:
        require_positive_int("optim", accumulation=self.accumulation)
        if not (math.isfinite(self.lr) and self.lr > 0) or self.weight_decay < 0:
            raise ValueError(f"optim.lr must be > 0 and optim.weight_decay >= 0, got {self.lr}, "
                             f"{self.weight_decay}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"optim.grad_clip must be > 0 or null (no clipping), got {self.grad_clip}")


@dataclass
class ScheduleConfig:
    """Learning-rate schedule (:func:`sspd.engine.lr_at`): constant (release), cosine, onecycle."""

    name: Literal["constant", "cosine", "onecycle"] = "constant"
    warmup_steps: int = 0
    min_lr: float = 0.0
    pct_start: float = 0.3


def build_optimizer(network: nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    """Adam or AdamW over ``network``'s parameters (the online network's: never the target's)."""
    kind = torch.optim.AdamW if optim.name == "adamw" else torch.optim.Adam
    return kind(network.parameters(), lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)


def build_trainer(network: SSPDNetwork, *, optim: OptimConfig, ema: EMAConfig, objective: Objective,
                  views: ViewOptions, seed: int = 0, channels_last: bool = False) -> TrainStep:
    """The optimiser and the :class:`TrainStep` (views, objective, EMA target) of a run's sections."""
    return TrainStep(network, build_optimizer(network, optim), objective=objective, views=views,
                     momentum_start=ema.momentum_start, momentum_end=ema.momentum_end, buffers=ema.buffers,
                     target_mode=ema.target_mode, seed=seed, channels_last=channels_last)


def lr_schedule(optim: OptimConfig, schedule: ScheduleConfig, total_steps: int) -> Callable[[int], float]:
    """step → learning rate of a run (:func:`sspd.engine.lr_at` with the sections' settings)."""
    def lr_of(step: int) -> float:
        return lr_at(step, total_steps, optim.lr, schedule=schedule.name, warmup_steps=schedule.warmup_steps,
                     min_lr=schedule.min_lr, pct_start=schedule.pct_start)
    lr_of(0)  # validates the schedule now rather than at the first step
    return lr_of


class OptimiserStep:
    """Optimiser steps of a :class:`TrainStep`: accumulation, autocast, DDP, guard, clipping, EMA.

    Args:
        trainer: the views, networks, objective, optimiser and EMA target.
        total_steps: optimiser steps of the whole run (the EMA momentum and lr schedules span them).
        lr_of: step → learning rate (:func:`lr_schedule`); None leaves the optimiser's lr as it is.
        grad_clip: clip the global gradient norm to this (None: no clipping, the norm is still logged).
        precision: ``fp32``, ``bf16`` (autocast) or ``fp16`` (autocast and a grad scaler, CUDA only).
        max_nonfinite: consecutive skipped steps that stop the run (:class:`NonFiniteLossError`).
        seed: the run seed the view generator is reseeded from at every micro-batch, from
            (seed, "views", step, slot); None keeps the generator running (no reseeding).
        distributed: wrap the online network in DistributedDataParallel; None: when the process group
            has more than one rank. The wrapper is the step's own (:attr:`online_forward`), passed to
            :meth:`TrainStep.forward` at every micro-batch; the trainer keeps the bare network.
    """

    def __init__(self, trainer: TrainStep, *, total_steps: int, lr_of: Callable[[int], float] | None = None,
                 grad_clip: float | None = None, precision: str = "fp32", max_nonfinite: int = 5,
                 seed: int | None = None, distributed: bool | None = None) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        require_positive_int("OptimiserStep", total_steps=total_steps)
        self.trainer, self.total_steps, self.lr_of = trainer, total_steps, lr_of
        self.grad_clip, self.precision, self.seed = grad_clip, precision, seed
        self.guard = NonFiniteGuard(max_nonfinite)
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.rank, self.world_size = get_rank(), get_world_size()
        wrap = distributed if distributed is not None else self.world_size > 1
        #: the online network inside DistributedDataParallel, or None in a single process
        self.ddp: nn.Module | None = _wrap_ddp(trainer.online_network) if wrap else None
        #: what the online view goes through: the DDP wrapper, else the online network itself
        self.online_forward: nn.Module = self.ddp if self.ddp is not None else trainer.online_network

    # ----------------------------------------------------------------------------------------- a step
    def step(self, micro_batches: Sequence[Mapping[str, Any]], step: int
             ) -> tuple[dict[str, float], CapturedOutputs | None]:
        """One optimiser step over this rank's micro-batches; returns its float scalars (the objective's
        terms averaged over micro-batches and ranks, then grad_norm, momentum, lr, skipped, stepped) and
        the last micro-batch's captured outputs (None when the input was not finite)."""
        trainer = self.trainer
        if self.lr_of is not None:
            set_lr(trainer.optimizer, self.lr_of(step))
        trainer.train(True)
        trainer.optimizer.zero_grad(set_to_none=True)
        if not all_ranks_true(all(bool(torch.isfinite(b["video"]).all()) for b in micro_batches)):
            return self._skip(step), None  # every rank skips together (no rank waits in an all-reduce)
        scalars, seen = self._accumulate(micro_batches, step)
        scalars.update(self._apply(scalars, step))
        return scalars, seen

    def _autocast(self):
        dtype = PRECISIONS[self.precision]
        device = next(self.trainer.online_network.parameters()).device
        return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    def _accumulate(self, micro_batches: Sequence[Mapping[str, Any]], step: int
                    ) -> tuple[dict[str, float], CapturedOutputs]:
        """Forward and backward of every micro-batch (DDP syncs on the last); mean scalars over ranks."""
        accumulation = len(micro_batches)
        sums: dict[str, torch.Tensor] = {}
        seen = CapturedOutputs()
        for micro, batch in enumerate(micro_batches):
            if self.seed is not None:
                slot = self.rank * accumulation + micro
                self.trainer.generator.manual_seed(derive_seed(self.seed, "views", step, slot))
            sync = self.ddp is None or micro == accumulation - 1
            with (contextlib.nullcontext() if sync else self.ddp.no_sync()):
                with capture_outputs(self.trainer) as seen, self._autocast():
                    total, terms = self.trainer.forward(batch, online=self.online_forward)
                seen.ppg = batch_labels(batch)  # (B, T+1) or None: for the observers (the online probe)
                loss = total.float() / accumulation
                if loss.requires_grad:  # no parameter trains (adapt.layers=none): the forward alone
                    (loss if self.scaler is None else self.scaler.scale(loss)).backward()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.detach().float().cpu() / accumulation
        names = list(sums)
        means = all_reduce_mean(torch.stack([sums[n] for n in names]))  # (S,) the mean over ranks
        return dict(zip(names, means.tolist())), seen

    def _apply(self, scalars: Mapping[str, float], step: int) -> dict[str, float]:
        """Guard, clipping, optimiser step and EMA; the momentum, lr, grad norm and skip counters."""
        trainer, online = self.trainer, self.trainer.online_network
        if self.scaler is not None:
            self.scaler.unscale_(trainer.optimizer)
        # Under fp16 the grad scaler skips inf-gradient steps itself; the guard then judges the loss only.
        finite = self.guard.check(dict(scalars), step=step, grads_of=online if self.scaler is None else None)
        out = {"skipped": float(self.guard.skipped_total)}
        if not finite:
            trainer.optimizer.zero_grad(set_to_none=True)
            return {**out, **self._idle(step)}
        max_norm = self.grad_clip or math.inf
        out["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(online.parameters(), max_norm))
        updated = trainer.update(step, self.total_steps, self.scaler)
        return {**out, **{name: float(value) for name, value in updated.items()}}

    def _idle(self, step: int) -> dict[str, float]:
        """The scalars of a step that did not step: its momentum and lr, stepped 0."""
        return {"momentum": self.trainer.momentum(step, self.total_steps),
                "lr": float(self.trainer.optimizer.param_groups[0]["lr"]), "stepped": 0.0}

    def _skip(self, step: int) -> dict[str, float]:
        """A batch with NaN/inf input: counted by the guard (which raises after K in a row), no forward."""
        self.guard.check({"input/video": math.nan}, step=step)
        return {"skipped": float(self.guard.skipped_total), **self._idle(step)}

    # ----------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """The guard's counters and the grad scaler's state (the trainer saves its own)."""
        return {"guard": self.guard.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.guard.load_state_dict(state["guard"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])


def _wrap_ddp(network: SSPDNetwork) -> nn.Module:
    """``network`` inside DistributedDataParallel (bucketed all-reduce overlapped with backward).

    Unused parameters are looked for every step: the backbone's own supervised head takes no part in the
    self-supervised objectives, and SiNC does not run the TS stack. Rank 0's buffers (BatchNorm running
    statistics) are broadcast at every forward.
    """
    from torch.nn.parallel import DistributedDataParallel

    device = next(network.parameters()).device
    return DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None,
                                   broadcast_buffers=True, find_unused_parameters=True)
