"""Smoothness-priors detrending (Tarvainen, Ranta-aho & Karjalainen, IEEE TBME 49(2), 2002).

The trend ``z`` of a signal ``x`` (T samples) minimises ``|x - z|² + λ² |D2 z|²``, where D2 is the
(T-2, T) second-difference operator, so ``z = (I + λ² D2ᵀD2)⁻¹ x`` and the detrended signal is
``x - z``. This is the paper's convention, and also the one the rPPG-Toolbox uses: its ``lambda`` value
(100 in its HR post-processing) is the λ here. The matrix is symmetric positive definite and
pentadiagonal, so a banded Cholesky solve costs O(T) time and memory instead of the O(T³) dense inverse.

As a filter (away from the edges) the trend has gain ``1 / (1 + 16 λ² sin⁴(π f / fs))``: the
detrending is a high-pass whose trend gain is 1/2 at :func:`detrend_cutoff_hz`; e.g. λ=100 at 30 Hz
puts that point at 0.48 Hz and keeps 86 % of the amplitude at 0.75 Hz.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.linalg import solveh_banded

from sspd.signal.checks import as_signal_rows, check_fs

__all__ = ["detrend", "detrend_cutoff_hz", "choose_detrend_lambda"]


def _check_lambda(lam: float) -> float:
    value = float(lam)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"lam must be a finite smoothing parameter > 0, got {lam!r} "
                         "(larger λ keeps more of the slow content in the output; 100 is common at 30 Hz)")
    return value


def _banded_system(n: int, lam: float) -> np.ndarray:
    """Upper banded form (3, T) of ``I + λ² D2ᵀD2`` for ``scipy.linalg.solveh_banded``.

    Row 2 is the diagonal, row 1 the first super-diagonal (right-aligned), row 0 the second.
    Each row of D2 is [1, -2, 1] at columns i, i+1, i+2, so entry (j, k) of D2ᵀD2 sums the products of
    those coefficients over the rows i that touch both j and k.
    """
    lam2 = lam * lam
    diag = np.zeros(n)
    diag[: n - 2] += 1.0
    diag[1: n - 1] += 4.0
    diag[2:] += 1.0
    off1 = np.zeros(n - 1)  # (j, j+1): pairs (1, -2) and (-2, 1)
    off1[: n - 2] -= 2.0
    off1[1:] -= 2.0
    bands = np.zeros((3, n))  # (3, T)
    bands[2] = 1.0 + lam2 * diag
    bands[1, 1:] = lam2 * off1
    bands[0, 2:] = lam2  # (j, j+2): pair (1, 1)
    return bands


def detrend(x: Any, lam: float) -> np.ndarray:
    """Remove the smoothness-priors trend from each row: ``x - (I + λ² D2ᵀD2)⁻¹ x``.

    Args:
        x: (T,) or (B, T) numpy array or torch tensor, T >= 3.
        lam: the smoothing parameter λ > 0 (λ² multiplies D2ᵀD2, the Tarvainen / rPPG-Toolbox
            convention). Use :func:`choose_detrend_lambda` to pick λ from a cut-off frequency.

    Returns:
        The detrended signal, float64, same shape as ``x``. A straight line is all trend (D2 maps it
        to zero), so it detrends to zero.
    """
    rows, was_1d = as_signal_rows(x)  # (B, T)
    lam = _check_lambda(lam)
    n = rows.shape[1]
    if n < 3:
        raise ValueError(f"detrend needs at least 3 samples (second differences), got {n}")
    trend = solveh_banded(_banded_system(n, lam), rows.T)  # (T, B): one banded solve for all rows
    out = rows - trend.T  # (B, T)
    return out[0] if was_1d else out


def detrend_cutoff_hz(lam: float, fs: float) -> float:
    """Frequency (Hz) where the trend filter of :func:`detrend` has gain 1/2, away from the edges:
    ``(fs / π) · arcsin(1 / (2 √λ))``. Content well above it passes, content well below is removed."""
    lam = _check_lambda(lam)
    fs = check_fs(fs)
    return fs / math.pi * math.asin(min(1.0, 1.0 / (2.0 * math.sqrt(lam))))


def choose_detrend_lambda(cutoff_hz: float, fs: float) -> float:
    """The λ whose trend filter has gain 1/2 at ``cutoff_hz`` (inverse of :func:`detrend_cutoff_hz`):
    ``1 / (4 sin²(π f / fs))``; e.g. 0.3 Hz at 30 Hz gives λ ≈ 253."""
    fs = check_fs(fs)
    if not 0 < cutoff_hz < fs / 2:
        raise ValueError(f"cutoff_hz must lie in (0, fs/2) = (0, {fs / 2}) Hz, got {cutoff_hz}")
    return 1.0 / (4.0 * math.sin(math.pi * cutoff_hz / fs) ** 2)
