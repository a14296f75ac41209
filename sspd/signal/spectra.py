"""Power spectra of (T,) / (B, T) signals in float64, with the FFT-length rules the HR estimators use."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.signal

from sspd.signal.checks import as_signal_rows, check_fs

__all__ = ["next_pow2", "choose_nfft", "band_mask", "periodogram"]

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


def band_mask(freqs: Any, low: float, high: float) -> Any:
    """(F,) boolean mask of ``low <= f <= high`` (both edges inclusive); raises when ``low >= high`` or
    when no frequency bin lies in the band.

    The one definition of the band rule for the whole library: ``freqs`` may be a numpy array (the
    signal functions) or a torch tensor (the losses, which re-export this function); the mask has the
    same type and device (only comparison operators are used, so torch is not imported here).
    """
    if not low < high:
        raise ValueError(f"band must satisfy low < high, got ({low}, {high})")
    mask = (freqs >= low) & (freqs <= high)
    if not bool(mask.any()):
        n_bins = len(freqs)
        step = float(freqs[1] - freqs[0]) if n_bins > 1 else float("nan")
        last = float(freqs[-1]) if n_bins else float("nan")
        raise ValueError(f"no frequency bin lies in the band [{low}, {high}] Hz (bins 0..{last:.3g} Hz every "
                         f"{step:.3g} Hz): use a larger nfft, a longer signal or a wider band")
    return mask


def periodogram(x: Any, fs: float, nfft: int | None = None, window: str = "hann",
                remove_mean: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One-sided power spectral density (the modified periodogram) along the last axis, in float64.

    ``scipy.signal.periodogram(x, fs, window, nfft, detrend="constant" if remove_mean else False,
    scaling="density")`` on validated float64 rows: ``psd = c |FFT(w·x)|² / (fs Σw²)`` with ``c = 2``
    except at DC and Nyquist, so that ``psd.sum() * fs / nfft`` is the variance of a mean-free signal.
    (Not :func:`sspd.losses.power_spectrum`, the unscaled |X|² of torch tensors the losses use.)

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
    if nfft < n:  # scipy would silently truncate the signal
        raise ValueError(f"nfft={nfft} is shorter than the signal ({n} samples): pass nfft >= {n}")
    freqs, psd = scipy.signal.periodogram(rows, fs=fs, window=window, nfft=nfft,
                                          detrend="constant" if remove_mean else False,
                                          return_onesided=True, scaling="density", axis=-1)  # (F,), (B, F)
    return freqs, psd[0] if was_1d else psd
