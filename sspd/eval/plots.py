"""Figures people would rather look at than read: waveform overlays, Bland-Altman, HR scatter.

Every function draws on its own :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot state,
no display needed), writes a PNG and returns its path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sspd.eval.metrics import BlandAltman, bland_altman, hr_metrics

__all__ = ["plot_waveforms", "plot_bland_altman", "plot_hr_scatter"]

_DPI = 100


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=_DPI, format="png")
    return path


def _zscore(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit std (a constant signal stays zero rather than NaN)."""
    x = np.asarray(x, dtype=np.float64)
    std = x.std()
    return (x - x.mean()) / std if std > 0 else x - x.mean()


def plot_waveforms(signals: Mapping[str, Any], fs: float, path: str | Path, *,
                   reference: Any | None = None, reference_name: str = "ground truth",
                   title: str | None = None, max_seconds: float | None = 20.0) -> Path:
    """Overlay pulse signals (each z-scored) against an optional reference, one panel per signal.

    Args:
        signals: name → (T,) signal at ``fs``.
        fs: sample rate in Hz (the time axis is in seconds).
        path: PNG to write.
        reference: optional (T,) reference (e.g. the PPG) drawn in every panel.
        max_seconds: show only the first seconds (None: everything), so beats stay visible.
    """
    if fs <= 0:
        raise ValueError(f"fs must be > 0 Hz, got {fs}")
    if not signals:
        raise ValueError("plot_waveforms needs at least one signal")
    fig = Figure(figsize=(10, 1.8 * len(signals) + 0.6))
    axes = fig.subplots(len(signals), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, sig) in zip(axes, signals.items()):
        sig = np.asarray(sig, dtype=np.float64).ravel()
        n = sig.size if max_seconds is None else min(sig.size, int(round(max_seconds * fs)))
        t = np.arange(n) / fs
        if reference is not None:
            ref = np.asarray(reference, dtype=np.float64).ravel()
            ax.plot(t, _zscore(ref[:n]), color="0.6", lw=1.0, label=reference_name)
        ax.plot(t, _zscore(sig[:n]), lw=1.2, label=name)
        ax.set_ylabel("z-score")
        ax.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_bland_altman(pred_bpm: Any, true_bpm: Any, path: str | Path, *,
                      title: str = "Bland-Altman") -> tuple[Path, BlandAltman]:
    """Bland-Altman plot (difference against mean, bias and 95 % limits); returns the path and stats."""
    pred = np.asarray(pred_bpm, dtype=np.float64).ravel()
    true = np.asarray(true_bpm, dtype=np.float64).ravel()
    stats = bland_altman(pred, true)
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.scatter((pred + true) / 2, pred - true, s=14, alpha=0.7)
    for value, style, label in ((stats.bias, "-", f"bias {stats.bias:+.2f}"),
                                (stats.lower_limit, "--", f"-1.96 sd {stats.lower_limit:+.2f}"),
                                (stats.upper_limit, "--", f"+1.96 sd {stats.upper_limit:+.2f}")):
        if np.isfinite(value):
            ax.axhline(value, color="C3", ls=style, lw=1, label=label)
    ax.set_xlabel("mean of predicted and reference HR (bpm)")
    ax.set_ylabel("predicted - reference (bpm)")
    ax.set_title(f"{title} (n={stats.n})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path), stats


def plot_hr_scatter(pred_bpm: Any, true_bpm: Any, path: str | Path, *, title: str = "HR") -> Path:
    """Predicted against reference HR with the identity line and MAE / r in the title."""
    pred = np.asarray(pred_bpm, dtype=np.float64).ravel()
    true = np.asarray(true_bpm, dtype=np.float64).ravel()
    metrics = hr_metrics(pred, true)
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.scatter(true, pred, s=14, alpha=0.7)
    lo, hi = float(min(pred.min(), true.min())) - 5, float(max(pred.max(), true.max())) + 5
    ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("reference HR (bpm)")
    ax.set_ylabel("predicted HR (bpm)")
    ax.set_title(f"{title}: MAE {metrics.mae:.2f} bpm, r {metrics.pearson_r:.3f} (n={metrics.n})")
    fig.tight_layout()
    return _save(fig, path)
