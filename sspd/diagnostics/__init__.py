"""Run diagnostics: is the run learning the pulse, and has it collapsed?

Two questions, two tools. :mod:`sspd.diagnostics.health` answers the first without labels: the run's
network on long clips of its own training data, its predicted rate of each clip against the rates the
clip carries (POS's chrominance pulse, the light, the head motion), giving "learning", "not learning"
(with what the predictions follow) or "collapsed"; the training loop runs it at every checkpoint
(``health.json``, ``health/*`` scalars) and the report leads with it. The collapse probes below answer the
second: they catch an output that has died, and say nothing about whether a live output is the pulse.

SSPD has no negatives and no variance term, so collapse must be measured while training (SSPD_METHOD
§7). The pieces are pure functions over tensors, usable alone, plus two small stateful objects:

    from sspd.diagnostics import CollapseMonitor, compute_probes, assess, ProbeBuffer

    buffer = ProbeBuffer(capacity=64)                       # recent clips across steps
    buffer.add(pooled=pooled, predictions=pred, labels_hr=hr)
    probes = compute_probes(fs=30.0, pooled=pooled, predictions=pred, ssw=ssw, buffer=buffer)
    verdicts = assess(probes)                               # {"collapse/...": Verdict(level, ...)}

or all at once, with a patience rule and a resumable state: :class:`CollapseMonitor`. The training loop
runs the monitor through :class:`CollapseWatch` and the health check through :class:`HealthWatch` (observers
of the run, each with its own checkpoint key, both configured by :class:`CollapseConfig`).

Probes (each documents its inputs' shapes, meaning and healthy range): :func:`feature_std`,
:func:`effective_rank` (features); :func:`cross_clip_correlation`, :func:`temporal_std`,
:func:`in_band_fraction`, :func:`harmonic_ratio`, :func:`agreement` (signals); :func:`hr_spread`
(predicted HRs, with the pile-up statistic); :func:`input_sensitivity` (a model); :func:`toeplitz_score`
(self-similarity maps). Thresholds: :class:`Thresholds`, one documented :class:`Rule` per judged probe.
"""
from sspd.diagnostics.alarms import SUPERSEDED_BY, Verdict, assess, judge, verdict_scalars
from sspd.diagnostics.buffer import ProbeBuffer
from sspd.diagnostics.feature_probes import effective_rank, feature_std
from sspd.diagnostics.hr_probes import HRSpread, hr_spread, normalised_entropy, pileup
from sspd.diagnostics.monitor import CollapseMonitor, MonitorReport
from sspd.diagnostics.probe_set import PROBE_DESCRIPTIONS, PROBE_PREFIX, compute_probes
from sspd.diagnostics.sensitivity import input_sensitivity, output_change
from sspd.diagnostics.signal_probes import (agreement, cross_clip_correlation, harmonic_ratio,
                                            in_band_fraction, temporal_std)
from sspd.diagnostics.ssm_probes import toeplitz_score
from sspd.diagnostics.thresholds import DEFAULT_THRESHOLDS, LEVELS, Rule, Thresholds
from sspd.diagnostics.watch import CollapseConfig, CollapseWatch, HealthWatch

__all__ = [
    "feature_std",
    "effective_rank",
    "cross_clip_correlation",
    "temporal_std",
    "in_band_fraction",
    "harmonic_ratio",
    "agreement",
    "HRSpread",
    "hr_spread",
    "pileup",
    "normalised_entropy",
    "input_sensitivity",
    "output_change",
    "toeplitz_score",
    "ProbeBuffer",
    "PROBE_PREFIX",
    "PROBE_DESCRIPTIONS",
    "compute_probes",
    "LEVELS",
    "Rule",
    "Thresholds",
    "DEFAULT_THRESHOLDS",
    "Verdict",
    "assess",
    "judge",
    "verdict_scalars",
    "SUPERSEDED_BY",
    "CollapseMonitor",
    "MonitorReport",
    "CollapseConfig",
    "CollapseWatch",
    "HealthWatch",
]
