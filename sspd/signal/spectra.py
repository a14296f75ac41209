"""Power spectra of (T,) / (B, T) signals in float64, with the FFT-length rules the HR estimators use."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.signal import get_window

from sspd.signal.checks import as_signal_rows, check_fs

__all__ = ["next_pow2", "choose_nfft", "band_mask", "power_spectrum"]

# Frequency grid (bpm) that choose_nfft aims for before peak interpolation refines it further.
_GRID_BPM = 0.1


def next_pow2(n: int) -> int:
    """Smallest power of two >= ``n`` (1 for ``n <= 1``)."""
    n = int(n)
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def choose_nfft(n_samples: int, fs: float, grid_bpm: float = _GRID_BPM) -> int:
    """FFT length for HR estimation: the next power of two that is >= ``n_samples`` and gives a grid
    of at most ``grid_bpm`` (bin width ``60 * fs / nfft`` bpm); e.g. 32768 at 30 Hz for 0.1 bpm."""
    if grid_bpm <= 0:
        raise ValueError(f"grid_bpm must be > 0, got {grid_bpm}")
    return next_pow2(max(int(n_samples), math.ceil(60.0 * check_fs(fs) / grid_bpm)))


def band_mask(freqs: np.ndarray, low: float, high: float) -> np.ndarray:
    """(F,) boolean mask of ``low <= f <= high``; raises when no frequency bin lies in the band."""
    mask = (freqs >= low) & (freqs <= high)
    if not mask.any():
        step = float(freqs[1] - freqs[0]) if freqs.size > 1 else float("nan")
        raise ValueError(f"no frequency bin lies in the band [{low}, {high}] Hz (bins every {step:.3g} "
                         "Hz): use a larger nfft, a longer signal or a wider band")
    return mask


def power_spectrum(x: Any, fs: float, nfft: int | None = None, window: str = "hann",
                   remove_mean: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One-sided power spectral density (the modified periodogram) along the last axis, in float64.

    Matches ``scipy.signal.periodogram(x, fs, window, nfft, detrend="constant" if remove_mean else
    False, scaling="density")``: ``psd = c |FFT(w·x)|² / (fs Σw²)`` with ``c = 2`` except at DC and
    Nyquist, so that ``psd.sum() * fs / nfft`` is the variance of a mean-free signal.

    Args:
        x: (T,) or (B, T) numpy array or torch tensor (returned as numpy).
        fs: sample rate in Hz.
        nfft: FFT length (zero padding) >= T; defaults to T (no padding).
        window: any window name ``scipy.signal.get_window`` accepts ("hann", "boxcar", ...).
        remove_mean: subtract each row's mean before windowing (otherwise DC leaks into low bins).

    Returns:
        freqs (F,) in Hz and psd (F,) or (B, F) in units²/Hz, F = nfft // 2 + 1.
    """
    rows, was_1d = as_signal_rows(x)  # (B, T)
    fs = check_fs(fs)
    n = rows.shape[1]
    nfft = n if nfft is None else int(nfft)
    if nfft < n:
        raise ValueError(f"nfft={nfft} is shorter than the signal ({n} samples): pass nfft >= {n}")
    if remove_mean:
        rows = rows - rows.mean(axis=1, keepdims=True)
    taper = get_window(window, n)  # (T,) periodic window, as scipy's periodogram uses
    spectrum = np.fft.rfft(rows * taper, n=nfft, axis=1)  # (B, F)
    psd = np.abs(spectrum) ** 2 / (fs * np.sum(taper ** 2))  # (B, F)
    last = -1 if nfft % 2 == 0 else None  # the Nyquist bin exists (and is not doubled) for even nfft
    psd[:, 1:last] *= 2.0
    freqs = np.fft.rfftfreq(nfft, d=1.0 / fs)  # (F,)
    return freqs, psd[0] if was_1d else psd
