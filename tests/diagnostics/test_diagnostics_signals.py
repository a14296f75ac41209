import math

import numpy as np
import pytest
import torch
from scipy.signal import periodogram

from sspd.diagnostics import (agreement, cross_clip_correlation, harmonic_ratio, in_band_fraction,
                              temporal_std)

FS = 30.0
T = np.arange(300) / FS


def _sines(hz, phases, amp=1.0):
    return amp * np.sin(2 * np.pi * np.asarray(hz)[:, None] * T[None] + np.asarray(phases)[:, None])


def test_cross_clip_correlation_matches_pairwise_loop():
    x = np.random.default_rng(0).standard_normal((6, 50))
    x[2] = 3.0                                              # a constant row: r = 0 with every row
    pairs = [abs(np.corrcoef(x[i], x[j])[0, 1]) if 2 not in (i, j) else 0.0
             for i in range(6) for j in range(6) if i != j]
    assert cross_clip_correlation(x) == pytest.approx(np.mean(pairs), rel=1e-10)


def test_cross_clip_correlation_identical_same_rate_and_spread_rates():
    rng = np.random.default_rng(1)
    same = _sines(np.full(8, 1.2), np.zeros(8))
    assert cross_clip_correlation(5.0 * same + 2.0) == pytest.approx(1.0, abs=1e-10)
    phases = rng.uniform(0, 2 * np.pi, 400)
    assert cross_clip_correlation(_sines(np.full(400, 1.2), phases)) == pytest.approx(2 / np.pi, abs=0.03)
    spread = _sines(rng.uniform(0.8, 2.4, 64), rng.uniform(0, 2 * np.pi, 64))
    assert cross_clip_correlation(spread) < 0.25


def test_agreement_is_mean_pearson_and_affine_invariant():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 4, 40))
    expected = np.mean([np.corrcoef(a[i], b[i])[0, 1] for i in range(4)])
    assert agreement(a, b) == pytest.approx(expected, rel=1e-10)
    assert agreement(torch.tensor(a), torch.tensor(3 * a - 1)) == pytest.approx(1.0, abs=1e-12)
    assert agreement(a, -a) == pytest.approx(-1.0, abs=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        agreement(a, b[:, :30])


def test_temporal_std_analytic_values():
    unit = _sines([1.0], [0.0])                             # std 1/sqrt(2), mean 0 over whole periods
    assert temporal_std(unit) == pytest.approx(1.0, abs=1e-10)
    for c in (1.0, 10.0, 70.0):
        assert temporal_std(unit + c) == pytest.approx(math.sqrt(0.5 / (0.5 + c * c)), rel=1e-9)
    assert temporal_std(unit, relative=False) == pytest.approx(math.sqrt(0.5), rel=1e-9)
    assert temporal_std(np.zeros((2, 50))) == 0.0
    assert temporal_std(np.full((2, 50), 4.0)) == pytest.approx(0.0, abs=1e-12)


def _in_band_reference(x, fs, band):
    f, p = periodogram(x, fs=fs, window="hann", detrend="constant", scaling="density", axis=-1)
    mask = (f >= band[0]) & (f <= band[1])
    return np.mean(p[:, mask].sum(1) / p.sum(1))


def test_in_band_fraction_matches_scipy_periodogram_and_known_values():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 300)) + _sines(rng.uniform(1, 2, 5), rng.uniform(0, 6, 5), amp=2.0)
    expected = _in_band_reference(x, FS, (0.75, 2.5))
    assert in_band_fraction(x, FS, (0.75, 2.5)) == pytest.approx(expected, rel=1e-9)
    assert in_band_fraction(_sines([1.3, 1.7], [0, 1]), FS, (0.75, 2.5)) > 0.99
    noise = rng.standard_normal((200, 300))
    assert in_band_fraction(noise, FS, (0.75, 2.5)) == pytest.approx(1.75 / 15.0, abs=0.02)
    assert in_band_fraction(np.ones((2, 300)), FS, (0.75, 2.5)) == 0.0      # flat: no pulse power


@pytest.mark.parametrize("a2", [0.0, 0.3, 0.8])
def test_harmonic_ratio_equals_squared_amplitude_ratio(a2):
    rng = np.random.default_rng(4)
    f0 = rng.uniform(0.9, 1.6, 6)
    x = _sines(f0, rng.uniform(0, 6, 6)) + a2 * _sines(2 * f0, rng.uniform(0, 6, 6))
    assert harmonic_ratio(x, FS, (0.75, 2.5)) == pytest.approx(a2 ** 2, abs=0.01 + 0.02 * a2 ** 2)


def test_harmonic_ratio_leaves_out_rows_without_a_measurable_harmonic():
    low_fs = 5.0                                          # Nyquist 2.5 Hz: 2 x 1.5 Hz is above it
    t = np.arange(100) / low_fs
    x = np.sin(2 * np.pi * 1.5 * t)[None]
    assert math.isnan(harmonic_ratio(x, low_fs, (0.75, 2.0)))
    pulse = np.sin(2 * np.pi * 0.8 * t) + 0.5 * np.sin(2 * np.pi * 1.6 * t + 1.0)
    both = np.stack([np.zeros_like(t), x[0], pulse])       # flat row and high row are left out
    assert harmonic_ratio(both, low_fs, (0.75, 2.0)) == pytest.approx(0.25, abs=0.02)


def test_signal_probe_errors():
    x = _sines([1.0, 1.2], [0, 0])
    with pytest.raises(ValueError, match="fs must be"):
        in_band_fraction(x, 0.0, (0.75, 2.5))
    with pytest.raises(ValueError, match="Nyquist"):
        in_band_fraction(x, FS, (0.75, 16.0))
    with pytest.raises(ValueError, match="0 < low < high"):
        harmonic_ratio(x, FS, (2.5, 0.75))
    with pytest.raises(ValueError, match="shorter than one period"):
        in_band_fraction(x[:, :20], FS, (0.75, 2.5))
    with pytest.raises(ValueError, match="half_width_hz"):
        harmonic_ratio(x, FS, (0.75, 2.5), half_width_hz=0.0)
    with pytest.raises(ValueError, match="at least 2 clips"):
        cross_clip_correlation(x[:1])
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        temporal_std(x[0])
