"""sspd's pre-processing of a pulse before its heart rate is measured: detrend, then band-pass.

Shared by the windowed evaluation against labels (:mod:`sspd.eval.metrics`) and HR over time of any
video (:mod:`sspd.infer.window_hr`), so that both measure a signal the same way.
"""
from __future__ import annotations

import numpy as np

from sspd.signal.detrend import choose_detrend_lambda, detrend
from sspd.signal.filters import bandpass

__all__ = ["BANDPASS_MARGIN", "BANDPASS_ORDER", "filter_band", "integrate", "prepare_pulse"]

BANDPASS_ORDER = 2  # sspd's default pipeline: order-2 Butterworth, applied forward and backward
#: the band-pass's edges sit this factor outside the search band (low x 0.7, high / 0.7), so every rate
#: the estimator may report keeps >= 87 % of its amplitude (a forward-backward Butterworth halves it at its
#: own edges, which let a slow pulse's second harmonic outweigh its fundamental)
BANDPASS_MARGIN = 0.7


def integrate(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """The pulse a difference signal follows: the cumulative sum along ``axis`` of ``x`` with its mean
    removed first (a constant offset, meaningless in a difference, would integrate into a ramp whose
    leakage reaches the pulse band; clip by clip, into a sawtooth at the clip rate's harmonics)."""
    x = np.asarray(x, dtype=np.float64)
    return np.cumsum(x - x.mean(axis=axis, keepdims=True), axis=axis)


def filter_band(band: tuple[float, float], fs: float) -> tuple[float, float]:
    """The band-pass's edges (Hz) for a search ``band``: widened by :data:`BANDPASS_MARGIN` on both
    sides, the top kept below 0.49 fs (and never under the band's own top)."""
    low, high = band
    return low * BANDPASS_MARGIN, max(high, min(high / BANDPASS_MARGIN, 0.49 * fs))


def prepare_pulse(windows: np.ndarray, fs: float, band: tuple[float, float],
                  is_diff: bool = False) -> np.ndarray:
    """sspd's pre-processing of (N, L) windows: integrate differences, detrend with the trend filter's
    half-gain point at half the band's lower edge (keeps ~94 % of the amplitude at it), then an
    order-2 zero-phase Butterworth band-pass over :func:`filter_band` (``band`` widened by
    :data:`BANDPASS_MARGIN`; the HR is then searched inside ``band``). Without the band-pass, strong
    content well below the band (motion, illumination) leaks through the periodogram window's main lobe
    and the peak lands on the band's lower edge; with its edges on the band's own, a pulse near the lower
    edge kept half its amplitude while its second harmonic kept all of it, and a 42 bpm pulse whose
    harmonic had 0.6 of its amplitude read 84 bpm."""
    x = integrate(windows, axis=1) if is_diff else windows  # (N, L)
    x = detrend(x, choose_detrend_lambda(band[0] / 2.0, fs))
    low, high = filter_band(band, fs)
    return np.atleast_2d(bandpass(x, fs, low, high, order=BANDPASS_ORDER))
