"""The figures of the collapse report, drawn from a :class:`~sspd.engine.runfiles.run_dir.RunRecord`.

Every figure is its own :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot state, no display)
and is returned as PNG bytes in a :class:`ReportFigure`, which the HTML page embeds and the Markdown
page links as a file. A figure whose data the run lacks is left out with a note, never raised.
"""
from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sspd.diagnostics.probe_set import PROBE_DESCRIPTIONS, PROBE_PREFIX
from sspd.diagnostics.thresholds import Rule, Thresholds
from sspd.signal import DEFAULT_BAND_BPM

if TYPE_CHECKING:
    from sspd.engine.runfiles.run_dir import RunRecord, Snapshot

__all__ = ["ReportFigure", "figure_png", "plot_probe", "plot_losses", "plot_ssm_maps", "plot_ssw_waves",
           "plot_hr", "snapshot_hrs", "build_figures"]

log = logging.getLogger(__name__)

_DPI = 100
_BAND_COLOURS = {"healthy": "#2ca02c", "warning": "#ff7f0e", "collapsed": "#d62728"}
_NOT_LOSSES = ("lr", "momentum", "skipped")


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: ``name`` (file stem), ``section``, ``title``, ``caption``, ``png``."""

    name: str
    section: str
    title: str
    caption: str
    png: bytes


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes (Agg canvas, 100 dpi)."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _band_spans(rule: Rule, low: float, high: float) -> list[tuple[str, float, float]]:
    """(level, y0, y1) regions of ``rule`` clipped to the axis range [low, high]."""
    bad_end = low if rule.worse == "below" else high
    edges = [rule.warning] + ([] if rule.collapsed is None else [rule.collapsed])
    levels = ["healthy", "warning"] + ([] if rule.collapsed is None else ["collapsed"])
    good_end = high if rule.worse == "below" else low
    bounds = [good_end] + edges + [bad_end]                            # from the good end to the bad end
    return [(level, min(a, b), max(a, b)) for level, a, b in zip(levels, bounds[:-1], bounds[1:])]


def _value_range(values: np.ndarray, rule: Rule | None) -> tuple[float, float]:
    """An axis range holding the finite values and the rule's thresholds, padded by 10 %."""
    points = list(values[np.isfinite(values)])
    if rule is not None:
        points += [rule.warning] + ([] if rule.collapsed is None else [rule.collapsed])
    if not points:
        return 0.0, 1.0
    low, high = float(min(points)), float(max(points))
    pad = 0.1 * (high - low) if high > low else max(abs(high) * 0.1, 0.05)
    return low - pad, high + pad


def plot_probe(steps: np.ndarray, values: np.ndarray, name: str, rule: Rule | None,
               alarm_steps: np.ndarray | None = None, alarm_levels: np.ndarray | None = None) -> Figure:
    """One probe's curve over training steps, with the rule's healthy/warning/collapsed bands shaded.

    Args:
        steps, values: (N,) the checked steps and the probe's values (non-finite values are marked at
            the bad edge of the plot).
        name: ``"collapse/<probe>"``; rule: its alarm rule, None for an informative probe (no bands).
        alarm_steps, alarm_levels: (M,) the logged alarm levels (0/1/2) of the probe, drawn as markers.
    """
    figure = Figure(figsize=(5.2, 2.9))
    axes = figure.subplots()
    low, high = _value_range(values, rule)
    if rule is not None:
        for level, y0, y1 in _band_spans(rule, low, high):
            axes.axhspan(y0, y1, color=_BAND_COLOURS[level], alpha=0.13, lw=0, label=level)
    finite = np.isfinite(values)
    axes.plot(steps[finite], values[finite], color="C0", lw=1.4, marker="." if finite.sum() < 40 else None)
    if alarm_steps is not None and alarm_levels is not None and alarm_steps.size:
        by_step = dict(zip(steps.tolist(), values.tolist()))
        for code, level in ((1, "warning"), (2, "collapsed")):
            hit = [(s, by_step[s]) for s, a in zip(alarm_steps.tolist(), alarm_levels.tolist())
                   if a == code and s in by_step and math.isfinite(by_step[s])]
            if hit:
                axes.scatter(*zip(*hit), s=16, color=_BAND_COLOURS[level], zorder=3)
    if (~finite).any():
        edge = low if rule is None or rule.worse == "below" else high
        axes.scatter(steps[~finite], np.full((~finite).sum(), edge), marker="x", color="k", zorder=3,
                     label="not finite")
    axes.set_ylim(low, high)
    axes.set_xlabel("step")
    short = name.split("/", 1)[-1]
    axes.set_title(short + ("" if rule is not None else " (info)"), fontsize=10)
    if rule is not None or (~finite).any():
        axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return figure


def _loss_groups(record: RunRecord) -> dict[str, list[str]]:
    """Loss terms grouped by their prefix: {"": [total, rpd, ...], "pyr": [pyr/l0, ...], ...}."""
    groups: dict[str, list[str]] = {}
    for name in record.scalar_names():
        if name.startswith((PROBE_PREFIX, "alarm/")) or name in _NOT_LOSSES:
            continue
        groups.setdefault(name.split("/", 1)[0] if "/" in name else "", []).append(name)
    return groups


def plot_losses(record: RunRecord) -> Figure | None:
    """The loss terms over steps (one panel per prefix: total and unprefixed terms, pyr/*, sd/*, ...)
    and the learning rate and EMA momentum; None when metrics.jsonl has no loss term."""
    groups = _loss_groups(record)
    schedules = [n for n in ("lr", "momentum") if record.series(n)[0].size]
    if not groups:
        return None
    panels = len(groups) + bool(schedules)
    figure = Figure(figsize=(10, 2.4 * math.ceil(panels / 2) + 0.3))
    axes = figure.subplots(math.ceil(panels / 2), 2, squeeze=False).ravel()
    for ax, (prefix, names) in zip(axes, groups.items()):
        for name in names:
            ax.plot(*record.series(name), lw=1.2, label=name)
        ax.set_title(f"{prefix}/* terms" if prefix else "loss terms", fontsize=10)
        ax.legend(fontsize=7, loc="best")
    if schedules:
        ax = axes[len(groups)]
        for index, name in enumerate(schedules):
            target = ax if index == 0 else ax.twinx()
            target.plot(*record.series(name), lw=1.2, color=f"C{index}", label=name)
            target.set_ylabel(name, color=f"C{index}")
        ax.set_title("schedules", fontsize=10)
    for ax in axes[panels:]:
        ax.set_visible(False)
    for ax in axes[:panels]:
        ax.set_xlabel("step")
    figure.tight_layout()
    return figure


def _pick_snapshots(snapshots: list[Snapshot], count: int) -> list[Snapshot]:
    """Up to ``count`` snapshots spread over the run, always with the first and the last."""
    if len(snapshots) <= count:
        return list(snapshots)
    index = np.unique(np.round(np.linspace(0, len(snapshots) - 1, count)).astype(int))
    return [snapshots[i] for i in index]


def plot_ssm_maps(snapshots: list[Snapshot], clip: int = 0) -> Figure | None:
    """The online SSM of one clip at each pyramid level (columns) and snapshot (rows); None without SSMs."""
    rows = [s for s in snapshots if s.ssm and all(level.shape[0] > clip for level in s.ssm)]
    if not rows:
        return None
    columns = max(len(s.ssm) for s in rows)
    figure = Figure(figsize=(2.4 * columns + 0.4, 2.3 * len(rows) + 0.4))
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for row, snapshot in zip(axes, rows):
        for level, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if level >= len(snapshot.ssm):
                ax.set_visible(False)
                continue
            ax.imshow(snapshot.ssm[level][clip], cmap="viridis", interpolation="nearest")   # (T', T')
            ax.set_title(f"step {snapshot.step}, level {level}", fontsize=8)
    figure.tight_layout()
    return figure


def plot_ssw_waves(snapshots: list[Snapshot]) -> Figure | None:
    """The level-0 self-similarity waves of the snapshot's clips, one panel per snapshot, against the lag
    in seconds (frames without an fps); None without waves."""
    rows = [s for s in snapshots if s.ssw]
    if not rows:
        return None
    figure = Figure(figsize=(10, 2.2 * math.ceil(len(rows) / 2) + 0.3))
    axes = figure.subplots(math.ceil(len(rows) / 2), 2, squeeze=False).ravel()
    for ax, snapshot in zip(axes, rows):
        waves = snapshot.ssw[0]                                           # (B', T')
        lags = np.arange(waves.shape[1]) / (snapshot.fps or 1.0)
        for index, wave in enumerate(waves):
            ax.plot(lags, wave, lw=1.0, label=f"clip {index}")
        ax.set_title(f"step {snapshot.step}", fontsize=9)
        ax.set_xlabel("lag (s)" if snapshot.fps else "lag (frames)")
    axes[0].legend(fontsize=7, loc="best")
    for ax in axes[len(rows):]:
        ax.set_visible(False)
    figure.tight_layout()
    return figure


def snapshot_hrs(snapshot: Snapshot) -> np.ndarray | None:
    """(B',) predicted HRs in bpm: the saved ``hr_pred``, else estimated from ``pred`` at the snapshot's
    fps (spectral peak in the default band); None when neither is possible."""
    if snapshot.hr_pred is not None:
        return np.asarray(snapshot.hr_pred, dtype=np.float64)
    if snapshot.pred is None or snapshot.fps is None:
        return None
    from sspd.signal import estimate_hr

    try:
        return np.atleast_1d(estimate_hr(snapshot.pred, snapshot.fps))
    except ValueError as err:                # too short for the band, or flat predictions
        log.info("snapshot %s: no HR from the predictions (%s)", snapshot.path, err)
        return None


def plot_hr(snapshots: list[Snapshot], last: int = 8, mode_bpm: float | None = None) -> Figure | None:
    """Predicted (and label) HRs: over the snapshots' steps (left) and as a histogram pooled over the
    ``last`` snapshots (right), where a pile-up at one frequency shows as one tall bar; None without
    any HR."""
    pred = [(s.step, hr) for s in snapshots if (hr := snapshot_hrs(s)) is not None]
    true = [(s.step, np.asarray(s.hr_true, dtype=np.float64)) for s in snapshots if s.hr_true is not None]
    if not pred and not true:
        return None
    figure = Figure(figsize=(10, 3.2))
    over_steps, histogram = figure.subplots(1, 2)
    pooled_pred = np.concatenate([hr for _, hr in pred[-last:]]) if pred else np.zeros(0)
    pooled_true = np.concatenate([hr for _, hr in true[-last:]]) if true else np.zeros(0)
    everything = np.concatenate([pooled_pred, pooled_true])
    everything = everything[np.isfinite(everything)]
    low, high = DEFAULT_BAND_BPM
    low, high = (min(low, everything.min()), max(high, everything.max())) if everything.size else (low, high)
    bins = np.arange(math.floor(low / 3) * 3, high + 3.0, 3.0)                 # 3 bpm bins, as the pile-up
    for (series, label, colour) in ((pred, "predicted", "C0"), (true, "label", "0.4")):
        for index, (step, hr) in enumerate(series):
            over_steps.scatter(np.full(hr.size, step), hr, s=12, color=colour, label=label if index == 0 else None)
    for values, label, colour in ((pooled_pred, "predicted", "C0"), (pooled_true, "label", "0.4")):
        if values.size:
            histogram.hist(values[np.isfinite(values)], bins=bins, color=colour, alpha=0.6, label=label,
                           edgecolor="white", linewidth=0.5)
    if mode_bpm is not None and math.isfinite(mode_bpm):
        histogram.axvline(mode_bpm, color="C3", ls="--", lw=1, label=f"densest {mode_bpm:.1f} bpm")
    over_steps.set_ylim(bins[0], bins[-1])                 # the whole band: a pile-up reads as a flat line
    over_steps.set_xlabel("step")
    over_steps.set_ylabel("HR (bpm)")
    over_steps.legend(fontsize=7, loc="best")
    count = min(last, max(len(pred), len(true)))
    histogram.set_title(f"last {count} snapshot(s), {pooled_pred.size} predicted HRs", fontsize=9)
    histogram.set_xlabel("HR (bpm)")
    histogram.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return figure


def _probe_figures(record: RunRecord, thresholds: Thresholds) -> list[ReportFigure]:
    """One figure per logged probe: judged probes first (in the order of the thresholds), then the rest."""
    names = [n for n in record.scalar_names() if n.startswith(PROBE_PREFIX)]
    names.sort(key=lambda n: thresholds.rule(n) is None)
    figures = []
    for name in names:
        rule = thresholds.rule(name)
        steps, values = record.series(name)
        alarm_steps, alarm_levels = record.series("alarm/" + name.split("/", 1)[1])
        figure = plot_probe(steps, values, name, rule, alarm_steps, alarm_levels)
        caption = PROBE_DESCRIPTIONS.get(name, "")
        if rule is not None:
            caption += f"; {rule.meaning} when bad"
        figures.append(ReportFigure("probe_" + name.split("/", 1)[1], "probes", name, caption, figure_png(figure)))
    return figures


def build_figures(record: RunRecord, thresholds: Thresholds, max_snapshots: int = 4) -> tuple[list[ReportFigure], list[str]]:
    """Every figure the run's data allows, and a note per figure it does not.

    Returns:
        (figures, notes): figures in report order (probes, losses, SSM maps, SSW waves, HR).
    """
    figures, notes = _probe_figures(record, thresholds), []
    if not figures:
        notes.append("no collapse probes in metrics.jsonl: the monitor did not run (or not yet)")
    chosen = _pick_snapshots(record.snapshots, max_snapshots)
    _, modes = record.series(PROBE_PREFIX + "hr_mode_bpm")
    optional = (
        ("losses", "losses", "loss terms and schedules", "every loss term of the step, lr and EMA momentum",
         lambda: plot_losses(record), "no loss terms in metrics.jsonl"),
        ("ssm_maps", "snapshots", "self-similarity maps", "online SSM of the first clip, per level and checkpoint",
         lambda: plot_ssm_maps(chosen), "no SSMs in the snapshots"),
        ("ssw_waves", "snapshots", "self-similarity waves", "level-0 SSWs of the snapshot's clips",
         lambda: plot_ssw_waves(chosen), "no SSWs in the snapshots"),
        ("hr", "hr", "heart rates", "predicted and label HRs at the checkpoints; a tall single bar is a pile-up",
         lambda: plot_hr(record.snapshots, mode_bpm=float(modes[-1]) if modes.size else None),
         "no predicted or label HRs in the snapshots"),
    )
    for name, section, title, caption, draw, absent in optional:
        figure = draw()
        if figure is not None:
            figures.append(ReportFigure(name, section, title, caption, figure_png(figure)))
        elif section == "losses" or record.snapshots:        # without snapshots: noted once by load_run
            notes.append(absent)
    return figures, notes
