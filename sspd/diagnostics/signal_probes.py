"""Collapse probes on predicted signals (B, T) and self-similarity waves (B, T').

Each probe reduces a batch of signals to one float. Spectra come from :func:`sspd.signal.periodogram`
(Hann window, mean removed, float64); the frame rate ``fs`` is always passed, never assumed. A row with
no variation (a flat output) has no spectrum and no correlation: each probe says what it does with it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sspd.diagnostics._checks import as_tensor, check_same_shape
from sspd.signal import (band_mask, check_band, check_covers_band, check_fs, choose_nfft, find_spectral_peak_hz,
                         periodogram)

__all__ = [
    "standardise_rows",
    "cross_clip_correlation",
    "agreement",
    "temporal_std",
    "in_band_fraction",
    "harmonic_ratio",
]


def standardise_rows(x: Tensor) -> Tensor:
    """Rows of ``x`` (N, T) minus their mean, scaled to unit L2 norm; a constant row becomes zeros.

    The dot product of two standardised rows is their Pearson r (0 when either row is constant).
    """
    centred = x - x.mean(dim=-1, keepdim=True)                          # (N, T)
    norm = centred.norm(dim=-1, keepdim=True)                           # (N, 1)
    flat = norm <= 1e-12 * x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-300)
    return torch.where(flat, torch.zeros_like(centred), centred / norm.clamp_min(1e-300))


def cross_clip_correlation(pred: Any) -> float:
    """Mean |Pearson r| between the predicted signals of different clips, over all pairs i != j.

    Vectorised: with standardised rows Z (B, T), every pairwise r is an entry of Z Zᵀ (B, B).

    Healthy range: clips with different heart rates give |r| near 0; clips at the SAME heart rate with
    independent phases give E|cos(Δφ)| = 2/π ≈ 0.64; the same output for every input gives 1.
    A constant row counts as r = 0 with every other row (:func:`temporal_std` catches flat output).

    Args:
        pred: (B, T) predicted signals, B >= 2 (use the rolling buffer with small batches).

    Returns:
        Mean |r| in [0, 1].
    """
    x = as_tensor(pred, "pred", 2, "(B, T)")                            # (B, T)
    b = x.shape[0]
    if b < 2:
        raise ValueError(f"cross_clip_correlation needs at least 2 clips, got B={b}: use ProbeBuffer "
                         "to gather clips across steps")
    z = standardise_rows(x)                                             # (B, T)
    r = (z @ z.T).abs()                                                 # (B, B)
    return float((r.sum() - r.diagonal().sum()) / (b * (b - 1)))


def agreement(online: Any, target: Any) -> float:
    """Mean Pearson r between the online and the target network's predictions of the same clips.

    Informative, not an alarm on its own: distillation drives it towards 1 in a healthy run, and two
    networks that collapsed together agree perfectly too. Read it next to the other probes: a predictor
    anchored only by this agreement can be confidently wrong. A constant row counts as r = 0.

    Args:
        online, target: (B, T) predictions of the two networks for the same clips.

    Returns:
        Mean r in [-1, 1].
    """
    a = as_tensor(online, "online", 2, "(B, T)")                        # (B, T)
    b = as_tensor(target, "target", 2, "(B, T)")                        # (B, T)
    check_same_shape(a, b, "online", "target")
    return float((standardise_rows(a) * standardise_rows(b)).sum(dim=-1).mean())


def temporal_std(pred: Any, relative: bool = True) -> float:
    """How much each predicted signal varies in time: 0 for a flat output.

    ``relative=True`` (default): per row, the std over time divided by the root mean square of the
    row, in [0, 1], independent of the output's scale (predictions trained with Pearson-type losses
    have no fixed scale). 1 for a zero-mean signal; sqrt(0.5 / (0.5 + c²)) for a unit sinusoid on an
    offset c; 0 for a constant or all-zero row. ``relative=False``: the plain std over time.

    Args:
        pred: (B, T) predicted signals.

    Returns:
        The mean over the rows.
    """
    x = as_tensor(pred, "pred", 2, "(B, T)")                            # (B, T)
    std = x.std(dim=-1, correction=0)                                   # (B,)
    if not relative:
        return float(std.mean())
    rms = x.square().mean(dim=-1).sqrt()                                # (B,)
    return float((std / rms.clamp_min(torch.finfo(x.dtype).tiny)).clamp(max=1.0).mean())


def _signal_rows(x: Any, fs: float, band: Any, name: str) -> tuple[np.ndarray, float, tuple]:
    """Validated (B, T) float64 rows, fs and band for the spectral probes."""
    rows = as_tensor(x, name, 2, "(B, T)").numpy()                      # (B, T)
    fs = check_fs(fs)
    band = check_band(band, fs)
    check_covers_band(rows.shape[1], fs, band[0], name)
    return rows, fs, band


def in_band_fraction(x: Any, fs: float, band: Any) -> float:
    """Share of each signal's power (Hann periodogram, mean removed) inside ``band``, averaged over rows.

    Healthy range: near 1 for a pulse-like signal; about (high - low) / (fs / 2) for white noise (0.17
    for 0.5-3 Hz at 30 fps), lower for slow drift. A constant row has no power and counts as 0.

    Args:
        x: (B, T) predicted signals, or (B, T') self-similarity waves (their lag axis is at fs too).
        fs: sample rate in Hz.
        band: (low, high) in Hz, inclusive.

    Returns:
        Mean fraction in [0, 1].
    """
    rows, fs, band = _signal_rows(x, fs, band, "x")
    freqs, psd = periodogram(rows, fs, window="hann", remove_mean=True)   # (F,), (B, F)
    total = psd.sum(axis=1)                                                   # (B,)
    inside = psd[:, band_mask(freqs, *band)].sum(axis=1)                      # (B,)
    frac = np.divide(inside, total, out=np.zeros_like(total), where=total > 0)
    return float(frac.mean())


def harmonic_ratio(pred: Any, fs: float, band: Any, half_width_hz: float = 0.1) -> float:
    """Power near twice the heart rate over power near the heart rate, averaged over rows.

    The heart rate f0 of a row is its highest in-band spectral peak (zero-padded Hann periodogram,
    :func:`sspd.signal.find_spectral_peak_hz`); the ratio is P(|f - 2 f0| <= w) / P(|f - f0| <= w),
    w = ``half_width_hz``. For a1 sin(2π f0 t) + a2 sin(4π f0 t) it is (a2 / a1)².

    Healthy range: a cardiac pulse has a weaker second harmonic (power ratio about 0.01-0.3); near or
    above 1 the output is ambiguous between HR and 2 x HR (harmonic confusion, which SSPD's
    autocorrelation-like wave invites). Rows that are constant, or whose 2 f0 + w reaches the Nyquist
    frequency, have no ratio and are left out.

    Args:
        pred: (B, T) predicted signals.
        fs: sample rate in Hz.
        band: (low, high) Hz searched for f0.
        half_width_hz: w, the half-width of the windows summed around f0 and 2 f0.

    Returns:
        The mean ratio over the rows that have one; NaN when none has.
    """
    rows, fs, band = _signal_rows(pred, fs, band, "pred")
    if not half_width_hz > 0:
        raise ValueError(f"half_width_hz must be > 0 Hz, got {half_width_hz}")
    freqs, psd = periodogram(rows, fs, nfft=choose_nfft(rows.shape[1], fs), window="hann")
    psd = np.atleast_2d(psd)                                                  # (B, F)
    f0 = find_spectral_peak_hz(freqs, psd, *band)                             # (B,)
    near = np.abs(freqs[None, :] - f0[:, None]) <= half_width_hz              # (B, F)
    near_2 = np.abs(freqs[None, :] - 2.0 * f0[:, None]) <= half_width_hz      # (B, F)
    base = (psd * near).sum(axis=1)                                           # (B,)
    valid = (base > 0) & (2.0 * f0 + half_width_hz < fs / 2)
    if not valid.any():
        return math.nan
    return float(((psd * near_2).sum(axis=1)[valid] / base[valid]).mean())
