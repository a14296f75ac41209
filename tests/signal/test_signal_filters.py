import math

import numpy as np
import pytest
import torch

from sspd.signal import bandpass

FS = 30.0
LOW, HIGH = 0.75, 2.5


def _tone(freq, seconds=120.0, fs=FS, phase=0.4):
    t = np.arange(int(seconds * fs)) / fs
    return np.sin(2 * np.pi * freq * t + phase)


def _middle(x):
    n = len(x)
    return x[n // 4: 3 * n // 4]


def _centre_frequency(low, high, fs):
    """Analytic: the bilinear transform maps the prototype's centre (geometric mean of the pre-warped
    edges) back to this frequency, where the band-pass gain is exactly 1."""
    warp = math.sqrt(math.tan(math.pi * low / fs) * math.tan(math.pi * high / fs))
    return fs / math.pi * math.atan(warp)


@pytest.mark.parametrize("order", [1, 2, 4])
def test_bandpass_gain_is_one_at_centre_and_half_at_edges_with_zero_phase(order):
    centre = _centre_frequency(LOW, HIGH, FS)
    for freq, gain in ((centre, 1.0), (LOW, 0.5), (HIGH, 0.5)):
        x = _tone(freq)
        y = bandpass(x, FS, LOW, HIGH, order=order)
        # zero phase: the output is the input scaled, sample by sample, away from the edges
        np.testing.assert_allclose(_middle(y), gain * _middle(x), atol=2e-3)


def test_bandpass_attenuates_out_of_band_tones_more_with_higher_order():
    x = _tone(6.0) + _tone(0.1)
    residual = [np.max(np.abs(_middle(bandpass(x, FS, LOW, HIGH, order=k)))) for k in (1, 2, 4)]
    assert residual[0] > residual[1] > residual[2]
    assert residual[2] < 1e-3


def test_bandpass_batch_rows_equal_single_rows_and_torch_matches():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 300))
    batch = bandpass(x, FS, LOW, HIGH)
    for i in range(3):
        np.testing.assert_allclose(batch[i], bandpass(x[i], FS, LOW, HIGH), rtol=0, atol=1e-12)
    np.testing.assert_allclose(bandpass(torch.from_numpy(x), FS, LOW, HIGH), batch, atol=1e-12)
    assert batch.shape == (3, 300)


def test_bandpass_errors():
    x = _tone(1.0, seconds=10)
    with pytest.raises(ValueError, match="Nyquist"):
        bandpass(x, FS, 1.0, 15.0)
    with pytest.raises(ValueError, match="empty or invalid"):
        bandpass(x, FS, 2.0, 1.0)
    with pytest.raises(ValueError, match="order must be an integer >= 1"):
        bandpass(x, FS, LOW, HIGH, order=0)
    with pytest.raises(ValueError, match="needs more than 15 samples"):
        bandpass(x[:10], FS, LOW, HIGH, order=2)
    with pytest.raises(ValueError, match="fs must be a finite sample rate > 0"):
        bandpass(x, 0.0, LOW, HIGH)
