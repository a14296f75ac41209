"""Signal quality of a recovered pulse: the spectral SNR of de Haan & Jeanne (IEEE TBME 60(10), 2013)."""
from __future__ import annotations

from typing import Any

import numpy as np

from sspd.signal.checks import (as_signal_rows, check_band, check_covers_band, check_fs,
                                 restore_rows)
from sspd.signal.hr import DEFAULT_BAND
from sspd.signal.spectra import choose_nfft, periodogram

__all__ = ["snr_db"]


def _per_row_hr(hr_bpm: Any, n_rows: int, fs: float) -> np.ndarray:
    """(B,) HR in Hz from a scalar or (B,) array of bpm; each must be > 0 and finite."""
    hr = np.asarray(hr_bpm, dtype=np.float64).reshape(-1)  # (1,) or (B,)
    if hr.size not in (1, n_rows):
        raise ValueError(f"hr_bpm has {hr.size} values for {n_rows} signal rows: pass one per row")
    if not np.all(np.isfinite(hr)) or np.any(hr <= 0):
        raise ValueError(f"hr_bpm must be finite and > 0 bpm, got {hr.tolist()[:10]}")
    return np.broadcast_to(hr / 60.0, (n_rows,))


def _harmonic_masks(freqs: np.ndarray, hr_hz: np.ndarray, half_width_hz: float) -> np.ndarray:
    """(B, F) mask of bins within ``half_width_hz`` of each row's HR or twice its HR."""
    near_f0 = np.abs(freqs[None, :] - hr_hz[:, None]) <= half_width_hz  # (B, F)
    near_f1 = np.abs(freqs[None, :] - 2.0 * hr_hz[:, None]) <= half_width_hz  # (B, F)
    return near_f0 | near_f1


def _ratio_db(signal_power: np.ndarray, noise_power: np.ndarray) -> np.ndarray:
    """10 log10(signal / noise) per row; +inf where the noise power is 0, -inf where the signal is."""
    out = np.empty_like(signal_power)
    both = (signal_power > 0) & (noise_power > 0)
    out[both] = 10.0 * np.log10(signal_power[both] / noise_power[both])
    out[(signal_power > 0) & (noise_power == 0)] = np.inf
    out[(signal_power == 0) & (noise_power > 0)] = -np.inf
    if np.any((signal_power == 0) & (noise_power == 0)):
        raise ValueError("SNR is undefined: the signal has no power in the band (a constant signal?)")
    return out


def snr_db(x: Any, fs: float, hr_bpm: Any, band: tuple[float, float] = DEFAULT_BAND, *,
           nfft: int | None = None, window: str = "hann", half_width_hz: float = 0.1,
           remove_mean: bool = True) -> float | np.ndarray:
    """Spectral signal-to-noise ratio (dB) of a pulse signal given its heart rate.

    Following de Haan & Jeanne (2013), the signal is the power within ±``half_width_hz`` of the HR and
    of its first harmonic (2 × HR), wherever those lie; the noise is the rest of the power in ``band``.
    ``10 log10(signal / noise)``, from :func:`periodogram` (``window``, zero-padded to ``nfft``,
    default :func:`choose_nfft`). Pass the reference (ground-truth) HR to score a prediction.

    The ±0.1 Hz windows are narrower than a short window's spectral main lobe (±2/T Hz for Hann,
    ±1/T Hz for boxcar, T in seconds), so the SNR of short signals has a ceiling: a pure tone scores
    about 10 dB at 10 s and over 30 dB from 20 s with Hann. Compare SNRs only at equal window lengths.

    Args:
        x: (T,) or (B, T) numpy array or torch tensor.
        fs: sample rate in Hz.
        hr_bpm: heart rate in bpm, a scalar or one per row.
        band: (low, high) Hz holding the noise; default 0.75-2.5 Hz.

    Returns:
        SNR in dB: a float for a (T,) input, else (B,). +inf when the band holds no power outside the
        harmonic windows, -inf when the windows hold none.
    """
    rows, was_1d = as_signal_rows(x)  # (B, T)
    fs = check_fs(fs)
    low, high = check_band(band, fs)
    check_covers_band(rows.shape[1], fs, low)
    if not half_width_hz > 0:
        raise ValueError(f"half_width_hz must be > 0 Hz, got {half_width_hz}")
    hr_hz = _per_row_hr(hr_bpm, rows.shape[0], fs)  # (B,)
    nfft = choose_nfft(rows.shape[1], fs) if nfft is None else nfft
    freqs, psd = periodogram(rows, fs, nfft=nfft, window=window, remove_mean=remove_mean)  # (B, F)
    harmonic = _harmonic_masks(freqs, hr_hz, half_width_hz)  # (B, F)
    in_band = (freqs >= low) & (freqs <= high)  # (F,)
    noise_mask = in_band[None, :] & ~harmonic  # (B, F)
    if not noise_mask.any(axis=1).all():
        raise ValueError(f"no noise bins remain in band ({low}, {high}) Hz after removing ±"
                         f"{half_width_hz} Hz around the HR and 2×HR: widen the band")
    signal_power = np.sum(psd * harmonic, axis=1)  # (B,)
    noise_power = np.sum(psd * noise_mask, axis=1)  # (B,)
    return restore_rows(_ratio_db(signal_power, noise_power), was_1d)
