"""The diagnostics' watch over a pretraining run: the collapse monitor on every step's outputs
(:class:`CollapseWatch`) and the health check at every checkpoint (:class:`HealthWatch`), writing
``collapse.json`` and ``health.json`` of the run directory.

    collapse = CollapseConfig()
    run_pretraining(..., observers=[CollapseWatch.factory(collapse), HealthWatch.factory(collapse)])

The engine knows each only as a :class:`sspd.engine.observers.RunObserver` with its own checkpoint key
(``"monitor"``, ``"health"``); the engine does not import the diagnostics, ``sspd pretrain`` composes them.
The two share the run's verdict in collapse.json through the run directory: the monitor's report with the
latest health.json's verdict, whichever of them wrote last.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import torch

from sspd.configuration import require_positive_int
from sspd.diagnostics.health import health_json, health_scalars, run_verdict
from sspd.diagnostics.health_run import HealthClips, run_health
from sspd.diagnostics.monitor import CollapseMonitor
from sspd.engine.capture import CapturedOutputs, level_maps
from sspd.engine.runfiles.run_dir import COLLAPSE, HEALTH, read_json, write_json
from sspd.engine.observers import ObserverFactory, RunContext, RunObserver
from sspd.engine.step import TrainStep

__all__ = ["CollapseConfig", "CollapseWatch", "HealthWatch"]

log = logging.getLogger(__name__)


@dataclass
class CollapseConfig:
    """Collapse monitoring while training: the collapse monitor (:class:`CollapseWatch`) and the health check
    (:class:`HealthWatch`).

    Attributes:
        enabled: run the probes.
        every_n_steps: check period in optimiser steps (between checks the batch only fills the buffer).
        warmup_fraction: checks in the first fraction of the run start no collapse streak: an untrained
            network has learned no pulse yet, which the in-band probes read as collapse.
        patience: consecutive collapsed checks of one probe that declare collapse.
        min_clips: clips the per-clip probes need (the buffer holds the recent batches).
        sensitivity: also run the input-sensitivity probes (three extra forward passes per check).
        stop: end the run when collapse is declared (stop reason "collapse").
        health: at every checkpoint and at the end, judge whether the run is learning the pulse
            (:mod:`sspd.diagnostics.health`: the online network on long clips of its own training data,
            without labels) and write RUN_DIR/health.json; the run's verdict (learning, not learning,
            collapsed) goes to collapse.json, the JSONL and TensorBoard as ``health/level`` (0, 1, 2).
        health_clips, health_seconds: the clips of that check and their length (10 s reads a rate to a
            few bpm; the check costs about one second per clip on two CPU cores).
        restart_after: a network that the health check still finds not learning although the clips show a
            pulse (POS sees one; or collapsed) at the first check this many steps after it started starts
            over from new initial weights (a seed derived from the run seed and the step), at most
            ``restarts`` times; the step count, the schedules and the data order go on. 0: never (the
            paper's training; its 90-step recipe never reaches a check at 200 either). Label-free: the
            check never reads labels. Without the health check (``health`` or ``enabled`` false) there is
            no restart; runs that start from ``model.init`` never restart (the same weights would come back).
        restarts: how many times a run may start over (2: a network that starts over and still is not learning
            ``restart_after`` steps later gets one more try).
    """

    enabled: bool = True
    every_n_steps: int = 8
    warmup_fraction: float = 0.25
    patience: int = 3
    min_clips: int = 16
    sensitivity: bool = False
    stop: bool = False
    health: bool = True
    health_clips: int = 12
    health_seconds: float = 10.0
    restart_after: int = 200
    restarts: int = 2

    def __post_init__(self) -> None:
        require_positive_int("collapse", every_n_steps=self.every_n_steps, patience=self.patience)
        if self.restart_after < 0 or self.restarts < 0:
            raise ValueError(f"collapse.restart_after and collapse.restarts must be >= 0, got "
                             f"{self.restart_after}, {self.restarts}")
        if self.health and (self.health_clips < 2 or not self.health_seconds > 0):
            raise ValueError(f"collapse.health_clips must be >= 2 and collapse.health_seconds > 0, got "
                             f"{self.health_clips}, {self.health_seconds}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"collapse.warmup_fraction must be in [0, 1), got {self.warmup_fraction}")


class CollapseWatch(RunObserver):
    """The collapse monitor of a run (every step, checks every ``collapse.every_n_steps``); its state is the
    checkpoint's ``"monitor"``.

    Args:
        collapse: the collapse section; context: the run's (:class:`sspd.engine.runfiles.run_writer.RunContext`).

    Raises:
        ValueError: the clips are shorter than one period of the monitor band's low edge.
    """

    state_key = "monitor"

    def __init__(self, collapse: CollapseConfig, context: RunContext) -> None:
        self.collapse, self.context = collapse, context
        warmup = int(math.ceil(collapse.warmup_fraction * context.total_steps))
        facts = context.facts
        self.monitor = CollapseMonitor(fs=facts.fps, band=facts.band, patience=collapse.patience,
                                       min_clips=collapse.min_clips, capacity=max(64, collapse.min_clips),
                                       seed=context.seed, warmup_steps=warmup)
        facts.check_band_period(what="collapse monitoring", off="collapse.enabled=false")
        self.collapse_report: dict[str, Any] | None = None   # the monitor's latest report, as JSON

    @classmethod
    def factory(cls, collapse: CollapseConfig) -> ObserverFactory | None:
        """The observer factory of a collapse section (None when monitoring is off)."""
        if not collapse.enabled:
            return None
        return lambda context: cls(collapse, context)

    # ------------------------------------------------------------------------------ the monitor
    def after_step(self, step: int, seen: CapturedOutputs | None, labels_hr: torch.Tensor | None,
                   trainer: TrainStep) -> tuple[dict[str, float], str]:
        if seen is None or seen.online is None:
            return {}, ""
        predictions = seen.online.rppg
        labels = labels_hr if labels_hr is not None and labels_hr.shape[0] == predictions.shape[0] else None
        if step % self.collapse.every_n_steps:
            self.monitor.observe(pooled=seen.pooled, predictions=predictions, labels_hr=labels)
            return {}, ""
        ssm, ssw = level_maps(seen.online.hs[:1])[0] if seen.online.hs else (None, None)
        report = self.monitor.check(step, pooled=seen.pooled, predictions=predictions,
                                    target_predictions=seen.target.rppg if seen.target else None,
                                    ssm=ssm, ssw=ssw, labels_hr=labels)
        self.collapse_report = _report_json(report, self.monitor.warmup_steps)
        _write_verdict(self.context.run_dir, self.collapse_report, read_json(self.context.run_dir, HEALTH))
        stop = report.collapse and self.collapse.stop
        return report.scalars(), (report.message if stop else "")

    def state_dict(self) -> dict[str, Any]:
        return self.monitor.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.monitor.load_state_dict(state)



class HealthWatch(RunObserver):
    """The health check of a run (every checkpoint and the last step): is the online network learning the
    pulse? Writes health.json and the run's verdict in collapse.json; its state, the latest health.json,
    is the checkpoint's ``"health"``.

    Args:
        collapse: the collapse section (``health``, ``health_clips``, ``health_seconds``); context: the run's.
    """

    state_key = "health"

    def __init__(self, collapse: CollapseConfig, context: RunContext) -> None:
        self.collapse, self.context = collapse, context
        self.health: dict[str, Any] | None = None  # the latest health.json
        self.restarts: list[dict[str, Any]] = []  # {"step", "reason"} of each start over (in health.json)
        self._health_clips: HealthClips | None = None
        self._restored = False
        self._restart = ""  # a restart this check asks for

    @classmethod
    def factory(cls, collapse: CollapseConfig) -> ObserverFactory | None:
        """The observer factory of a collapse section (None when monitoring or the health check is off)."""
        if not (collapse.enabled and collapse.health):
            return None
        return lambda context: cls(collapse, context)

    def state_dict(self) -> dict[str, Any] | None:
        """The latest health.json as plain values (as on disk: a checkpoint loads with weights_only)."""
        return None if self.health is None else json.loads(json.dumps(self.health, default=float))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._restore(dict(state))
        self._restored = True

    def on_resume(self) -> None:
        """A checkpoint written before the health check had its own key: the run's health.json instead."""
        if not self._restored:
            self._restore(read_json(self.context.run_dir, HEALTH))

    def _restore(self, health: dict[str, Any] | None) -> None:
        """Take a saved health.json as the latest, and its record of restarts as the run's."""
        self.health = health
        self.restarts = [dict(r) for r in (health or {}).get("restarts", [])]

    def restart_request(self) -> str:
        """The reason to start over that this checkpoint's check found ("" for none); asked once."""
        reason, self._restart = self._restart, ""
        return reason

    def on_restart(self, step: int) -> None:
        """Record the start over in health.json (and so in the checkpoint's state)."""
        self.restarts.append({"step": step, "reason": self.health["reason"] if self.health else ""})
        if self.health is not None:
            self.health["restarts"] = self.restarts
            write_json(self.context.run_dir, HEALTH, self.health)

    def _wants_restart(self, health: Any, step: int, previous: int | None) -> bool:
        """Whether this check's verdict (at ``step``; the check before at ``previous``) restarts the network:
        the first check ``restart_after`` steps after it started (see :attr:`CollapseConfig.restart_after`)."""
        after = self.collapse.restart_after
        started = self.restarts[-1]["step"] if self.restarts else 0
        first = step - started >= after and (previous is None or previous - started < after)
        hopeless = health.verdict != "learning" and health.probe not in ("pulse_evidence", "signal_clips")
        return after > 0 and len(self.restarts) < self.collapse.restarts and first and hopeless

    def at_checkpoint(self, step: int, trainer: TrainStep) -> dict[str, float]:
        """The health check; clips it cannot judge are one warning line (once per reason), any other failure
        is logged with its traceback; neither ends the run."""
        if self.context.dataset is None:
            return {}
        try:
            return self.check_health(step, trainer)
        except ValueError as err:  # the clips cannot be judged (e.g. constant, faceless): one line, once
            if str(err) != getattr(self, "_health_problem", None):
                self._health_problem = str(err)
                log.warning("step %d: the health check cannot judge this run's clips (%s); the run goes on "
                            "without a verdict (set collapse.health=false to skip the check)", step, err)
            return {}
        except Exception:  # a bug of the check must not stop days of training; the verdict stays as it was
            log.exception("step %d: the health check failed (the run goes on; its verdict is not updated); "
                          "set collapse.health=false to skip it", step)
            return {}

    def check_health(self, step: int, trainer: TrainStep) -> dict[str, float]:
        """Judge whether the online network is learning the pulse: health.json and collapse.json; returns
        the ``health/*`` scalars for this step's log line."""
        context, facts = self.context, self.context.facts
        if self._health_clips is None:
            self._health_clips = HealthClips.from_dataset(context.dataset, seed=context.seed,
                                                          n_clips=self.collapse.health_clips,
                                                          seconds=self.collapse.health_seconds,
                                                          min_frames=facts.frames, fps=facts.fps)
        health = run_health(trainer.online_network, self._health_clips, window=facts.frames,
                            input_size=facts.input_size, view=facts.view, band=facts.band)
        previous = None if self.health is None else self.health.get("step")
        self.health = health_json(health, step=step)
        self.health["restarts"] = self.restarts
        if self._wants_restart(health, step, previous):
            self._restart = f"the health check says {health.verdict} ({health.reason})"
        write_json(context.run_dir, HEALTH, self.health)
        _write_verdict(context.run_dir, read_json(context.run_dir, COLLAPSE), self.health)
        emit = log.info if health.verdict == "learning" else log.warning
        emit("step %d: %s", step, health.headline())
        return health_scalars(health)


def _write_verdict(run_dir: Any, report: dict[str, Any] | None, health: dict[str, Any] | None) -> None:
    """collapse.json: the monitor's last report (None: none yet) and the run's verdict (collapsed,
    learning, not learning) from it and the latest health check."""
    report = dict(report or {})
    report.update(run_verdict(report, health))
    write_json(run_dir, COLLAPSE, report)


def _report_json(report: Any, warmup_steps: int) -> dict[str, Any]:
    """A :class:`sspd.diagnostics.MonitorReport` as JSON: verdicts with values, bands and reasons."""
    verdicts = {}
    for name, verdict in report.verdicts.items():
        fields = getattr(verdict, "__dataclass_fields__", None)
        verdicts[name] = ({k: getattr(verdict, k) for k in fields} if fields else
                          verdict._asdict() if hasattr(verdict, "_asdict") else str(verdict))
    return {"step": report.step, "warmup_steps": warmup_steps, "probes": report.probes, "verdicts": verdicts,
            "collapse": report.collapse, "probe": report.probe, "message": report.message,
            "streaks": report.streaks}
