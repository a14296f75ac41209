"""prepare_pulse: sspd's detrend + band-pass before an HR, shared by eval and infer."""
import numpy as np
import pytest

from sspd.signal import estimate_hr, prepare_pulse


def _pulse_on_a_drift(fs: float = 30.0, seconds: float = 20.0, hz: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(fs * seconds)) / fs
    return np.sin(2 * np.pi * hz * t), 3.0 * t / seconds + 0.8 * np.sin(2 * np.pi * 0.1 * t)


def test_removes_the_drift_and_keeps_the_in_band_pulse():
    pulse, drift = _pulse_on_a_drift()
    out = prepare_pulse((pulse + drift)[None], 30.0, (0.75, 2.5))  # (1, T)
    assert out.shape == (1, pulse.size)
    middle = slice(60, -60)  # away from the filter's edges
    assert np.corrcoef(out[0, middle], pulse[middle])[0, 1] > 0.99
    assert estimate_hr(out, 30.0) == pytest.approx(72.0, abs=0.5)


def test_differences_are_integrated_first():
    pulse, _ = _pulse_on_a_drift()
    from_diff = prepare_pulse(np.diff(pulse, prepend=0.0)[None], 30.0, (0.75, 2.5), is_diff=True)
    np.testing.assert_allclose(from_diff, prepare_pulse(pulse[None], 30.0, (0.75, 2.5)), atol=1e-9)
