"""The pretraining loop: epochs of :class:`sspd.engine.OptimiserStep` steps over a :class:`TrainStep`,
with LR schedules, the NaN/inf guard, checkpoints, exact resume, logging sinks, the online linear probe
(:mod:`sspd.engine.online_probe`), the caller's observers (the collapse monitor and health check of
:mod:`sspd.diagnostics`) and torch DistributedDataParallel under torchrun. Every watcher is an observer
(:class:`sspd.engine.observers.RunObserver`), composed here by :func:`run_pretraining`: the caller's, the
online probe of the ``probe`` section and the adaptation's check.

    result = run_pretraining(run_dir="runs/x", seed=0, data=DataConfig(), model=ModelConfig(), ...)

Each section is the typed config of the code that uses it (``sspd pretrain`` composes them into its run
config, :class:`sspd.cli.config.RunConfig`, and calls :func:`sspd.cli.pretrain.pretrain`). Every rank
holds the same weights after every step, so the EMA targets are identical on every rank. Rank 0 alone
writes the run directory (layout: :mod:`sspd.engine.runfiles.run_dir`).
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import Dataset

from sspd.augment import ViewOptions
from sspd.configuration import config_to_dict, require_positive_int
from sspd.data.cache_lock import folder_lock
from sspd.ema.pair import EMAConfig
from sspd.engine.data import (DataConfig, build_train_dataset, check_dataset_labels, epoch_loader, epoch_order,
                              set_dataset_epoch, steps_per_epoch, training_input_spec)
from sspd.engine.distributed import (DistributedConfig, barrier, get_rank, get_world_size, init_distributed_from_env,
                                     maybe_convert_sync_batchnorm)
from sspd.engine.guards import NonFiniteLossError
from sspd.engine.adapt import (AdaptConfig, HeldPriorsCheck, apply_adaptation, check_objective_signal, initial_network,
                               resolve_signal)
from sspd.engine.facts import RunFacts
from sspd.models.network import ModelConfig
from sspd.engine.observers import ObserverFactory, RunContext
from sspd.engine.online_probe import LoopProbe, OnlineProbeConfig
from sspd.engine.optimiser import PRECISIONS, OptimConfig, OptimiserStep, ScheduleConfig, build_trainer, lr_schedule
from sspd.engine.runfiles.run_dir import RUN_LOCK, check_run_dir, claim_run_dir
from sspd.engine.runfiles.run_writer import RunWriter
from sspd.engine.seeding import derive_seed, deterministic_kernels, seed_everything
from sspd.engine.runfiles.sinks import LoggingConfig
from sspd.engine.step import TrainStep
from sspd.objectives import Objective, section_name

__all__ = ["LoopConfig", "LoopResult", "run_pretraining", "run_length", "resolve_device", "STOP_REASONS",
           "USER_INTERRUPT"]

log = logging.getLogger(__name__)

STOP_REASONS = ("completed", "collapse", "non-finite", "interrupted", "early-stop")
#: the message of a run the user interrupted (Ctrl-C, SIGINT), as opposed to one stopped by loop.stop_after
USER_INTERRUPT = "interrupted by the user (Ctrl-C): resume with --resume RUN_DIR"

#: Called on rank 0 after every optimiser step with (steps done, total steps, the step's float scalars).
StepCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class LoopConfig:
    """Length, batch, precision, checkpoints, guards.

    Attributes:
        epochs: passes over the data; max_steps: cap on optimiser steps (None: epochs × steps/epoch).
        stop_after: end the run after this many optimiser steps as if interrupted (the schedules still
            span the whole run), leaving a checkpoint to resume from.
        batch_size: clips per optimiser step over all ranks and micro-batches (the global batch).
        drop_last: drop an epoch's short last batch (default); false keeps it as one smaller step, as
            the release's loader does (30 clips at batch 12: 3 steps per epoch, the last of 6 clips).
        precision: ``fp32`` (default), ``bf16`` (autocast; about 2x faster on CPUs with AMX-BF16,
            slower on CPUs without it) or ``fp16`` (autocast + grad scaler, CUDA only).
        channels_last: run the networks in channels_last_3d (the same values; faster 3-D convs on CPU).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        deterministic: on CUDA, kernels that repeat themselves (torch's deterministic algorithms, cuDNN
            without autotuning, a fixed cuBLAS workspace), so a run repeats and a resumed run equals the
            uninterrupted one as on CPU; false trades that for cuDNN's fastest algorithms. No effect on CPU.
        checkpoint_every: write last.pt and step_XXXXXXX.pt every N steps (and at the end).
        keep_last: step checkpoints kept.
        max_nonfinite: stop after this many consecutive skipped (non-finite) steps.
        best_metric: the scalar whose mean since the previous checkpoint selects best.pt (lower is better).
    """

    epochs: int = 4
    max_steps: int | None = 200
    stop_after: int | None = None
    batch_size: int = 4
    drop_last: bool = True
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"
    deterministic: bool = True
    checkpoint_every: int = 100
    keep_last: int = 2
    max_nonfinite: int = 5
    best_metric: str = "total"

    def __post_init__(self) -> None:
        require_positive_int("loop", epochs=self.epochs, batch_size=self.batch_size,
                             checkpoint_every=self.checkpoint_every, max_nonfinite=self.max_nonfinite)
        for name in ("max_steps", "stop_after"):
            value = getattr(self, name)
            if value is not None:
                require_positive_int("loop", **{name: value})


@dataclass
class LoopResult:
    """How a run ended: steps done, why it stopped, the last step's scalars, where the outputs are, and the
    facts (frame rate, frames, band...) it resolved at its start and gave everything that watched it."""

    run_dir: Path
    steps: int
    total_steps: int
    stop_reason: str
    message: str = ""
    wall_time_s: float = 0.0
    final: dict[str, float] = field(default_factory=dict)
    facts: RunFacts | None = None


def resolve_device(device: str, precision: str) -> torch.device:
    """The run's device (``auto``: CUDA when available) after checking the precision can run on it."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("loop.device is 'cuda' but no CUDA GPU is available: use loop.device=auto or cpu")
    chosen = torch.device("cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    if precision == "fp16" and chosen.type != "cuda":
        raise ValueError("loop.precision fp16 needs a CUDA GPU (its grad scaler is CUDA-only here); on CPU use "
                         "bf16 (fast on CPUs with AMX-BF16) or fp32")
    if precision not in PRECISIONS:
        raise ValueError(f"loop.precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if chosen.type == "cuda" and dist.is_available() and dist.is_initialized():
        chosen = torch.device("cuda", torch.cuda.current_device())
    return chosen


@dataclass
class _Run:
    """Everything the steps need, built once per run."""

    loop: LoopConfig
    trainer: TrainStep
    stepper: OptimiserStep
    writer: RunWriter
    total_steps: int
    steps_per_epoch: int
    seed: int
    batch_size: int
    accumulation: int
    workers: int
    rank: int = 0
    world_size: int = 1
    #: new initial weights for the network after a step (an observer's restart request)
    restart: Callable[[int], None] | None = None


def _labels_hr(batch: Mapping[str, Any]) -> torch.Tensor | None:
    """The batch's reference HRs (B,) in bpm, when every clip has one (synthetic clips do)."""
    hr = batch.get("hr")
    if not isinstance(hr, torch.Tensor) or not bool((hr > 0).all()):
        return None
    return hr.float()


def run_length(loop: LoopConfig, n_items: int, slots: int = 1) -> tuple[int, int]:
    """(optimiser steps of the run, steps per epoch) on ``n_items`` clips per epoch, with ``slots`` =
    ranks × micro-batches per step (an epoch's short tail is a step only if it splits into them)."""
    per_epoch = steps_per_epoch(n_items, loop.batch_size, drop_last=loop.drop_last, slots=slots)
    total = loop.epochs * per_epoch
    if loop.max_steps is not None:
        total = min(total, loop.max_steps)
    return total, per_epoch


def _epochs(run: _Run, dataset: Dataset, first: int, last: int):
    """(step, micro-batches) of this rank from step ``first`` to ``last`` (exclusive), epoch by epoch."""
    step, per_epoch = first, run.steps_per_epoch
    data_seed = derive_seed(run.seed, "data_order")
    while step < last:
        epoch, position = divmod(step, per_epoch)
        set_dataset_epoch(dataset, epoch)
        order = epoch_order(len(dataset), seed=data_seed, epoch=epoch)
        end = min(per_epoch, position + last - step)
        for micro_batches in epoch_loader(dataset, order, first_step=position, last_step=end,
                                          batch_size=run.batch_size, rank=run.rank, world_size=run.world_size,
                                          accumulation=run.accumulation, workers=run.workers, seed=run.seed,
                                          epoch=epoch):
            yield step, micro_batches
            step += 1


def _loop(run: _Run, dataset: Dataset, first: int, on_step: StepCallback | None) -> tuple[int, str, str]:
    """The steps; returns (steps done, stop reason, message)."""
    stop_after = run.loop.stop_after
    last = run.total_steps if stop_after is None else min(run.total_steps, stop_after)
    done = first
    try:
        for step, micro_batches in _epochs(run, dataset, first, last):
            scalars, seen = run.stepper.step(micro_batches, step)
            done = step + 1
            labels_hr = _labels_hr(micro_batches[-1])
            stop = run.writer.after_step(done, scalars, seen, labels_hr, run.trainer)
            if run.writer.restart_reason and run.restart is not None and not stop and done < run.total_steps:
                log.warning("step %d: %s: the network starts over from new initial weights", done,
                            run.writer.restart_reason)
                run.restart(done)
                run.writer.restarted(done)
            run.writer.save(done, run.trainer, run.stepper, seen, labels_hr)
            if on_step is not None and run.rank == 0:
                on_step(done, run.total_steps, scalars)
            if stop:
                return done, run.writer.stop_reason, stop
    except NonFiniteLossError as err:
        return done, "non-finite", str(err)
    except KeyboardInterrupt:
        return done, "interrupted", USER_INTERRUPT
    if done < run.total_steps:
        return done, "interrupted", f"stopped after step {done} of {run.total_steps} (loop.stop_after)"
    return done, "completed", ""


def _record(run_dir: str | Path, seed: int, sections: Mapping[str, Any]) -> dict[str, Any]:
    """The run config as plain values, from the sections (when the caller gave none)."""
    record: dict[str, Any] = {"seed": seed, "run_dir": str(run_dir)}
    for name, section in sections.items():
        if isinstance(section, Objective):   # as an ObjectiveConfig reads it: the name and its own section
            record[name] = {"name": section.name, section_name(section.name): config_to_dict(section.config)}
        else:
            record[name] = config_to_dict(section)
    return record


@contextlib.contextmanager
def _claimed(run_dir: str | Path, rank: int) -> Iterator[None]:
    """Rank 0 claims the run directory (never another command's folder, nor the user's files) and holds
    its lock for the block, so a second run into the same folder is refused."""
    if rank != 0:
        yield
        return
    claim_run_dir(run_dir)
    with folder_lock(Path(run_dir), name=RUN_LOCK, command="sspd pretrain", where="run_dir"):
        yield


def run_pretraining(*, run_dir: str | Path, seed: int = 0, data: DataConfig, model: ModelConfig,
                    views: ViewOptions, objective: Objective, optim: OptimConfig, schedule: ScheduleConfig,
                    ema: EMAConfig, loop: LoopConfig, logging: LoggingConfig, probe: OnlineProbeConfig,
                    distributed: DistributedConfig, adapt: AdaptConfig | None = None,
                    observers: Sequence[ObserverFactory | None] = (),
                    record: Mapping[str, Any] | None = None, resume: bool | str | Path = False,
                    dataset: Dataset | None = None, on_step: StepCallback | None = None) -> LoopResult:
    """Pretrain as the sections say, writing ``run_dir``; returns how the run ended.

    Args:
        run_dir, seed: the run directory and the run seed.
        data, model, views, objective, optim, schedule, ema, loop, logging, probe, distributed: the typed
            sections (``objective`` built: :meth:`sspd.objectives.ObjectiveConfig.build`).
        adapt: which layers train, BatchNorm statistics and the label-free checks
            (:class:`sspd.engine.adapt.AdaptConfig`; default: everything trains, batch statistics, no
            checks), for a run that starts from ``model.init``, or any run.
        observers: factories of the observers that watch the run on rank 0 (e.g.
            :meth:`sspd.diagnostics.CollapseWatch.factory`); None entries are skipped. The online probe of
            ``probe`` and the adaptation's check join them here. Each observer saves its state in every
            checkpoint under its own key; one may stop the run (stop reason: its ``stop_reason``,
            "collapse" for the collapse monitor).
        record: the run config as plain values, saved as config.yaml and in every checkpoint (default:
            the sections' values).
        resume: True continues from ``run_dir``'s newest readable checkpoint (``last.pt``, else the
            newest step file, with a warning), a path from that checkpoint file (exactly: on CPU the losses
            after resuming equal those of an uninterrupted run).
        dataset: a :class:`sspd.engine.facts.TrainDataset` (a torch Dataset of {"video": (C, T+1, S, S),
            "fps", optional "ppg" or "label" (T+1,), "hr"} with the clips' rate as ``dataset.fps``; one
            without it is refused) to train on instead of the one ``data`` describes (labels feed the
            online probe).
        on_step: called on rank 0 after every step (the CLI's progress bar).

    Under torchrun every rank calls this; the process group is created from the environment.
    """
    started = time.time()
    if get_rank() == 0:
        check_run_dir(run_dir)   # before any work: a folder of the user's files is refused at once
    adapt = adapt if adapt is not None else AdaptConfig()
    composed = (*observers, HeldPriorsCheck.factory(adapt), LoopProbe.factory(probe))   # every watcher of the run
    factories = [f for f in composed if f is not None]
    if record is None:
        record = _record(run_dir, seed, {"data": data, "model": model, "views": views, "objective": objective,
                                         "optim": optim, "schedule": schedule, "ema": ema, "loop": loop,
                                         "logging": logging, "probe": probe, "distributed": distributed,
                                         "adapt": adapt})
    dataset = dataset if dataset is not None else build_train_dataset(data, seed=seed)
    facts = RunFacts.resolve(data=data, model=model, view=views.inference_view(), dataset=dataset,
                             objective_config=objective.config)   # fps, frames, band: once, for everyone
    check_dataset_labels(dataset, objective=objective.spec.name, needs_labels=objective.spec.needs_labels, data=data)
    init_distributed_from_env(distributed.backend, timeout_s=distributed.timeout_s)
    rank, world_size = get_rank(), get_world_size()
    device = resolve_device(loop.device, loop.precision)
    total, per_epoch = run_length(loop, len(dataset), world_size * optim.accumulation)
    torch.manual_seed(derive_seed(seed, "init"))   # the same initial weights on every rank
    model = resolve_signal(model, objective)  # signal auto: what the objective makes the prediction follow
    network, spec = initial_network(model, frames=facts.frames, view=facts.view)  # model.init's weights
    check_objective_signal(network, objective)
    counts = apply_adaptation(network, adapt)
    log.info("adapt: %s layers (%d trainable, %d frozen parameters), BatchNorm %s", adapt.layers,
             counts["trainable"], counts["frozen"], adapt.batchnorm)
    network = maybe_convert_sync_batchnorm(network, distributed.sync_batchnorm).to(device)
    trainer = build_trainer(network, optim=optim, ema=ema, objective=objective, views=views, seed=seed,
                            channels_last=loop.channels_last)
    trainer.frozen_batchnorm = adapt.batchnorm == "frozen"
    stepper = OptimiserStep(trainer, total_steps=total, lr_of=lr_schedule(optim, schedule, total),
                            grad_clip=optim.grad_clip, precision=loop.precision, max_nonfinite=loop.max_nonfinite,
                            seed=seed)
    seed_everything(seed, rank=rank)
    # nothing is written before the network is built and the folder is ours
    with _claimed(run_dir, rank), deterministic_kernels(device, loop.deterministic):
        context = RunContext(run_dir=Path(run_dir), facts=facts, total_steps=total, seed=seed, dataset=dataset,
                             feature_dim=network.backbone.feature_dim)
        watching = [factory(context) for factory in factories] if rank == 0 else []
        writer = RunWriter(run_dir, record=record, network=spec, loop=loop, logging=logging, fps=facts.fps,
                           total_steps=total, steps_per_epoch=per_epoch, rank=rank, observers=watching,
                           stop_broadcast=bool(factories) and world_size > 1,
                           input_spec=training_input_spec(spec, data=data, dataset=dataset, fps=facts.fps))
        def restart(done: int) -> None:  # the same weights on every rank; the global generator untouched
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(derive_seed(seed, "init", "restart", done))
                fresh, _ = initial_network(model, frames=facts.frames, view=facts.view)
            trainer.restart(fresh.state_dict())

        run = _Run(loop, trainer, stepper, writer, total, per_epoch, seed, loop.batch_size, optim.accumulation,
                   data.workers, rank, world_size, restart if model.init is None else None)
        if not resume:
            writer.check_fresh()
        first = writer.restore(trainer, stepper, path=None if resume is True else resume) if resume else 0
        writer.open_sinks(resume_step=first if resume else None)
        try:
            done, reason, message = _loop(run, dataset, first, on_step)
            if reason == "non-finite":
                log.error(message)
            writer.save(done, trainer, stepper, None, None, final=done > 0)
            writer.finish(done, reason, message, wall_time_s=time.time() - started)
        finally:
            writer.close()
            barrier()
    return LoopResult(run_dir=Path(run_dir), steps=done, total_steps=total, stop_reason=reason, message=message,
                      wall_time_s=time.time() - started, final=writer.last_scalars, facts=facts)
