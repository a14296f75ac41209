import math

import numpy as np
import pytest
import scipy.signal
import torch

from sspd.signal import band_mask, choose_nfft, next_pow2, periodogram


def _slow_periodogram(x, fs, nfft, window):
    """Independent reference: explicit DFT sums of the tapered signal, one-sided density."""
    n = len(x)
    w = [0.5 - 0.5 * math.cos(2 * math.pi * i / n) for i in range(n)] if window == "hann" else [1.0] * n
    xw = [a * b for a, b in zip(x, w)]
    scale = fs * sum(v * v for v in w)
    out = []
    for k in range(nfft // 2 + 1):
        re = sum(v * math.cos(2 * math.pi * k * i / nfft) for i, v in enumerate(xw))
        im = sum(v * math.sin(2 * math.pi * k * i / nfft) for i, v in enumerate(xw))
        edge = k == 0 or (nfft % 2 == 0 and k == nfft // 2)
        out.append((re * re + im * im) / scale * (1.0 if edge else 2.0))
    return np.array(out)


@pytest.mark.parametrize("window", ["hann", "boxcar"])
@pytest.mark.parametrize("nfft", [37, 64, 81])
def test_periodogram_matches_slow_dft(window, nfft):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(37) + 3.0
    freqs, psd = periodogram(x, fs=12.5, nfft=nfft, window=window, remove_mean=False)
    np.testing.assert_allclose(psd, _slow_periodogram(list(x), 12.5, nfft, window), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(freqs, np.arange(nfft // 2 + 1) * 12.5 / nfft, rtol=1e-12)


@pytest.mark.parametrize("window", ["hann", "boxcar", "hamming"])
def test_periodogram_matches_scipy_periodogram_on_batches(window):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 100)) + np.array([[0.0], [5.0], [-2.0]])
    freqs, psd = periodogram(x, fs=30.0, nfft=256, window=window)
    ref_f, ref_p = scipy.signal.periodogram(x, fs=30.0, window=window, nfft=256, detrend="constant", axis=-1)
    np.testing.assert_allclose(freqs, ref_f, rtol=1e-12)
    np.testing.assert_allclose(psd, ref_p, rtol=1e-9, atol=1e-15)
    assert psd.shape == (3, 129) and psd.dtype == np.float64


def test_periodogram_parseval_boxcar_gives_variance():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(500)
    for nfft in (500, 1024):
        _, psd = periodogram(x, fs=25.0, nfft=nfft, window="boxcar")
        assert psd.sum() * 25.0 / nfft == pytest.approx(np.var(x), rel=1e-10)


def test_periodogram_torch_input_returns_numpy_equal_values():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 64))
    f_np, p_np = periodogram(x, fs=30.0)
    f_t, p_t = periodogram(torch.from_numpy(x), fs=30.0)
    assert isinstance(p_t, np.ndarray)
    np.testing.assert_array_equal(p_np, p_t)
    np.testing.assert_array_equal(f_np, f_t)


def test_periodogram_rejects_short_nfft():
    with pytest.raises(ValueError, match="nfft=32 is shorter than the signal"):
        periodogram(np.ones(64), fs=30.0, nfft=32)


@pytest.mark.parametrize("n, expected",
                         [(0, 1), (1, 1), (2, 2), (3, 4), (1000, 1024), (1024, 1024), (1025, 2048)])
def test_next_pow2(n, expected):
    assert next_pow2(n) == expected


@pytest.mark.parametrize("n, fs", [(600, 30.0), (500, 25.0), (4000, 60.0), (70000, 30.0), (37, 7.5)])
def test_default_nfft_is_smallest_pow2_meeting_length_and_grid(n, fs):
    nfft = choose_nfft(n, fs)
    assert nfft & (nfft - 1) == 0
    assert nfft >= n and 60.0 * fs / nfft <= 0.1
    half = nfft // 2
    assert half < n or 60.0 * fs / half > 0.1


def test_band_mask_and_empty_band_error():
    freqs = np.arange(11) * 0.5
    np.testing.assert_array_equal(np.flatnonzero(band_mask(freqs, 1.0, 2.5)), [2, 3, 4, 5])
    with pytest.raises(ValueError, match="no frequency bin lies in the band"):
        band_mask(freqs, 1.1, 1.4)


def _previous_periodogram(x, fs, nfft, window, remove_mean):
    """The FFT written out by hand that sspd.signal computed before it called scipy (kept as a pin)."""
    rows = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if remove_mean:
        rows = rows - rows.mean(axis=1, keepdims=True)
    taper = scipy.signal.get_window(window, rows.shape[1])
    psd = np.abs(np.fft.rfft(rows * taper, n=nfft, axis=1)) ** 2 / (fs * np.sum(taper ** 2))
    psd[:, 1:-1 if nfft % 2 == 0 else None] *= 2.0
    return np.fft.rfftfreq(nfft, d=1.0 / fs), psd


@pytest.mark.parametrize("n, nfft, window, remove_mean",
                         [(100, 100, "hann", True), (101, 256, "boxcar", False), (300, 1024, "hamming", True),
                          (37, 81, "hann", False)])
def test_periodogram_is_scipys_and_keeps_the_previous_values(n, nfft, window, remove_mean):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, n)) + 2.0  # an offset, so remove_mean matters
    freqs, psd = periodogram(x, fs=30.0, nfft=None if nfft == n else nfft, window=window,
                             remove_mean=remove_mean)
    ref_f, ref_p = scipy.signal.periodogram(x, fs=30.0, window=window, nfft=nfft,
                                            detrend="constant" if remove_mean else False)
    np.testing.assert_array_equal(freqs, ref_f)
    np.testing.assert_array_equal(psd, ref_p)
    old_f, old_p = _previous_periodogram(x, 30.0, nfft, window, remove_mean)
    np.testing.assert_allclose(freqs, old_f, rtol=1e-15)
    np.testing.assert_allclose(psd, old_p, rtol=1e-12, atol=1e-15 * old_p.max())


def test_band_mask_is_one_rule_for_numpy_and_torch():
    import sspd.losses

    assert sspd.losses.band_mask is band_mask
    freqs = np.arange(11) * 0.5  # 0, 0.5, ..., 5 Hz
    for low, high in [(1.0, 2.5), (0.9, 2.6), (0.0, 5.0), (4.5, 7.0)]:
        from_numpy = band_mask(freqs, low, high)
        from_torch = band_mask(torch.from_numpy(freqs), low, high)
        assert isinstance(from_torch, torch.Tensor) and from_torch.dtype == torch.bool
        np.testing.assert_array_equal(from_numpy, from_torch.numpy())
    np.testing.assert_array_equal(np.flatnonzero(band_mask(freqs, 1.0, 2.5)), [2, 3, 4, 5])  # edges inclusive
    for bad in (freqs, torch.from_numpy(freqs)):
        with pytest.raises(ValueError, match=r"no frequency bin lies in the band \[1.1, 1.4\] Hz"):
            band_mask(bad, 1.1, 1.4)
        with pytest.raises(ValueError, match="low < high"):
            band_mask(bad, 2.0, 1.0)
