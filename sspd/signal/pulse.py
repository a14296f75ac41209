"""sspd's pre-processing of a pulse before its heart rate is measured: detrend, then band-pass.

Shared by the windowed evaluation against labels (:mod:`sspd.eval.metrics`) and HR over time of any
video (:mod:`sspd.infer.window_hr`), so that both measure a signal the same way.
"""
from __future__ import annotations

import numpy as np

from sspd.signal.detrend import choose_detrend_lambda, detrend
from sspd.signal.filters import bandpass

__all__ = ["BANDPASS_ORDER", "prepare_pulse"]

BANDPASS_ORDER = 2  # sspd's default pipeline: order-2 Butterworth, applied forward and backward


def prepare_pulse(windows: np.ndarray, fs: float, band: tuple[float, float],
                  is_diff: bool = False) -> np.ndarray:
    """sspd's pre-processing of (N, L) windows: integrate differences, detrend with the trend filter's
    half-gain point at half the band's lower edge (keeps ~94 % of the amplitude at it), then an
    order-2 zero-phase Butterworth band-pass over ``band``. Without the band-pass, strong content just
    below the band (motion, illumination) leaks through the periodogram window's main lobe and the
    peak lands on the band's lower edge."""
    x = np.cumsum(windows, axis=1) if is_diff else windows  # (N, L)
    x = detrend(x, choose_detrend_lambda(band[0] / 2.0, fs))
    return np.atleast_2d(bandpass(x, fs, band[0], band[1], order=BANDPASS_ORDER))
