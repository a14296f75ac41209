"""The synthetic pulse model: exact phase, HR statistics, spectrum, determinism, errors."""
import numpy as np
import pytest

from sspd.data.synthetic import SyntheticConfig, draw_pulse_model, simulate_pulse
from sspd.data.synthetic.curves import SmoothCurve


def _peak_bpm(x: np.ndarray, fs: float, band_hz=(0.6, 3.0)) -> float:
    """Slow reference: periodogram peak of a Hann-tapered, heavily zero-padded signal, in bpm."""
    x = x - x.mean()
    nfft = 1 << 18
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)), nfft)) ** 2
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    band = (freqs > band_hz[0]) & (freqs < band_hz[1])
    return 60.0 * freqs[band][np.argmax(power[band])]


def test_same_generator_state_gives_the_same_pulse_and_another_seed_does_not():
    a = simulate_pulse(8.0, 30.0, None, np.random.default_rng(7))
    b = simulate_pulse(8.0, 30.0, None, np.random.default_rng(7))
    c = simulate_pulse(8.0, 30.0, None, np.random.default_rng(8))
    np.testing.assert_array_equal(a.ppg, b.ppg)
    np.testing.assert_array_equal(a.hr, b.hr)
    assert not np.allclose(a.ppg, c.ppg)
    assert len(a.ppg) == len(a.hr) == len(a.times) == 240
    np.testing.assert_allclose(a.times, np.arange(240) / 30.0)


def test_phase_is_the_integral_of_the_instantaneous_heart_rate():
    model = draw_pulse_model(np.random.default_rng(3), hr_drift=0.05)
    fine = np.linspace(0.0, 40.0, 400_001)
    beats = model.hr(fine) / 60.0  # Hz
    cumulative = np.concatenate([[0.0], np.cumsum((beats[1:] + beats[:-1]) / 2 * np.diff(fine))])  # trapezoid
    expected = model.phase0 + 2 * np.pi * cumulative
    np.testing.assert_allclose(model.phase(fine[::1000]), expected[::1000], atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_heart_rate_varies_by_breathing_and_drift_around_a_drawn_mean(seed):
    trace = simulate_pulse(60.0, 20.0, None, np.random.default_rng(seed), hr_drift=0.02)
    hr0 = trace.model.hr_bpm
    assert 45.0 <= hr0 <= 150.0
    relative = trace.hr / hr0 - 1.0
    # breathing <= 5 %; drift: 3 sinusoids anchored at 0, so |d| <= 2·Σ|a_k| <= 2·sqrt(3)·sqrt(2)·std
    assert np.abs(relative).max() <= 0.05 + 2 * np.sqrt(6) * 0.02 + 1e-9
    assert np.ptp(relative) >= 0.05  # breathing alone swings 6-10 % peak to peak over 60 s
    assert abs(trace.mean_hr - hr0) <= 0.12 * hr0


@pytest.mark.parametrize("seed", range(5))
def test_spectral_peak_of_the_pulse_is_at_its_mean_heart_rate(seed):
    # Without drift HR(t) is a sinusoidal FM of the mean: the carrier is the mean HR exactly.
    trace = simulate_pulse(60.0, 25.0, None, np.random.default_rng(seed), hr_drift=0.0)
    assert _peak_bpm(trace.ppg, 25.0) == pytest.approx(trace.mean_hr, abs=0.5)
    # With drift the peak lies within the range the HR visited.
    drifting = simulate_pulse(60.0, 25.0, None, np.random.default_rng(seed))
    assert drifting.hr.min() - 0.5 <= _peak_bpm(drifting.ppg, 25.0) <= drifting.hr.max() + 0.5


def test_waveform_has_unit_variance_and_a_dicrotic_second_harmonic_of_the_drawn_ratio():
    model = draw_pulse_model(np.random.default_rng(11), hr_bpm=72.0, respiration_depth=(0.0, 0.0),
                             hr_drift=0.0, dicrotic_ratio=(0.4, 0.4))
    fs, seconds = 50.0, 50.0  # exactly 60 beats: whole periods, no leakage
    t = np.arange(int(fs * seconds)) / fs
    p = model(t)
    assert p.mean() == pytest.approx(0.0, abs=1e-9)
    assert p.std() == pytest.approx(1.0, abs=1e-9)
    spectrum = np.abs(np.fft.rfft(p)) / len(p) * 2  # amplitude of each harmonic
    fundamental, second = spectrum[60], spectrum[120]  # 1.2 Hz and 2.4 Hz bins
    assert second / fundamental == pytest.approx(0.4, rel=1e-6)
    # a systolic peak with a shoulder: the beat rises in well under half of the cycle
    beat = p[: int(fs / 1.2)]
    rise = (np.argmax(beat) - np.argmin(beat)) % len(beat)
    assert rise < 0.45 * len(beat)


def test_fixed_heart_rate_is_used_and_every_draw_is_still_made():
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    fixed = draw_pulse_model(rng_a, hr_bpm=60.0)
    drawn = draw_pulse_model(rng_b)
    assert fixed.hr_bpm == 60.0 and drawn.hr_bpm != 60.0
    assert fixed.dicrotic_ratio == drawn.dicrotic_ratio  # later draws not shifted by the override


def test_smooth_curve_integral_matches_numerical_integration():
    curve = SmoothCurve.draw(np.random.default_rng(2), std=0.3, band_hz=(0.05, 2.0), anchored=True)
    t = np.linspace(0, 12, 120_001)
    values = curve(t)
    assert values[0] == pytest.approx(0.0, abs=1e-12)
    numeric = np.concatenate([[0.0], np.cumsum((values[1:] + values[:-1]) / 2 * np.diff(t))])
    np.testing.assert_allclose(curve.integral(t[::500]), numeric[::500], atol=1e-7)
    long = SmoothCurve.draw(np.random.default_rng(2), std=0.3, band_hz=(0.5, 2.0), n_components=8)
    assert long(np.linspace(0, 2000, 200_000)).std() == pytest.approx(0.3, rel=0.1)


def test_pulse_errors_say_what_is_wrong():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="fs"):
        simulate_pulse(10.0, 0.0, None, rng)
    with pytest.raises(ValueError, match="at least 2"):
        simulate_pulse(0.01, 30.0, None, rng)
    with pytest.raises(ValueError, match="20-240"):
        simulate_pulse(10.0, 30.0, 400.0, rng)
    with pytest.raises(ValueError, match="band_hz"):
        SmoothCurve.draw(rng, std=1.0, band_hz=(0.0, 1.0))


def test_config_rejects_bad_knobs_with_the_knob_named():
    with pytest.raises(ValueError, match="framing"):
        SyntheticConfig(framing="portrait")
    with pytest.raises(ValueError, match="skin_tone"):
        SyntheticConfig(skin_tone="green")
    with pytest.raises(ValueError, match="hr_bpm"):
        SyntheticConfig(hr_bpm=(150.0, 45.0))
    with pytest.raises(ValueError, match="pulse_amplitude"):
        SyntheticConfig(pulse_amplitude=(0.1, 0.2))
    with pytest.raises(ValueError, match="noise_std"):
        SyntheticConfig(noise_std=-1.0)
    with pytest.raises(ValueError, match="unknown option"):
        SyntheticConfig.from_dict({"hr": 70})
    with pytest.raises(ValueError, match=">= 0"):
        SyntheticConfig().scale_nuisances(motion=-1.0)


def test_config_round_trips_through_a_dict_and_scales_nuisances():
    cfg = SyntheticConfig(flicker_hz=1.5, skin_tone="dark")
    assert SyntheticConfig.from_dict(cfg.to_dict()) == cfg
    doubled = cfg.scale_nuisances(motion=2.0, illumination=0.0)
    assert doubled.motion_translation == pytest.approx(2 * cfg.motion_translation)
    assert doubled.motion_rotation_deg == pytest.approx(2 * cfg.motion_rotation_deg)
    assert doubled.illumination_drift == 0.0 and doubled.flicker_amplitude == 0.0
    assert SyntheticConfig().resolved_face_height == 0.5
    assert SyntheticConfig(framing="crop").resolved_face_height == 0.8
