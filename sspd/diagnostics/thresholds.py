"""Alarm thresholds of the collapse probes: one documented rule per probe that can raise an alarm.

Each field of :class:`Thresholds` is named after its probe (``collapse/<field>``) and says why its
values were chosen, from the probe's value on healthy and collapsed inputs constructed in
``tests/diagnostics/test_diagnostics_thresholds.py``. Probes with no field (agreement, Toeplitz score,
HR std/entropy/mode, label statistics, rank fraction) are logged for reading, never judged: their
healthy value depends on the data, the backbone or the batch size more than on collapse.

The values are a first calibration on constructed inputs; recalibrate them on real runs of each
backbone by passing your own ``Thresholds(...)`` (e.g. ``dataclasses.replace(DEFAULT_THRESHOLDS,
feature_std_clips=Rule(...))``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = ["LEVELS", "Rule", "Thresholds", "DEFAULT_THRESHOLDS"]

LEVELS = ("healthy", "warning", "collapsed")
_DIRECTIONS = ("below", "above")


@dataclass(frozen=True)
class Rule:
    """When one probe's value is a warning or a collapse.

    Attributes:
        warning: the value past which the probe warns.
        collapsed: the value past which it declares collapse; None for a probe that only warns.
        worse: ``"below"`` when low values are bad (value < threshold), ``"above"`` when high are.
        meaning: what a bad value means, in a few words, for alarm messages.
    """

    warning: float
    collapsed: float | None
    worse: str
    meaning: str

    def __post_init__(self) -> None:
        if self.worse not in _DIRECTIONS:
            raise ValueError(f"Rule.worse must be one of {_DIRECTIONS}, got {self.worse!r}")
        limits = [self.warning] + ([] if self.collapsed is None else [self.collapsed])
        if not all(math.isfinite(v) for v in limits):
            raise ValueError(f"Rule thresholds must be finite, got warning={self.warning}, "
                             f"collapsed={self.collapsed}")
        if self.collapsed is not None:
            gap = self.warning - self.collapsed if self.worse == "below" else self.collapsed - self.warning
            if gap < 0:
                raise ValueError(f"Rule: collapsed={self.collapsed} must lie beyond warning={self.warning} "
                                 f"on the bad side ('{self.worse}')")

    def level(self, value: float) -> str:
        """"healthy", "warning" or "collapsed" for ``value``; a non-finite value is "collapsed"."""
        if not math.isfinite(value):
            return "collapsed"
        past = (lambda limit: value < limit) if self.worse == "below" else (lambda limit: value > limit)
        if self.collapsed is not None and past(self.collapsed):
            return "collapsed"
        return "warning" if past(self.warning) else "healthy"

    def healthy_band(self) -> tuple[float, float]:
        """The healthy interval (low, high), inclusive of its finite end."""
        return (self.warning, math.inf) if self.worse == "below" else (-math.inf, self.warning)


@dataclass(frozen=True)
class Thresholds:
    """The alarm rule of every judged probe; see each field. Pass a modified copy to recalibrate."""

    feature_std_time: Rule = Rule(0.1, 0.03, "below", "features barely change in time")
    """Relative std (x sqrt(D)) of each clip's unit feature vectors over time. It approximates the
    ratio |temporal deviation| / |feature vector|: 1 for isotropic features, s for a fixed vector plus
    deviations of relative size s (tests: s = 1 gives about 0.7-1, s = 0.01 gives 0.01). Collapsed below
    0.03: the features change by under 3 % of their norm over a clip, which leaves nothing periodic to
    distil. (Measured once, not a test: untrained SSPD-Net and PhysNet on frame differences score
    about 0.9-1.)"""

    feature_std_clips: Rule = Rule(0.1, 0.03, "below", "every clip gets nearly the same features")
    """Relative std (x sqrt(D)) over clips of the unit time-mean feature vectors, the same scale as
    feature_std_time (a shared vector plus per-clip deviations of relative size s scores about s).
    Collapsed below 0.03 (the issue's 0.1/sqrt(D) in raw units is 0.1 here; 0.03 leaves room for
    backbones whose non-negative activations share a large mean: measured once, untrained PhysNet on
    frame differences of distinct constructed clips scores about 0.15, SSPD-Net about 1)."""

    effective_rank: Rule = Rule(1.5, None, "below", "the clips' features span about one direction")
    """RankMe of the clips' time-mean features. It grows with the number of clips N and shrinks with a
    shared mean (features are not centred), so it only warns: below 1.5 the singular values are
    dominated by one direction (a shared vector plus 1 % deviations over 16 clips scores about 1.3;
    isotropic features about 0.85 N). feature_std_clips is the collapse rule for the same failure."""

    cross_clip_corr: Rule = Rule(0.75, 0.9, "above", "every clip gets nearly the same output")
    """Mean |Pearson r| between different clips' predictions. Clips at spread HRs score about 0.1-0.2;
    even clips that all share one HR, with independent phases, score at most 2/pi = 0.64 (E|cos|),
    less with noise. Only outputs locked in phase across clips, i.e. the same output for every input,
    pass 0.9 (identical outputs score 1)."""

    hr_pileup: Rule = Rule(0.6, 0.8, "above", "predicted HRs pile up at one frequency")
    """Share of clips within ±3 bpm of the densest predicted HR, used when no labels are available
    (superseded by hr_pileup_excess when they are). Over 64 clips, HRs drawn with a std of 8 bpm
    (about the spread of resting subjects) score about 0.35 (at most about 0.4), with a std of 5 bpm
    about 0.5; every clip at one frequency (a flicker, a single typical HR) scores 1. Training on
    windows of one subject piles up legitimately: pass labels, so that the excess over the labels'
    own pile-up is judged instead."""

    hr_pileup_excess: Rule = Rule(0.3, 0.5, "above", "predicted HRs pile up more than the labels do")
    """hr_pileup minus the labels' own pile-up. Predictions that track the labels (with estimation
    noise) score about 0 or below; predictions locked at a flicker frequency while the labels spread
    (label pile-up about 0.3) score about 0.7."""

    hr_std_ratio: Rule = Rule(0.5, 0.25, "below", "predicted HRs are far less spread than the labels")
    """Std of the predicted HRs over the labels' std (only when the labels spread by >= 3 bpm).
    Tracking predictions score about 1; predictions that drift more than halfway towards one typical
    HR score below 0.5 (shrunk to 0.4 of the spread: 0.4); all clips at one HR score about 0."""

    pred_in_band: Rule = Rule(0.5, 0.25, "below", "little of the predictions' power is in the pulse band")
    """Share of the predictions' power in the band. A pulse (with noise) scores about 0.85-1; white
    noise scores (high - low) / (fs / 2), 0.12 for 0.75-2.5 Hz at 30 fps; slow drift scores near 0.
    Collapsed below 0.25: the predictor outputs noise or drift, not a pulse."""

    ssw_in_band: Rule = Rule(0.5, 0.25, "below", "the self-similarity waves are not periodic in the band")
    """Share of the self-similarity waves' power in the band. Tokens that rotate at a pulse rate, even
    with noise as large as the signal, give waves scoring about 0.99; random tokens (no temporal
    structure) about 0.1; constant tokens give a flat wave, 0. Collapsed below 0.25, as pred_in_band."""

    pred_temporal_std: Rule = Rule(0.05, 0.01, "below", "the predictions are flat")
    """Std over time / RMS of each prediction: 1 for a zero-mean pulse, 0 for a constant. Collapsed
    below 0.01: the output varies by under 1 % of its level, i.e. a unit pulse on an offset of 70 (a
    prediction whose offset grew unchecked scores low too: Pearson-type losses ignore offsets)."""

    harmonic_ratio: Rule = Rule(0.5, None, "above", "HR and 2 x HR are ambiguous")
    """Power at 2 x HR over power at HR. A cardiac pulse's second harmonic carries about 1-30 % of the
    fundamental's power; above 0.5 the HR estimate may flip between HR and 2 x HR (harmonic confusion).
    Warns only: a strong harmonic is a failure of accuracy, not a collapse."""

    shuffle_sensitivity: Rule = Rule(0.3, 0.1, "below", "the output ignores the order of the frames")
    """Output change (1 - r) when the frames are shuffled in time. A model that reads the pulse from
    the frames (e.g. the mean green value) scores about 1; a model that ignores its input scores 0; a
    fixed wave plus a frame-driven part a third as large scores about 0.1 (collapsed below 0.1)."""

    swap_sensitivity: Rule = Rule(0.3, 0.1, "below", "the output ignores which clip it is given")
    """Output change (1 - r) when every sample gets another sample's clip. Clips with different pulses
    score about 1 (also at one HR with independent phases: E[1 - cos] = 1); a model that ignores its
    input scores 0; collapsed below 0.1 as shuffle_sensitivity."""

    def rule(self, probe: str) -> Rule | None:
        """The rule for ``probe`` (``"collapse/<field>"`` or ``"<field>"``), None for unjudged probes."""
        short = probe.split("/", 1)[1] if probe.startswith("collapse/") else probe
        return getattr(self, short) if short in _FIELD_NAMES else None


_FIELD_NAMES = frozenset(f.name for f in fields(Thresholds))

DEFAULT_THRESHOLDS = Thresholds()
