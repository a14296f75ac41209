"""Rank 0's side of a pretraining run: the run directory's files (names and formats in
:mod:`sspd.engine.runfiles.run_dir`), the logging sinks, checkpoints, snapshots, and the observers that
watch the run (:class:`sspd.engine.observers.RunObserver`: the online probe, the collapse monitor, the
health check, ...; each saves its state under its own checkpoint key, none is known here by name).

    writer = RunWriter(run_dir, record=config_dict, network=spec, loop=loop, logging=logging_section, fps=30.0,
                       total_steps=200, steps_per_epoch=64, rank=0, observers=[watch, probe])
    stop = writer.after_step(done, scalars, seen, labels_hr, trainer)    # log, observe
    writer.save(done, trainer, stepper, seen, labels_hr)                   # checkpoint when due
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch

from sspd.engine.capture import CapturedOutputs, level_maps
from sspd.engine.runfiles.checkpoint import CheckpointManager, latest, load_checkpoint, load_latest
from sspd.engine.distributed import broadcast_object
from sspd.engine.runfiles.run_dir import (CHECKPOINT_FORMAT, CHECKPOINTS, METRICS, TENSORBOARD, snapshot_path,
                                          write_config, write_snapshot, write_summary)
from sspd.engine.seeding import rng_state, set_rng_state
from sspd.engine.runfiles.sinks import (JSONLSink, LoggingConfig, MultiSink, Sink, TensorBoardSink,
                                        render_map_image, render_wave_image)
from sspd.engine.observers import RunObserver
from sspd.models.input_spec import INPUT_KEY, InputSpec

if TYPE_CHECKING:
    from sspd.engine.step import TrainStep

__all__ = ["RunWriter"]

log = logging.getLogger(__name__)


#: the keys of a checkpoint that are the run's own (no observer may take one)
_RUN_KEYS = frozenset({"format", "step", "epoch", "config", "network", "online", "target", "train_step", "rng",
                       "guard", "scaler", "data", "finetune", "checkpoint_manager"})


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
            checkpoint's ``"config"``). network: the network spec (:func:`sspd.models.network_spec`).
        input_spec: what the network is trained on (every checkpoint's ``"input"``; None: not written).
        loop: the loop section (checkpoint_every, keep_last, best_metric). logging: the logging section.
        fps, total_steps, steps_per_epoch, rank: the run's.
        observers: the observers of rank 0 (empty on the others), each with its own checkpoint key.
        stop_broadcast: whether observers may stop the run (then their decision is broadcast every step;
            the same on every rank).
    """

    def __init__(self, run_dir: str | Path, *, record: Mapping[str, Any], network: Mapping[str, Any], loop: Any,
                 logging: LoggingConfig, fps: float, total_steps: int, steps_per_epoch: int, rank: int,
                 observers: Sequence[RunObserver] = (), stop_broadcast: bool = False,
                 input_spec: InputSpec | None = None) -> None:
        self.run_dir, self.record, self.network = Path(run_dir), dict(record), dict(network)
        self.input_spec = input_spec
        self.loop, self.logging = loop, logging
        self.fps, self.total_steps, self.steps_per_epoch, self.rank = fps, total_steps, steps_per_epoch, rank
        self.observers, self.stop_broadcast = list(observers), stop_broadcast
        keys = [o.state_key for o in self.observers if o.state_key is not None]
        clashes = sorted({k for k in keys if keys.count(k) > 1} | (set(keys) & _RUN_KEYS))
        if clashes:
            raise ValueError(f"RunWriter: observers' state keys {clashes} clash with each other or with the "
                             f"checkpoint's own keys ({', '.join(sorted(_RUN_KEYS))}): give each its own key")
        self.saved_step: int | None = None
        self.sink: Sink = Sink()
        self.last_scalars: dict[str, float] = {}
        self._best_window: list[float] = []
        self.stop_reason = "collapse"  # the stop reason of the observer that ended the run
        self.restart_reason = ""  # an observer's request, after this step, that the network start over
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
        """The checkpoint dict of the run-directory contract (format ``sspd-checkpoint-1``): the run's own
        keys, then every observer's state under its own key."""
        per_epoch = self.steps_per_epoch
        stepper_state = stepper.state_dict()
        state = {"format": CHECKPOINT_FORMAT, "step": step, "epoch": step // per_epoch,
                 "config": self.record, "network": self.network,
                 INPUT_KEY: None if self.input_spec is None else self.input_spec.as_dict(),
                 "online": trainer.online_network.state_dict(),
                 "target": None if trainer.target_network is None else trainer.target_network.state_dict(),
                 "train_step": trainer.state_dict(), "rng": rng_state(), "guard": stepper_state["guard"],
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
            self._restore_observer(path, state, observer)
        if self.manager is not None:
            self.manager.load_state_dict(state["checkpoint_manager"])
        set_rng_state(state["rng"])
        log.info("resumed from %s at step %d", path, state["step"])
        return int(state["step"])

    @staticmethod
    def _restore_observer(path: Path, state: Mapping[str, Any], observer: RunObserver) -> None:
        """``observer``'s state from its own key (a checkpoint without it: as built, one log line), then
        its ``on_resume``; a state that is not the observer's raises ValueError naming the file."""
        key = observer.state_key
        if key is not None and state.get(key) is None:
            log.info("%s holds no %r state (that watcher was off when it was written): it starts afresh",
                     path, key)
        elif key is not None:
            try:
                observer.load_state_dict(state[key])
            except ValueError as err:
                raise ValueError(f"{path}: {err}") from err
        observer.on_resume()

    # ----------------------------------------------------------------------------- every step
    def after_step(self, done: int, scalars: dict[str, float], seen: CapturedOutputs | None,
                   labels_hr: torch.Tensor | None, trainer: TrainStep) -> str:
        """Log and observe; returns a stop message when an observer ends the run ("" otherwise)."""
        self.last_scalars = dict(scalars)
        self._best_window.append(scalars.get(self.loop.best_metric, math.nan))
        logged = dict(scalars)
        message = ""
        for observer in self.observers:
            observed, stop = observer.after_step(done, seen, labels_hr, trainer)
            logged.update(observed)
            if stop and not message:
                message, self.stop_reason = stop, observer.stop_reason
        observed_any = len(logged) > len(scalars)
        checked = {}
        if self.manager is not None and (self.manager.is_due(done) or done == self.total_steps):
            for observer in self.observers:
                checked.update(observer.at_checkpoint(done, trainer))
        logged.update(checked)
        self.restart_reason = next((r for r in (o.restart_request() for o in self.observers) if r), "")
        if self.rank == 0 and (done % self.logging.every_n_steps == 0 or observed_any or checked):
            self.sink.log_scalars(done, logged)
            self._log_pictures(done, seen, trainer)
        if self.stop_broadcast:  # every rank stops (or restarts) at the same step, for the same reason
            message, self.stop_reason, self.restart_reason = broadcast_object(
                (message, self.stop_reason, self.restart_reason))
        return message

    def restarted(self, done: int) -> None:
        """Tell the observers that the network started over after step ``done``."""
        self.restart_reason = ""
        for observer in self.observers:
            observer.on_restart(done)

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
