"""Training-free baselines over cached face videos: pulse signals, windowed HR and pooled metrics.

The path a user takes to compare the field's reference points (POS, CHROM, ...) with a model on the same
videos, windows and estimator: mean skin colour of each cached face crop → baseline → windowed HR
against the reference HR measured from the video's PPG with the same estimator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from sspd.baselines import get_baseline, mean_rgb_trace
from sspd.eval.metrics import SignalEvaluation, WindowResult, evaluate_signals, summarise_windows

__all__ = ["VideoSignals", "baseline_signals", "evaluate_methods"]


@dataclass
class VideoSignals:
    """The signals of one video: ``signals`` maps method name → (T,) pulse, ``label`` the (T,) PPG;
    ``integrated`` names the signals that are a difference signal's integral (a ``diff`` network's
    output), read with the estimator's octave check."""

    name: str
    fps: float
    label: np.ndarray
    signals: dict[str, np.ndarray]
    integrated: frozenset[str] = frozenset()


def baseline_signals(video: Any, methods: Sequence[str], *, skin: str | None = "ycrcb") -> VideoSignals:
    """Run training-free baselines on one cached video (a :class:`~sspd.data.cache.CachedVideo`).

    Args:
        video: anything with ``name``, ``fps``, ``frames`` ((T, S, S, 3) uint8 RGB) and ``label`` ((T,)).
        methods: baseline names (see :func:`sspd.baselines.list_baselines`).
        skin: pixel selection inside the face crop for the mean colour (``None``: every pixel).
    """
    rgb = mean_rgb_trace(video.frames, skin=skin, on_empty="hold")  # (3, T)
    signals = {m: get_baseline(m)(rgb, video.fps) for m in methods}
    return VideoSignals(name=video.name, fps=video.fps, label=np.asarray(video.label, dtype=np.float64),
                        signals=signals)


def _evaluate_video(video: VideoSignals, name: str, **options: Any) -> SignalEvaluation:
    """:func:`evaluate_signals` of one method on one video; an error names the video."""
    try:
        return evaluate_signals(video.signals[name], video.label, video.fps, integrated=name in video.integrated,
                                **options)
    except ValueError as err:
        raise ValueError(f"video {video.name}, method {name}: {err}") from err


def evaluate_methods(videos: Sequence[VideoSignals], *, window_s: float | None = 10.0,
                     stride_s: float | None = None, method: str = "fft",
                     band: tuple[float, float] | None = None, preset: str | None = None,
                     split: str | None = None) -> dict[str, dict[str, Any]]:
    """Windowed HR evaluation of every method over every video, pooled per method.

    Each video is evaluated with :func:`sspd.eval.metrics.evaluate_signals` (so videos of different
    lengths and frame rates mix); the window rows of all videos are pooled into one summary per method.

    Returns:
        method → {"summary": pooled summary (metrics, Bland-Altman, SNR, protocol),
                  "videos": {video name: per-video summary}, "rows": [(video name, WindowResult), ...]}
    """
    if not videos:
        raise ValueError("evaluate_methods: no videos to evaluate")
    out: dict[str, dict[str, Any]] = {}
    for name in videos[0].signals:
        per_video: dict[str, SignalEvaluation] = {
            v.name: _evaluate_video(v, name, window_s=window_s, stride_s=stride_s, method=method, band=band,
                                    preset=preset, split=split)
            for v in videos}
        rows: list[tuple[str, WindowResult]] = [(n, r) for n, ev in per_video.items() for r in ev.rows]
        protocol = dict(next(iter(per_video.values())).summary["protocol"])
        protocol["fs"] = sorted({v.fps for v in videos})  # pooled videos may differ in frame rate
        out[name] = {"summary": summarise_windows([r for _, r in rows], protocol),
                     "videos": {n: ev.summary for n, ev in per_video.items()}, "rows": rows}
    return out
