"""What a clip carries without the network: its mean colour, its light and its head motion, and their rates.

The health check (:mod:`sspd.diagnostics.health`) compares a predictor's rate on each clip with these:

    rgb     (3, T) mean R, G, B of every frame, from which POS finds the chrominance pulse
    light   (T,) the brightness change every channel shares (flicker, drift)
    motion  (2, T) the frames' translation against the clip's mean frame (phase correlation), x and y

    traces = clip_traces(frames)                  # frames (T, H, W, 3), 0-255
    hr_bpm, snr = rates(traces.light[None], fs)   # the spectral peak in 45-150 bpm and its SNR
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sspd.signal import DEFAULT_BAND, estimate_hr, snr_db
from sspd.signal.detrend import detrend

__all__ = ["ClipTraces", "frame_shifts", "clip_traces", "rates"]


@dataclass(frozen=True)
class ClipTraces:
    """The label-free traces of one clip, all (T,) or (k, T) at the clip's frame rate.

    Attributes:
        rgb: (3, T) mean R, G, B of every frame (grey levels).
        light: (T,) mean over the channels of each channel's value relative to its own clip mean, minus 1:
            a change of the light scales every channel alike and appears here in full.
        motion: (2, T) translation (x, y) in pixels of each frame against the clip's mean frame.
    """

    rgb: np.ndarray
    light: np.ndarray
    motion: np.ndarray


def frame_shifts(gray: np.ndarray) -> np.ndarray:
    """(2, T) sub-pixel translation (x, y) of each frame of ``gray`` (T, H, W) against their mean frame.

    Phase correlation with a Hann taper, refined by a parabola through the peak and its neighbours; a
    head that moves by a fraction of a pixel still gives a trace at its rate.
    """
    gray = np.asarray(gray, dtype=np.float64)
    if gray.ndim != 3 or min(gray.shape[1:]) < 4:
        raise ValueError(f"frame_shifts needs (T, H, W) frames of at least 4x4 pixels, got {gray.shape}")
    taper = np.outer(np.hanning(gray.shape[1]), np.hanning(gray.shape[2]))
    frames = (gray - gray.mean(axis=(1, 2), keepdims=True)) * taper
    reference = np.conj(np.fft.fft2(frames.mean(axis=0)))
    cross = np.fft.fft2(frames) * reference  # (T, H, W)
    surface = np.fft.ifft2(cross / np.maximum(np.abs(cross), 1e-12)).real
    out = np.zeros((2, gray.shape[0]))
    for t, plane in enumerate(surface):
        iy, ix = np.unravel_index(np.argmax(plane), plane.shape)
        out[0, t] = _signed(ix, plane.shape[1]) + _vertex(plane[iy, (ix - 1) % plane.shape[1]], plane[iy, ix],
                                                          plane[iy, (ix + 1) % plane.shape[1]])
        out[1, t] = _signed(iy, plane.shape[0]) + _vertex(plane[(iy - 1) % plane.shape[0], ix], plane[iy, ix],
                                                          plane[(iy + 1) % plane.shape[0], ix])
    return out


def _signed(index: int, size: int) -> float:
    return float(index - size if index > size // 2 else index)


def _vertex(left: float, centre: float, right: float) -> float:
    """Offset in (-0.5, 0.5) of the vertex of the parabola through three neighbouring samples."""
    curvature = left - 2.0 * centre + right
    return 0.0 if curvature >= 0 else float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def clip_traces(frames: Any) -> ClipTraces:
    """The :class:`ClipTraces` of (T, H, W, 3) RGB frames (0-255, any dtype)."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"clip_traces needs (T, H, W, 3) RGB frames, got {frames.shape}")
    rgb = frames.mean(axis=(1, 2)).T  # (3, T)
    light = (rgb / np.maximum(rgb.mean(axis=1, keepdims=True), 1e-6)).mean(axis=0) - 1.0  # (T,)
    return ClipTraces(rgb=rgb, light=light, motion=frame_shifts(frames.mean(axis=3)))


def rates(x: Any, fs: float, band: tuple[float, float] = DEFAULT_BAND, *,
          integrated: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(hr_bpm (N,), snr_db (N,)) of (N, T) signals: the spectral peak in ``band`` after a detrend, and
    the SNR of each signal at its own peak (de Haan & Jeanne: ±0.1 Hz of the peak and of its harmonic
    against the rest of the band). A constant row gets NaN rate and -inf SNR. ``integrated``: the rows are
    a difference signal's integral, read with the estimator's octave check (:func:`sspd.signal.estimate_hr`)."""
    rows = np.atleast_2d(np.asarray(x, dtype=np.float64))
    hr = np.full(rows.shape[0], np.nan)
    snr = np.full(rows.shape[0], -np.inf)
    varying = rows.std(axis=1) > 1e-12 * np.maximum(np.abs(rows).max(axis=1), 1e-300)
    if varying.any():
        clean = detrend(rows[varying], 100.0)
        hr[varying] = estimate_hr(clean, fs, band=band, integrated=integrated)
        snr[varying] = snr_db(clean, fs, hr[varying], band=band)
    return hr, snr
