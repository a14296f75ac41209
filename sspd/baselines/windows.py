"""Short-window processing shared by the baselines: cut, normalise, overlap-add, all without loops.

A trace (B, 3, T) is cut into N windows of L frames starting at ``starts`` (a strided view, copied once
by the fancy index), each window is processed independently, and the per-window outputs (B, N, L) are
put back on the time axis by a weighted overlap-add that divides by the summed weights, so that every
frame is an average of the windows covering it (no attenuation at the ends of the trace).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sspd.signal import bandpass, check_band

__all__ = ["window_starts", "cut_windows", "normalise_by_mean", "check_colour_means", "bandpass_windows",
           "overlap_add", "hann"]


def window_starts(n_frames: int, length: int, hop: int) -> np.ndarray:
    """Start frames (N,) of windows of ``length`` every ``hop`` frames; the last one ends at the trace end."""
    starts = np.arange(0, n_frames - length + 1, hop)
    if starts[-1] != n_frames - length:
        starts = np.append(starts, n_frames - length)
    return starts


def cut_windows(x: np.ndarray, length: int, starts: np.ndarray) -> np.ndarray:
    """Windows of a trace: (B, 3, T) -> (B, N, 3, L) with window n covering ``starts[n]:starts[n] + L``."""
    view = sliding_window_view(x, length, axis=-1)  # (B, 3, T - L + 1, L), no copy
    return view[:, :, starts, :].transpose(0, 2, 1, 3)  # (B, N, 3, L)


def normalise_by_mean(windows: np.ndarray, name: str) -> np.ndarray:
    """Temporal normalisation: divide each channel of each window by its mean, (..., L) -> (..., L).

    The result is 1 + the relative colour variation, so a change of illumination intensity (which
    multiplies every channel) becomes the same offset in every channel. Raises if a mean is <= 0,
    which means the input is not a colour trace (e.g. a zero-mean or band-passed signal).
    """
    mean = check_colour_means(windows, name)
    return windows / mean


def check_colour_means(windows: np.ndarray, name: str) -> np.ndarray:
    """Per-window channel means (..., 1) of windows (..., L); raises unless all are > 0."""
    mean = windows.mean(axis=-1, keepdims=True)  # (..., 1)
    if not (mean > 0).all():
        raise ValueError(f"{name}: a colour channel has a mean <= 0 inside a window; the baselines "
                         "need raw positive colour values (grey levels or [0, 1]), not a zero-mean or "
                         "filtered signal")
    return mean


def bandpass_windows(windows: np.ndarray, fs: float, band: tuple[float, float], order: int,
                     name: str) -> np.ndarray:
    """Zero-phase Butterworth band-pass of every window along its last axis: (..., L) -> (..., L)."""
    length = windows.shape[-1]
    low, high = check_band(band, fs, name=f"{name}: band")
    rows = bandpass(windows.reshape(-1, length), fs, low, high, order=order)  # (prod(...), L)
    return rows.reshape(windows.shape)


def hann(length: int) -> np.ndarray:
    """(L,) Hann window without its zero end points, so every frame of a window has positive weight."""
    return np.hanning(length + 2)[1:-1]


def overlap_add(segments: np.ndarray, starts: np.ndarray, n_frames: int,
                weight: np.ndarray | None = None) -> np.ndarray:
    """Weighted overlap-add of per-window outputs back onto the time axis.

    Args:
        segments: (B, N, L) output of each window.
        starts: (N,) start frame of each window; together the windows must cover all ``n_frames``.
        n_frames: T, the length of the result.
        weight: (L,) positive taper applied to every window (None: uniform).

    Returns:
        (B, T): sum_n w * segment_n / sum_n w at every frame, computed with one bincount.
    """
    n_batch, n_windows, length = segments.shape
    weight = np.ones(length) if weight is None else weight
    frames = starts[:, None] + np.arange(length)[None, :]  # (N, L) frame index of each sample
    flat = (np.arange(n_batch)[:, None, None] * n_frames + frames[None]).ravel()  # (B * N * L,)
    total = np.bincount(flat, weights=(segments * weight).ravel(), minlength=n_batch * n_frames)
    norm = np.bincount(frames.ravel(), weights=np.broadcast_to(weight, frames.shape).ravel(),
                       minlength=n_frames)  # (T,)
    if not (norm > 0).all():
        raise ValueError("overlap_add: the windows do not cover every frame of the trace")
    return total.reshape(n_batch, n_frames) / norm  # (B, T)
