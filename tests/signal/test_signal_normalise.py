"""sspd.signal.zscore: one z-score for stitching, plotting and the checkpoint predictor."""
import numpy as np
import pytest

from sspd.signal import zscore


def test_rows_have_zero_mean_and_unit_std_along_the_axis():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 5.0, size=(4, 200))
    z = zscore(x)
    np.testing.assert_allclose(z.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(z[2], (x[2] - x[2].mean()) / x[2].std(), rtol=1e-12)
    np.testing.assert_allclose(zscore(x.T, axis=0), z.T, rtol=1e-12)


def test_a_constant_row_becomes_zeros_not_nan():
    x = np.stack([np.full(10, 7.0), np.arange(10.0)])
    z = zscore(x)
    assert np.array_equal(z[0], np.zeros(10))
    assert np.isfinite(z).all() and z[1].std() == pytest.approx(1.0)


def test_dtype_and_input_are_kept():
    x32 = np.arange(8, dtype=np.float32)
    before = x32.copy()
    assert zscore(x32).dtype == np.float32
    assert np.array_equal(x32, before)
    assert zscore([1, 2, 3]).dtype == np.float64
    np.testing.assert_allclose(zscore([1, 2, 3]), [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
