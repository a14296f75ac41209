"""The collapse monitor the training engine calls: buffer + probes + verdicts + a patience rule.

    monitor = CollapseMonitor(fs=30.0, patience=3, warmup_steps=20)
    for step in ...:
        ...                                              # a training step with pooled, pred, ...
        if step % every == 0:
            report = monitor.check(step, pooled=pooled, predictions=pred, target_predictions=target_pred,
                                   ssm=ssm, ssw=ssw, labels_hr=hr)
            log(report.scalars())                          # probes and alarm levels, named scalars
            if report.collapse and stop_on_collapse:
                break                                      # report.message names the probe and values
        else:
            monitor.observe(pooled=pooled, predictions=pred, labels_hr=hr)   # cheap: fills the buffer

One noisy check never stops a run: a probe must be "collapsed" at ``patience`` consecutive checks.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from sspd.diagnostics.alarms import Verdict, assess, verdict_scalars
from sspd.diagnostics.buffer import ProbeBuffer
from sspd.diagnostics.probe_set import compute_probes
from sspd.diagnostics.thresholds import DEFAULT_THRESHOLDS, Thresholds
from sspd.signal import DEFAULT_BAND, check_band, check_fs

__all__ = ["MonitorReport", "CollapseMonitor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonitorReport:
    """What one check found.

    Attributes:
        step: the training step of the check.
        probes: ``{"collapse/<probe>": value}``.
        verdicts: ``{"collapse/<probe>": Verdict}`` for the judged probes.
        collapse: True when a probe has been collapsed at ``patience`` consecutive checks.
        probe: that probe's name (the longest streak), None without collapse.
        message: a sentence naming the probe, its recent values and the threshold; "" without collapse.
        streaks: ``{"collapse/<probe>": n}``, the consecutive collapsed checks of each probe in a streak.
    """

    step: int
    probes: dict[str, float]
    verdicts: dict[str, Verdict]
    collapse: bool = False
    probe: str | None = None
    message: str = ""
    streaks: dict[str, int] = field(default_factory=dict)

    def scalars(self) -> dict[str, float]:
        """The probes and their alarm levels (0/1/2) as one dict of named scalars for the loggers."""
        return {**self.probes, **verdict_scalars(self.verdicts)}


class CollapseMonitor:
    """Rolling buffer, probes, verdicts and patience, with a state for resuming.

    Args:
        fs: frame rate of the clips in Hz.
        band: (low, high) Hz of the pulse band for the probes.
        thresholds: the alarm rules.
        patience: K, the consecutive "collapsed" checks of one probe that declare collapse. A check
            where the probe is absent (e.g. too few clips yet) neither extends nor breaks its streak;
            collapse is declared only at a check where the probe is present.
        capacity: clips kept by the rolling buffer.
        min_clips: the fewest clips the per-clip probes are computed from.
        seed: seed of the frame shuffle of the input-sensitivity probes.
        warmup_steps: checks at steps below this are reported and logged but start no streak. An
            untrained network has learned no pulse yet, which the in-band probes read as collapse
            (measured once: untrained SSPD-Net + predictor + TS stack on synthetic clips give
            pred_in_band about 0.14, ssw_in_band about 0.37); set it to the step by which the band
            terms have had their effect.
    """

    def __init__(self, *, fs: float, band: tuple[float, float] = DEFAULT_BAND,
                 thresholds: Thresholds = DEFAULT_THRESHOLDS, patience: int = 3, capacity: int = 64,
                 min_clips: int = 16, seed: int = 0, warmup_steps: int = 0) -> None:
        if int(patience) != patience or patience < 1:
            raise ValueError(f"CollapseMonitor: patience must be an integer >= 1 check, got {patience!r}")
        if int(min_clips) != min_clips or min_clips < 2:
            raise ValueError(f"CollapseMonitor: min_clips must be an integer >= 2, got {min_clips!r}")
        if min_clips > capacity:
            raise ValueError(f"CollapseMonitor: min_clips={min_clips} exceeds the buffer capacity "
                             f"{capacity}: the per-clip probes would never run; lower min_clips")
        self.fs = check_fs(fs)
        self.band, self.thresholds = check_band(band, self.fs), thresholds
        if warmup_steps < 0:
            raise ValueError(f"CollapseMonitor: warmup_steps must be >= 0, got {warmup_steps}")
        self.patience, self.min_clips, self.warmup_steps = int(patience), min_clips, warmup_steps
        self.buffer = ProbeBuffer(capacity)
        self.generator = torch.Generator().manual_seed(seed)
        self._streaks: dict[str, list[tuple[int, float]]] = {}   # the last K (step, value) of a streak
        self._counts: dict[str, int] = {}                         # its full length
        self._levels: dict[str, str] = {}
        self.num_checks = 0

    def observe(self, *, pooled: Any = None, predictions: Any = None, labels_hr: Any = None) -> None:
        """Add one batch to the rolling buffer (no probes): call it on the steps between checks.

        Args:
            pooled: (B, D, T) pooled features; predictions: (B, T); labels_hr: (B,) bpm.
        """
        self.buffer.add(pooled=pooled, predictions=predictions, labels_hr=labels_hr)

    def check(self, step: int, *, pooled: Any = None, predictions: Any = None,
              target_predictions: Any = None, ssm: Any = None, ssw: Any = None, labels_hr: Any = None,
              model_fn: Callable[[Tensor], Tensor] | None = None,
              clips: Tensor | None = None) -> MonitorReport:
        """Observe the batch, compute the probes, judge them and apply the patience rule.

        Args:
            step: the training step (named in the report and the message).
            pooled, predictions, target_predictions, ssm, ssw, labels_hr, model_fn, clips: the batch's
                tensors, as for :func:`~sspd.diagnostics.compute_probes`; any may be None.
        """
        self.observe(pooled=pooled, predictions=predictions, labels_hr=labels_hr)
        probes = compute_probes(fs=self.fs, band=self.band, pooled=pooled, predictions=predictions,
                                target_predictions=target_predictions, ssm=ssm, ssw=ssw,
                                buffer=self.buffer, model_fn=model_fn, clips=clips,
                                generator=self.generator, min_clips=self.min_clips)
        verdicts = assess(probes, self.thresholds)
        self.num_checks += 1
        if step >= self.warmup_steps:
            self._update_streaks(step, verdicts)
        self._log_changes(step, verdicts)
        return self._report(step, probes, verdicts)

    def _update_streaks(self, step: int, verdicts: dict[str, Verdict]) -> None:
        """Extend the streak of each collapsed probe, end the streak of each judged non-collapsed one."""
        for name, verdict in verdicts.items():
            if verdict.level != "collapsed":
                self._streaks.pop(name, None)
                self._counts.pop(name, None)
                continue
            recent = self._streaks.setdefault(name, [])
            recent.append((int(step), float(verdict.value)))
            del recent[:-self.patience]
            self._counts[name] = self._counts.get(name, 0) + 1

    def _log_changes(self, step: int, verdicts: dict[str, Verdict]) -> None:
        """Log a probe when its level changes (not at every check)."""
        for name, verdict in verdicts.items():
            previous = self._levels.get(name, "healthy")
            if verdict.level != previous:
                emit = log.info if verdict.level == "healthy" else log.warning
                emit("step %d: %s (was %s)", step, verdict.reason, previous)
            self._levels[name] = verdict.level

    def _report(self, step: int, probes: dict[str, float], verdicts: dict[str, Verdict]) -> MonitorReport:
        declared = [name for name in verdicts if self._counts.get(name, 0) >= self.patience]
        streaks = dict(self._counts)
        if not declared:
            return MonitorReport(step, probes, verdicts, streaks=streaks)
        probe = max(declared, key=lambda name: self._counts[name])
        message = self._message(step, probe, declared)
        if any(self._counts[name] == self.patience for name in declared):   # newly declared: log once
            log.error(message)
        return MonitorReport(step, probes, verdicts, True, probe, message, streaks)

    def _message(self, step: int, probe: str, declared: list[str]) -> str:
        """Names the probe, its last values with their steps, the threshold and what it means."""
        rule = self.thresholds.rule(probe)
        sign = "<" if rule.worse == "below" else ">"
        limit = "not finite" if rule.collapsed is None else f"{sign} {rule.collapsed:g}"
        history = ", ".join(f"step {s}: {v:.4g}" for s, v in self._streaks[probe])
        others = [name for name in declared if name != probe]
        message = (f"collapse detected at step {step}: {probe} has been collapsed ({limit}) for "
                   f"{self._counts[probe]} consecutive checks ({history}): {rule.meaning}")
        if others:
            latest = (f"{n} = {self._streaks[n][-1][1]:.4g}" for n in others)
            message += "; also collapsed: " + ", ".join(latest)
        return message

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs for the same verdicts: streaks, levels, buffer, shuffle state."""
        return {"streaks": {k: list(v) for k, v in self._streaks.items()}, "counts": dict(self._counts),
                "levels": dict(self._levels), "num_checks": self.num_checks,
                "buffer": self.buffer.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        missing = {"streaks", "counts", "levels", "num_checks", "buffer", "generator"} - set(state)
        if missing:
            raise ValueError(f"CollapseMonitor.load_state_dict: missing keys {sorted(missing)}: pass the "
                             "dict saved by CollapseMonitor.state_dict()")
        self._streaks = {k: [(int(s), float(v)) for s, v in steps] for k, steps in state["streaks"].items()}
        self._counts = {k: int(v) for k, v in state["counts"].items()}
        self._levels = dict(state["levels"])
        self.num_checks = int(state["num_checks"])
        self.buffer.load_state_dict(state["buffer"])
        self.generator.set_state(state["generator"])
