import math

import numpy as np
import pytest
import torch

from sspd.signal import snr_db

FS = 30.0
F0 = 1.1  # Hz: HR 66 bpm; the windows [1.0, 1.2] and [2.1, 2.3] Hz both lie inside 0.75-2.5 Hz


def _tone_in_noise(sigma, rows=8, seconds=120.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    return np.sin(2 * np.pi * F0 * t + 0.3) + sigma * rng.standard_normal((rows, t.size))


def _analytic_snr_db(sigma):
    """White noise of variance σ² has one-sided density 2σ²/fs. Signal: the tone's A²/2 plus the
    noise inside the two 0.2 Hz windows; noise: the rest of the 1.75 Hz band (1.35 Hz)."""
    density = 2 * sigma ** 2 / FS
    return 10 * math.log10((0.5 + density * 0.4) / (density * 1.35))


@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_snr_of_tone_in_white_noise_is_close_to_analytic(sigma):
    snr = snr_db(_tone_in_noise(sigma), FS, 60 * F0)
    assert snr.shape == (8,)
    assert np.mean(snr) == pytest.approx(_analytic_snr_db(sigma), abs=0.5)


def test_snr_orders_pure_tone_above_noisier_tones():
    clean = snr_db(_tone_in_noise(0.0, rows=1)[0], FS, 60 * F0)
    mild = np.mean(snr_db(_tone_in_noise(0.5), FS, 60 * F0))
    heavy = np.mean(snr_db(_tone_in_noise(2.0), FS, 60 * F0))
    assert isinstance(clean, float)
    assert clean > 40.0 > mild > heavy


def test_snr_is_scale_invariant_and_uses_the_given_hr():
    x = _tone_in_noise(0.5, rows=2)
    base = snr_db(x, FS, 60 * F0)
    np.testing.assert_allclose(snr_db(3.0 * x - 7.0, FS, 60 * F0), base, atol=1e-9)
    wrong = snr_db(x, FS, [60 * 1.6, 60 * 1.6])  # windows miss the tone: power counted as noise
    assert np.all(wrong < base - 10.0)
    np.testing.assert_allclose(snr_db(torch.from_numpy(x), FS, 60 * F0), base, atol=1e-9)


def test_snr_errors():
    x = _tone_in_noise(0.5, rows=2, seconds=10)
    with pytest.raises(ValueError, match="hr_bpm must be finite and > 0"):
        snr_db(x, FS, 0.0)
    with pytest.raises(ValueError, match="3 values for 2 signal rows"):
        snr_db(x, FS, [60.0, 70.0, 80.0])
    with pytest.raises(ValueError, match="no noise bins remain"):
        snr_db(x, FS, 66.0, band=(1.0, 1.2))
    with pytest.raises(ValueError, match="SNR is undefined"):
        snr_db(np.zeros(300), FS, 66.0)
    with pytest.raises(ValueError, match="half_width_hz must be > 0"):
        snr_db(x, FS, 66.0, half_width_hz=0.0)
    with pytest.raises(ValueError, match="shorter than one period"):
        snr_db(x[:, :20], FS, 66.0)
