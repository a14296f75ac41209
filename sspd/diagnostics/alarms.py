"""Verdicts on collapse probes: healthy, warning or collapsed, with the reason in words.

    probes = compute_probes(fs=30.0, predictions=pred, buffer=buffer)
    verdicts = assess(probes)                       # {"collapse/hr_pileup": Verdict(...), ...}
    scalars = verdict_scalars(verdicts)             # {"alarm/hr_pileup": 2.0, ...} for the loggers
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from sspd.diagnostics.thresholds import DEFAULT_THRESHOLDS, LEVELS, Rule, Thresholds

__all__ = ["Verdict", "assess", "judge", "verdict_scalars", "SUPERSEDED_BY"]

#: A probe is not judged when the probe it maps to is present: the label-aware pile-up replaces the
#: label-free one (a pile-up the labels share is no collapse).
SUPERSEDED_BY = {"collapse/hr_pileup": "collapse/hr_pileup_excess"}


@dataclass(frozen=True)
class Verdict:
    """One probe's verdict.

    Attributes:
        level: ``"healthy"``, ``"warning"`` or ``"collapsed"``.
        value: the probe's value.
        band: the healthy interval (low, high); one end is infinite.
        reason: a sentence naming the probe, its value, the threshold passed and what it means.
    """

    level: str
    value: float
    band: tuple[float, float]
    reason: str


def _reason(name: str, value: float, rule: Rule, level: str) -> str:
    """The sentence of a verdict."""
    sign = "<" if rule.worse == "below" else ">"
    if level == "healthy":
        return f"{name} = {value:.4g} is healthy (warns when {sign} {rule.warning:g})"
    if not math.isfinite(value):
        return f"{name} = {value} is not finite: the run has diverged or the probe's input is degenerate"
    limit = rule.collapsed if level == "collapsed" else rule.warning
    return f"{name} = {value:.4g} {sign} {limit:g} ({level}): {rule.meaning}"


def judge(name: str, value: float, rule: Rule) -> Verdict:
    """The verdict of ``rule`` on one probe value."""
    level = rule.level(value)
    return Verdict(level=level, value=value, band=rule.healthy_band(),
                   reason=_reason(name, value, rule, level))


def assess(probes: Mapping[str, float], thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, Verdict]:
    """Judge every probe that has a rule in ``thresholds``.

    Probes without a rule (informative ones, and names outside ``collapse/``) get no verdict, nor does a
    probe superseded by another present one (:data:`SUPERSEDED_BY`). A non-finite value is collapsed.

    Args:
        probes: ``{"collapse/<probe>": value}``, e.g. from :func:`~sspd.diagnostics.compute_probes`.
        thresholds: the rules (:data:`~sspd.diagnostics.thresholds.DEFAULT_THRESHOLDS`).

    Returns:
        ``{name: Verdict}`` for the judged probes, in the order of ``probes``.
    """
    verdicts = {}
    for name, value in probes.items():
        rule = thresholds.rule(name)
        if rule is None or SUPERSEDED_BY.get(name) in probes:
            continue
        verdicts[name] = judge(name, float(value), rule)
    return verdicts


def verdict_scalars(verdicts: Mapping[str, Verdict]) -> dict[str, float]:
    """Verdict levels as named scalars for TensorBoard/JSONL: ``"alarm/<probe>"`` -> 0 healthy,
    1 warning, 2 collapsed."""
    return {"alarm/" + name.split("/", 1)[-1]: float(LEVELS.index(v.level)) for name, v in verdicts.items()}
