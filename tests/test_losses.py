import math

import pytest
import torch

from sspd.losses import band_mask, magnitude_spectrum, neg_pearson, power_spectrum, rfft_freqs


def _pearson_loop(a, b):
    """Independent reference: Pearson r of two 1-D float64 lists."""
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va = math.sqrt(sum((x - ma) ** 2 for x in a))
    vb = math.sqrt(sum((y - mb) ** 2 for y in b))
    return cov / (va * vb)


def test_neg_pearson_matches_loop_reference_per_row():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 50, generator=g), torch.randn(4, 50, generator=g)
    per_row = neg_pearson(a, b, reduction="none")
    expected = torch.tensor([1 - _pearson_loop(a[i].tolist(), b[i].tolist()) for i in range(4)])
    torch.testing.assert_close(per_row, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(neg_pearson(a, b), expected.mean(), atol=1e-5, rtol=0)


def test_neg_pearson_invariant_to_affine_scaling():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 64, generator=g), torch.randn(3, 64, generator=g)
    base = neg_pearson(a, b, reduction="none")
    torch.testing.assert_close(neg_pearson(3.5 * a - 2.0, 0.25 * b + 7.0, reduction="none"), base,
                               atol=1e-5, rtol=0)
    # a negative gain flips the sign of r: loss becomes 2 - loss
    torch.testing.assert_close(neg_pearson(-a, b, reduction="none"), 2 - base, atol=1e-5, rtol=0)


def test_neg_pearson_constant_row_is_finite_and_rows_broadcast():
    x = torch.zeros(2, 5, 30)
    y = torch.randn(2, 5, 30)
    loss = neg_pearson(x, y, reduction="none")
    assert loss.shape == (2, 5)
    torch.testing.assert_close(loss, torch.ones(2, 5))


def test_neg_pearson_errors():
    with pytest.raises(ValueError, match="differ"):
        neg_pearson(torch.zeros(2, 10), torch.zeros(2, 11))
    with pytest.raises(ValueError, match="reduction"):
        neg_pearson(torch.randn(2, 10), torch.randn(2, 10), reduction="avg")


@pytest.mark.parametrize("fs", [25.0, 30.0, 60.0])
def test_spectrum_peak_at_tone_frequency_for_any_fs(fs):
    n = int(10 * fs)
    t = torch.arange(n) / fs
    x = torch.sin(2 * math.pi * 1.5 * t).unsqueeze(0)
    freqs, mag = magnitude_spectrum(x, fs)
    assert mag.dtype == torch.float32 and mag.shape == (1, n // 2 + 1)
    assert abs(float(freqs[mag[0].argmax()]) - 1.5) < 1e-4
    _, psd = power_spectrum(x, fs)
    torch.testing.assert_close(psd, mag.square())


def test_spectrum_is_float32_under_autocast():
    x = torch.randn(2, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, mag = magnitude_spectrum(x * 1.0, 30.0)
    assert mag.dtype == torch.float32


def test_band_mask_and_errors():
    freqs = rfft_freqs(300, 30.0)
    mask = band_mask(freqs, 0.5, 3.0)
    assert float(freqs[mask].min()) >= 0.5 and float(freqs[mask].max()) <= 3.0
    assert int(mask.sum()) == 26  # 0.5..3.0 Hz every 0.1 Hz
    with pytest.raises(ValueError, match="no frequency bin"):
        band_mask(rfft_freqs(4, 30.0), 0.5, 3.0)
    with pytest.raises(ValueError, match="fs must be a finite sample rate > 0 Hz"):
        rfft_freqs(10, 0.0)
    with pytest.raises(ValueError, match="NaN"):
        magnitude_spectrum(torch.tensor([[1.0, float("nan"), 0.0]]), 30.0)
