import math

import numpy as np
import pytest
import torch

from sspd.signal import detrend, detrend_cutoff_hz, choose_detrend_lambda


def _dense_detrend(x, lam):
    """Independent reference: build D2 entry by entry and use the dense inverse (Tarvainen eq. 6)."""
    n = len(x)
    d2 = np.zeros((n - 2, n))
    for i in range(n - 2):
        d2[i, i], d2[i, i + 1], d2[i, i + 2] = 1.0, -2.0, 1.0
    system = np.eye(n) + lam ** 2 * d2.T @ d2
    return (np.eye(n) - np.linalg.inv(system)) @ x


@pytest.mark.parametrize("n", [3, 4, 5, 40])
@pytest.mark.parametrize("lam", [0.5, 10.0, 100.0])
def test_detrend_matches_dense_reference(n, lam):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((2, n)) + np.linspace(0, 5, n) ** 2
    out = detrend(x, lam)
    for i in range(2):
        np.testing.assert_allclose(out[i], _dense_detrend(x[i], lam), rtol=1e-7, atol=1e-9)


def test_detrend_removes_straight_lines_and_keeps_shape():
    n = 500
    line = 3.0 - 0.02 * np.arange(n)
    np.testing.assert_allclose(detrend(line, 100.0), 0.0, atol=1e-8)
    out = detrend(torch.from_numpy(np.stack([line, 2 * line])), 100.0)
    assert isinstance(out, np.ndarray) and out.shape == (2, n)
    np.testing.assert_allclose(out, 0.0, atol=1e-8)


@pytest.mark.parametrize("fs, cutoff", [(30.0, 0.3), (60.0, 0.5), (25.0, 0.2)])
def test_detrend_halves_a_tone_at_its_cutoff(fs, cutoff):
    lam = choose_detrend_lambda(cutoff, fs)
    assert detrend_cutoff_hz(lam, fs) == pytest.approx(cutoff, rel=1e-12)
    t = np.arange(int(200 * fs)) / fs
    for freq in (cutoff, 4 * cutoff):
        x = np.sin(2 * np.pi * freq * t + 0.3)
        y = detrend(x, lam)
        # analytic trend gain g = 1 / (1 + 16 λ² sin⁴(π f / fs)); the output keeps 1 - g, in phase
        keep = 1.0 - 1.0 / (1.0 + 16 * lam ** 2 * math.sin(math.pi * freq / fs) ** 4)
        mid = slice(len(t) // 4, 3 * len(t) // 4)
        np.testing.assert_allclose(y[mid], keep * x[mid], atol=2e-3)
    assert 1.0 - 1.0 / (1.0 + 16 * lam ** 2 * math.sin(math.pi * cutoff / fs) ** 4) == pytest.approx(0.5)


def test_toolbox_lambda_convention_cutoff_at_30_hz():
    # λ = 100 used as λ² D2ᵀD2: half-gain where 16·10⁴·sin⁴(πf/30) = 1
    expected = 30.0 / math.pi * math.asin(0.05)
    assert detrend_cutoff_hz(100.0, 30.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.4777, abs=1e-4)


def test_detrend_long_signal_uses_banded_solve():
    # a dense inverse of this size would need ~320 GB; the banded solve is linear in T
    n = 200_000
    t = np.arange(n) / 30.0
    x = np.sin(2 * np.pi * 1.2 * t) + 0.01 * t
    y = detrend(x, 100.0)
    mid = slice(1000, n - 1000)
    keep = 1.0 - 1.0 / (1.0 + 16e4 * math.sin(math.pi * 1.2 / 30.0) ** 4)
    np.testing.assert_allclose(y[mid], keep * np.sin(2 * np.pi * 1.2 * t[mid]), atol=1e-3)


def test_detrend_errors():
    with pytest.raises(ValueError, match="at least 3 samples"):
        detrend(np.array([1.0, 2.0]), 10.0)
    for lam in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="lam must be a finite smoothing parameter > 0"):
            detrend(np.ones(10), lam)
    with pytest.raises(ValueError, match="NaN/inf"):
        detrend(np.array([1.0, np.nan, 2.0, 3.0]), 10.0)
    with pytest.raises(ValueError, match="cutoff_hz must lie in"):
        choose_detrend_lambda(20.0, 30.0)
