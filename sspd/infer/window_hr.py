"""HR over time of a pulse signal: full windows, each detrended, band-passed and measured on its own,
and the whole signal's HR, with the SNR at each HR (what ``sspd predict`` reports)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sspd.signal import DEFAULT_BAND, check_band, estimate_hr, prepare_pulse, snr_db

__all__ = ["WindowHR", "check_windows", "estimate_window_hr", "overall_hr"]

_WINDOW_CHUNK = 128  # windows scored at once: bounds the (chunk, F) spectra of long videos


@dataclass(frozen=True)
class WindowHR:
    """HR of one window of the signal, ``start_s`` to ``end_s`` (end exclusive), and its SNR (dB)."""

    start_s: float
    end_s: float
    hr_bpm: float
    snr_db: float


def check_windows(window_s: float, stride_s: float, band: tuple[float, float], fs: float
                   ) -> tuple[float, float]:
    """The band as floats, after checking the windows are positive and span one period of its low edge."""
    for name, value in (("window_s", window_s), ("stride_s", stride_s)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    low, high = check_band(band, fs)
    if window_s * low < 1.0:
        raise ValueError(f"window_s={window_s:g} s is shorter than one period of the band's low edge "
                         f"({low:g} Hz): use window_s >= {1 / low:.3g} s (10 s is usual) or raise the band")
    return low, high


def estimate_window_hr(signal: np.ndarray, fs: float, *, window_s: float = 10.0, stride_s: float = 1.0,
                       band: tuple[float, float] = DEFAULT_BAND, integrated: bool = False) -> list[WindowHR]:
    """HR over time: windows of ``window_s`` starting every ``stride_s`` seconds from frame 0, each
    detrended, band-passed and measured on its own (only full windows; none if the signal is shorter).

    Args:
        signal: (T,) pulse at ``fs`` Hz.
        integrated: the pulse is a difference signal's integral (a ``diff`` model's output): read with the
            estimator's octave check (:func:`sspd.signal.estimate_hr`).

    Returns:
        One :class:`WindowHR` per window, SNR at the window's own HR.
    """
    band = check_windows(window_s, stride_s, band, fs)
    length, stride = int(round(window_s * fs)), max(1, int(round(stride_s * fs)))
    if length > signal.size:
        return []
    starts = np.arange(0, signal.size - length + 1, stride)  # (K,)
    view = np.lib.stride_tricks.sliding_window_view(signal, length)  # (T - L + 1, L), no copy
    out = []
    for first in range(0, starts.size, _WINDOW_CHUNK):
        chunk = starts[first:first + _WINDOW_CHUNK]
        pulse = prepare_pulse(view[chunk], fs, band)  # (k, L)
        hr = np.atleast_1d(estimate_hr(pulse, fs, "fft", band, integrated=integrated))  # (k,)
        snr = np.atleast_1d(snr_db(pulse, fs, hr, band))  # (k,)
        out += [WindowHR(start_s=s / fs, end_s=(s + length) / fs, hr_bpm=float(h), snr_db=float(q))
                for s, h, q in zip(chunk, hr, snr)]
    return out


def overall_hr(signal: np.ndarray, fs: float, band: tuple[float, float], *, integrated: bool = False
               ) -> tuple[np.ndarray, float, float]:
    """(T,) pulse, its spectral-peak HR (bpm) and the SNR (dB) at that HR (``integrated``: as in
    :func:`estimate_window_hr`)."""
    pulse = prepare_pulse(signal[None], fs, band)  # (1, T)
    hr = float(np.atleast_1d(estimate_hr(pulse, fs, "fft", band, integrated=integrated))[0])
    return pulse[0], hr, float(np.atleast_1d(snr_db(pulse, fs, hr, band))[0])
