"""Rank 0's side of a pretraining run: the run directory's files (names and formats in
:mod:`sspd.engine.run_dir`), the logging sinks, checkpoints, snapshots, and the observers that watch the
run (the collapse monitor and the health check of :mod:`sspd.diagnostics`, given by the caller, so the
engine never imports what sits above it).

    writer = RunWriter(run_dir, record=config_dict, network=spec, loop=loop, logging=logging_section, fps=30.0,
                       total_steps=200, steps_per_epoch=64, rank=0, observers=[watch])
    stop = writer.after_step(done, scalars, seen, labels_hr, trainer)    # log, observe, probe
    writer.save(done, trainer, stepper, seen, labels_hr)                   # checkpoint when due
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from sspd.engine.capture import CapturedOutputs, level_maps
from sspd.engine.checkpoint import CheckpointManager, latest, load_checkpoint, load_latest
from sspd.engine.facts import RunFacts
from sspd.engine.distributed import broadcast_object
from sspd.engine.online_probe import LoopProbe
from sspd.engine.run_dir import (CHECKPOINT_FORMAT, CHECKPOINTS, METRICS, TENSORBOARD, snapshot_path, write_config,
                                 write_snapshot, write_summary)
from sspd.engine.seeding import rng_state, set_rng_state
from sspd.engine.sinks import (JSONLSink, LoggingConfig, MultiSink, Sink, TensorBoardSink, render_map_image,
                               render_wave_image)
from sspd.engine.step import TrainStep

__all__ = ["RunContext", "RunObserver", "ObserverFactory", "RunWriter"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """What an observer of a run may need to know, given to its factory on rank 0.

    Attributes:
        run_dir: the run directory; facts: the run's :class:`sspd.engine.facts.RunFacts` (frame rate,
        frames, input size, band, view), the same the loop gives the probe and the snapshots;
        total_steps: optimiser steps of the run; seed: the run seed; dataset: the training dataset (for
        observers that draw clips of their own).
    """

    run_dir: Path
    facts: RunFacts
    total_steps: int
    seed: int
    dataset: Any = None

    @property
    def fps(self) -> float:
        """The clips' frame rate in Hz (``facts.fps``)."""
        return self.facts.fps

    @property
    def frames(self) -> int:
        """Difference frames T per clip (``facts.frames``)."""
        return self.facts.frames

    @property
    def input_size(self) -> int:
        """The network's input side (``facts.input_size``)."""
        return self.facts.input_size


class RunObserver:
    """Watches a run from rank 0; every method has a do-nothing default.

    ``after_step`` sees every step's captured outputs and returns (scalars to log, a stop message or "");
    ``at_checkpoint`` runs at every checkpoint step and at the last step and returns scalars to log;
    ``state_dict``/``load_state_dict`` go to the checkpoint under :attr:`state_key` (None: no state);
    ``on_resume`` runs after a resumed run's checkpoint is loaded. A run an observer stops ends with the
    observer's :attr:`stop_reason`.
    """

    state_key: str | None = None
    #: the run's stop reason when this observer ends it
    stop_reason: str = "collapse"

    def after_step(self, step: int, seen: CapturedOutputs | None, labels_hr: torch.Tensor | None,
                   trainer: TrainStep) -> tuple[dict[str, float], str]:
        return {}, ""

    def at_checkpoint(self, step: int, trainer: TrainStep) -> dict[str, float]:
        return {}

    def state_dict(self) -> Any:
        return None

    def load_state_dict(self, state: Any) -> None:
        return None

    def on_resume(self) -> None:
        return None


#: builds an observer on rank 0 once the run's context is known
ObserverFactory = Callable[[RunContext], RunObserver]


def _check_resumable(path: Path, state: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``state`` is a pretraining checkpoint with the training state to resume."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an sspd pretraining checkpoint (format {state.get('format')!r}, "
                         f"expected {CHECKPOINT_FORMAT!r})")
    if state.get("finetune") is not None:
        raise ValueError(f"{path} is a fine-tuned network (sspd finetune), which cannot be resumed as a "
                         "pretraining run; resume the pretraining run it came from, or start a new run_dir")
    if not isinstance(state.get("train_step"), dict):
        raise ValueError(f"{path} holds network weights but no training state (train_step), so it cannot be "
                         "resumed; start a new run_dir")


class RunWriter:
    """Rank 0's side of a run: config, sinks, checkpoints, snapshots, the observers, the summary.

    On other ranks it writes nothing; it still takes part in the observers' stop decision (broadcast from
    rank 0) so every rank stops at the same step.

    Args:
        run_dir: the run directory. record: the resolved run config as plain values (config.yaml and every
            checkpoint's ``"config"``). network: the network spec (:func:`sspd.engine.network_spec`).
        loop: the loop section (checkpoint_every, keep_last, best_metric). logging: the logging section.
        fps, total_steps, steps_per_epoch, rank: the run's. probe: the online probe (rank 0) or None.
        observers: the observers of rank 0 (empty on the others). stop_broadcast: whether observers may stop
            the run (then their decision is broadcast every step; the same on every rank).
    """

    def __init__(self, run_dir: str | Path, *, record: Mapping[str, Any], network: Mapping[str, Any], loop: Any,
                 logging: LoggingConfig, fps: float, total_steps: int, steps_per_epoch: int, rank: int,
                 probe: LoopProbe | None = None, observers: Sequence[RunObserver] = (),
                 stop_broadcast: bool = False) -> None:
        self.run_dir, self.record, self.network = Path(run_dir), dict(record), dict(network)
        self.loop, self.logging = loop, logging
        self.fps, self.total_steps, self.steps_per_epoch, self.rank = fps, total_steps, steps_per_epoch, rank
        self.probe, self.observers, self.stop_broadcast = probe, list(observers), stop_broadcast
        self.saved_step: int | None = None
        self.sink: Sink = Sink()
        self.last_scalars: dict[str, float] = {}
        self._best_window: list[float] = []
        self.stop_reason = "collapse"  # the stop reason of the observer that ended the run
        self.manager = None
        if rank == 0:
            self.manager = CheckpointManager(self.run_dir / CHECKPOINTS, loop.checkpoint_every,
                                             keep_last=loop.keep_last, metric="best/" + loop.best_metric)

    def check_fresh(self) -> None:
        """Refuse to start a new run over a run directory that already holds checkpoints."""
        directory = self.run_dir / CHECKPOINTS
        if self.rank == 0 and directory.is_dir() and latest(directory) is not None:
            raise ValueError(f"{self.run_dir} already holds the checkpoints of a run: continue it with --resume "
                             f"{self.run_dir}, or choose another run_dir (--set run_dir=...)")

    def open_sinks(self, resume_step: int | None) -> None:
        """config.yaml, metrics.jsonl and tb/ (continuing after ``resume_step`` when resuming)."""
        if self.rank == 0:
            write_config(self.run_dir, self.record)
        every = self.logging.histograms_every_n_steps
        self.sink = MultiSink([JSONLSink(self.run_dir / METRICS, resume_step=resume_step, rank=self.rank),
                               TensorBoardSink(self.run_dir / TENSORBOARD, histogram_every_n_steps=every,
                                               resume_step=resume_step, rank=self.rank)])

    # ----------------------------------------------------------------------------- checkpoints
    def checkpoint_state(self, step: int, trainer: TrainStep, stepper: Any) -> dict[str, Any]:
        """The checkpoint dict of the run-directory contract (format ``sspd-checkpoint-1``)."""
        per_epoch = self.steps_per_epoch
        stepper_state = stepper.state_dict()
        state = {"format": CHECKPOINT_FORMAT, "step": step, "epoch": step // per_epoch,
                 "config": self.record, "network": self.network,
                 "online": trainer.online_network.state_dict(),
                 "target": None if trainer.target_network is None else trainer.target_network.state_dict(),
                 "train_step": trainer.state_dict(), "rng": rng_state(), "guard": stepper_state["guard"],
                 "monitor": None, "probe": self.probe.state_dict() if self.probe is not None else None,
                 "scaler": stepper_state["scaler"],
                 "data": {"epoch": step // per_epoch, "position": step % per_epoch}}
        for observer in self.observers:
            if observer.state_key is not None:
                state[observer.state_key] = observer.state_dict()
        return state

    def restore(self, trainer: TrainStep, stepper: Any, path: Path | None = None) -> int:
        """Load ``path``, default the newest readable checkpoint of ``checkpoints/`` (``last.pt``, else a
        step file, with a warning), into the run (every rank); returns the step to continue from."""
        directory = self.run_dir / CHECKPOINTS
        if path is not None:
            path, state = Path(path), load_checkpoint(path)
        else:
            found = load_latest(directory) if directory.is_dir() else None
            if found is None:
                raise FileNotFoundError(f"cannot resume: {directory} holds no checkpoint (last.pt or "
                                        "step_XXXXXXX.pt); start a fresh run without --resume")
            path, state = found
        _check_resumable(path, state)
        try:
            trainer.load_state_dict(state["train_step"])
        except (RuntimeError, KeyError, ValueError) as err:   # the network of config.yaml is not the saved one
            first = str(err).strip().splitlines()
            raise ValueError(f"{path}: the run's network does not match this checkpoint's weights "
                             f"({first[0] if first else type(err).__name__}); was config.yaml's model section "
                             "edited? Restore it, or start a new run_dir") from None
        stepper.load_state_dict({"guard": state["guard"], "scaler": state.get("scaler")})
        for observer in self.observers:
            if observer.state_key is not None and state.get(observer.state_key) is not None:
                observer.load_state_dict(state[observer.state_key])
            observer.on_resume()
        self._restore_probe(path, state.get("probe"))
        if self.manager is not None:
            self.manager.load_state_dict(state["checkpoint_manager"])
        set_rng_state(state["rng"])
        log.info("resumed from %s at step %d", path, state["step"])
        return int(state["step"])

    def _restore_probe(self, path: Path, state: dict[str, Any] | None) -> None:
        if self.probe is None:
            return
        if state is None:
            log.info("%s holds no online-probe state (the probe was off): the probe starts afresh", path)
            return
        try:
            self.probe.load_state_dict(state)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err

    # ----------------------------------------------------------------------------- every step
    def after_step(self, done: int, scalars: dict[str, float], seen: CapturedOutputs | None,
                   labels_hr: torch.Tensor | None, trainer: TrainStep, *,
                   ppg: torch.Tensor | None = None) -> str:
        """Log, observe, probe; returns a stop message when an observer ends the run ("" otherwise).

        ``ppg`` (B, T+1): the labels of the batch ``seen`` saw, for the online probe (None: unlabelled).
        """
        self.last_scalars = dict(scalars)
        self._best_window.append(scalars.get(self.loop.best_metric, math.nan))
        logged = dict(scalars)
        message = ""
        for observer in self.observers:
            observed, stop = observer.after_step(done, seen, labels_hr, trainer)
            logged.update(observed)
            if stop and not message:
                message, self.stop_reason = stop, observer.stop_reason
        probed = self.probe.step(done, seen.pooled if seen is not None else None, ppg) if self.probe else {}
        logged.update(probed)
        checked = {}
        if self.manager is not None and (self.manager.is_due(done) or done == self.total_steps):
            for observer in self.observers:
                checked.update(observer.at_checkpoint(done, trainer))
        logged.update(checked)
        if self.rank == 0 and (done % self.logging.every_n_steps == 0 or probed or checked):
            self.sink.log_scalars(done, logged)
            self._log_pictures(done, seen, trainer)
        if self.stop_broadcast:  # every rank stops at the same step, for the same reason
            message, self.stop_reason = broadcast_object((message, self.stop_reason))
        return message

    def _log_pictures(self, done: int, seen: CapturedOutputs | None, trainer: TrainStep) -> None:
        logging_cfg = self.logging
        if (seen is not None and seen.online is not None and seen.online.hs
                and done % logging_cfg.images_every_n_steps == 0):
            ssm, ssw = level_maps(seen.online.hs[:1])[0]
            if bool(torch.isfinite(ssm[0]).all()):
                self.sink.log_images(done, {"ssm/online_l0": render_map_image(ssm),
                                            "ssw/online_l0": render_wave_image(ssw, fs=self.fps)})
        if done % logging_cfg.histograms_every_n_steps == 0:
            self.sink.log_histograms(done, {f"online/{n}": p for n, p in trainer.online_network.named_parameters()})

    def save(self, done: int, trainer: TrainStep, stepper: Any, seen: CapturedOutputs | None,
             labels_hr: torch.Tensor | None, final: bool = False) -> None:
        """Checkpoints (and a snapshot) when due at ``done`` steps, or at the end with ``final``."""
        if self.manager is None or self.saved_step == done or not (final or self.manager.is_due(done)):
            return
        self.saved_step = done
        window = [v for v in self._best_window if math.isfinite(v)]
        metrics = {"best/" + self.loop.best_metric: sum(window) / len(window)} if window else None
        self._best_window = []
        self.manager.save(done, self.checkpoint_state(done, trainer, stepper), metrics=metrics, final=final)
        if seen is not None and seen.online is not None:
            write_snapshot(snapshot_path(self.run_dir, done), seen, fs=self.fps,
                           clips=self.logging.snapshot_clips, labels_hr=labels_hr)

    def finish(self, done: int, reason: str, message: str, *, wall_time_s: float) -> None:
        """summary.json (rank 0)."""
        if self.rank == 0:
            write_summary(self.run_dir, steps=done, total_steps=self.total_steps, wall_time_s=wall_time_s,
                          stop_reason=reason, message=message, final=self.last_scalars)

    def close(self) -> None:
        self.sink.close()
