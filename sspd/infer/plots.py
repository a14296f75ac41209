"""The figure of a prediction: the pulse waveform and the HR of each window over time (``sspd predict``).

Drawn on its own :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot state, no display
needed). :func:`save_png` is shared with the figures of :mod:`sspd.eval.plots`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sspd.signal import check_fs, zscore

__all__ = ["plot_hr_over_time", "save_png"]

_DPI = 100


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=_DPI, format="png")
    return path


def plot_hr_over_time(pulse: Any, fs: float, windows_s: Any, hr_bpm: Any, path: str | Path, *,
                      overall_bpm: float | None = None, title: str | None = None,
                      max_seconds: float | None = 30.0) -> Path:
    """A prediction at a glance: the pulse waveform (top) and the HR of each window over time (bottom).

    Args:
        pulse: (T,) pulse signal at ``fs`` Hz (drawn z-scored, the first ``max_seconds``; None: all).
        windows_s: (K, 2) start and end (s) of each HR window; each HR is drawn at its window's centre.
        hr_bpm: (K,) HR of each window (K may be 0: a video shorter than one window).
        overall_bpm: the whole video's HR, drawn as a horizontal line.
    """
    fs = check_fs(fs)
    pulse = np.asarray(pulse, dtype=np.float64).ravel()
    spans = np.asarray(windows_s, dtype=np.float64).reshape(-1, 2)  # (K, 2)
    hr = np.asarray(hr_bpm, dtype=np.float64).ravel()  # (K,)
    if hr.size != spans.shape[0]:
        raise ValueError(f"{spans.shape[0]} windows but {hr.size} HR values: pass one HR per window")
    fig = Figure(figsize=(10, 5.2))
    top, bottom = fig.subplots(2, 1)
    n = pulse.size if max_seconds is None else min(pulse.size, int(round(max_seconds * fs)))
    top.plot(np.arange(n) / fs, zscore(pulse[:n]), lw=1.0)
    top.set_xlabel("time (s)")
    top.set_ylabel("pulse (z-score)")
    bottom.plot(spans.mean(axis=1), hr, marker="o", ms=3, lw=1.2, label="window HR")
    if overall_bpm is not None and np.isfinite(overall_bpm):
        bottom.axhline(overall_bpm, color="C3", ls="--", lw=1, label=f"whole video {overall_bpm:.1f} bpm")
    bottom.set_xlim(0, max(pulse.size / fs, float(spans.max(initial=0.0))))
    shown = np.concatenate([hr[np.isfinite(hr)], [overall_bpm] if overall_bpm is not None else []])
    if np.isfinite(shown).any():  # at least ±5 bpm, so sub-bpm wobble does not look like a swing
        centre = (np.nanmax(shown) + np.nanmin(shown)) / 2
        half = max(5.0, 0.6 * (np.nanmax(shown) - np.nanmin(shown)))
        bottom.set_ylim(centre - half, centre + half)
    bottom.set_xlabel("window centre (s)")
    bottom.set_ylabel("HR (bpm)")
    bottom.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)
