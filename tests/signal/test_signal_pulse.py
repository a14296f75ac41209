"""prepare_pulse: sspd's detrend + band-pass before an HR, shared by eval and infer; integrate: a difference's pulse."""
import numpy as np
import pytest

from sspd.signal import estimate_hr, integrate, prepare_pulse


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


@pytest.mark.parametrize("bpm, band", [(41.0, (0.667, 3.0)), (46.0, (0.75, 2.5)), (170.0, (0.667, 3.0))])
def test_a_pulse_near_an_edge_of_the_band_keeps_its_rate_against_its_harmonic(bpm, band):
    """A pulse whose second harmonic has 0.75 of its amplitude (a dicrotic waveform) reads its own rate at
    either edge of the search band: the band-pass must not halve the fundamental there (it read 2x when
    the filter's edges were the band's; the 170 bpm case checks the top edge against a sub-harmonic)."""
    fs, t = 30.0, np.arange(300) / 30.0
    f0 = bpm / 60.0
    x = np.sin(2 * np.pi * f0 * t) + 0.75 * np.sin(2 * np.pi * 2 * f0 * t + 0.5)
    if bpm > 150:  # at the top edge the competitor is a sub-harmonic-like slow component
        x = np.sin(2 * np.pi * f0 * t) + 0.75 * np.sin(2 * np.pi * f0 / 2 * t + 0.5)
    assert estimate_hr(prepare_pulse(x[None], fs, band), fs, band=band)[0] == pytest.approx(bpm, abs=1.0)


def test_the_filter_band_is_wider_than_the_search_band_and_below_nyquist():
    from sspd.signal.pulse import BANDPASS_MARGIN, filter_band

    low, high = filter_band((0.75, 2.5), 30.0)
    assert low == pytest.approx(0.75 * BANDPASS_MARGIN) and high == pytest.approx(2.5 / BANDPASS_MARGIN)
    assert filter_band((0.75, 2.5), 6.0) == (pytest.approx(0.75 * BANDPASS_MARGIN), pytest.approx(0.49 * 6.0))
    assert filter_band((0.75, 2.95), 6.0)[1] == 2.95   # a band already above 0.49 fs keeps its own top


def test_integrate_removes_the_mean_so_an_offset_makes_no_ramp():
    """A difference with a constant offset (a network's bias): integrated, the pulse comes back, along
    any axis; a plain cumulative sum carries a ramp that swamps it."""
    t = np.arange(300) / 30.0
    pulse = np.sin(2 * np.pi * 1.2 * t)
    diff = np.diff(pulse, prepend=0.0) + 0.3  # offset 0.3 per frame, the pulse's steps are <= 0.25
    assert np.corrcoef(integrate(diff), pulse)[0, 1] > 0.99
    assert abs(np.corrcoef(np.cumsum(diff), pulse)[0, 1]) < 0.2
    rows = np.stack([diff, 2.0 * diff])
    np.testing.assert_allclose(integrate(rows.T, axis=0).T, integrate(rows, axis=1), atol=1e-12)
    np.testing.assert_allclose(integrate(rows)[1], 2.0 * integrate(diff), atol=1e-9)
