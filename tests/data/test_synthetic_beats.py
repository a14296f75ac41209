"""Beat-to-beat variability of the synthetic pulse: off by default, known beat times when on."""
import json

import numpy as np
import pytest

from sspd.data.synthetic import SyntheticConfig, draw_pulse_model, generate_dataset, open_synthetic, simulate_pulse
from sspd.data.synthetic.scene import draw_pulse


def test_off_by_default_and_switching_it_on_changes_no_other_draw():
    assert SyntheticConfig().beat_jitter == 0.0
    smooth, amplitude = draw_pulse(5, SyntheticConfig())
    beating, amplitude_on = draw_pulse(5, SyntheticConfig(beat_jitter=0.03))
    assert smooth.beats is None and beating.beats is not None
    assert amplitude_on == amplitude and beating.hr_bpm == smooth.hr_bpm
    assert beating.dicrotic_ratio == smooth.dicrotic_ratio
    np.testing.assert_array_equal(beating.respiration.freqs, smooth.respiration.freqs)
    t = np.linspace(0.0, 20.0, 601)
    np.testing.assert_allclose(beating.smooth_hr(t), smooth.hr(t))  # the rate the beats vary around
    assert not np.allclose(beating(t), smooth(t))
    with pytest.raises(ValueError, match="beat_jitter > 0"):
        smooth.beat_times(0.0, 10.0)


@pytest.mark.parametrize("seed", range(3))
def test_intervals_follow_the_heart_rate_with_the_drawn_jitter(seed):
    model = draw_pulse_model(np.random.default_rng(seed), hr_bpm=70.0, hr_drift=0.0, beat_jitter=0.03)
    beats = model.beat_times(0.0, 300.0)
    ibi = np.diff(beats)  # (P-1,)
    expected = 60.0 / model.smooth_hr(beats[:-1])  # the interval the smooth rate asks for at each beat
    assert np.mean(ibi) == pytest.approx(60.0 / 70.0, rel=0.02)  # mean IBI matches the HR
    assert np.std(ibi / expected - 1.0) == pytest.approx(0.03, rel=0.2)  # the random component
    t = np.linspace(0.0, 300.0, 30001)
    assert np.mean(ibi) == pytest.approx(60.0 / np.mean(model.hr(t)), rel=0.01)


def test_the_systolic_peak_is_at_each_beat_and_the_phase_is_continuous():
    model = draw_pulse_model(np.random.default_rng(4), hr_bpm=65.0, beat_jitter=0.05)
    beats = model.beat_times(0.0, 30.0)
    peak = model(beats)
    np.testing.assert_allclose(peak, peak.max(), rtol=1e-6)  # every beat is at the waveform's maximum
    for shift in (-0.01, 0.01):
        assert np.all(model(beats + shift) < peak)
    fine = np.linspace(-0.5, 30.0, 300001)
    assert np.all(np.diff(model.phase(fine)) > 0)
    assert np.max(np.abs(np.diff(model(fine)))) < 0.01  # no jump in the waveform


def test_beats_are_the_same_whatever_order_they_are_asked_for():
    a = draw_pulse_model(np.random.default_rng(9), beat_jitter=0.03, beat_seed=1)
    b = draw_pulse_model(np.random.default_rng(9), beat_jitter=0.03, beat_seed=1)
    late = a.beat_times(100.0, 120.0)
    b.phase(np.linspace(0.0, 10.0, 50))  # b generates its beats in another order
    np.testing.assert_array_equal(b.beat_times(100.0, 120.0), late)
    trace = simulate_pulse(10.0, 30.0, 60.0, np.random.default_rng(2), beat_jitter=0.03)
    np.testing.assert_allclose(trace.hr, 60.0 / np.diff(trace.model.beat_times(-5, 15))[
        np.searchsorted(trace.model.beat_times(-5, 15), trace.times, side="right") - 1])


def test_beat_times_are_recorded_on_the_fly_and_in_the_written_sidecar(tmp_path):
    config = SyntheticConfig(beat_jitter=0.03, framing="crop")
    record = open_synthetic(None, subjects=1, seconds=4.0, fps=30.0, size=32, seed=3, config=config)[0]
    beats = np.asarray(record.metadata["beat_times_s"])
    pulse, _ = draw_pulse(np.random.SeedSequence(3, spawn_key=(1,)), config)
    np.testing.assert_array_equal(beats, pulse.beat_times(0.0, 4.0))
    assert beats.size >= 2 and np.all((beats >= 0) & (beats <= 4.0))
    info = generate_dataset(tmp_path / "d", subjects=1, seconds=4.0, fps=30.0, size=32, seed=3, config=config)[0]
    sidecar = json.loads((tmp_path / "d" / "subject1" / "synthetic.json").read_text())
    np.testing.assert_allclose(sidecar["beat_times_s"], beats, atol=1e-6)
    assert info["config"]["beat_jitter"] == 0.03
    plain = open_synthetic(None, subjects=1, seconds=4.0, fps=30.0, size=32, seed=3)[0]
    assert "beat_times_s" not in plain.metadata


def test_an_implausible_jitter_is_refused():
    with pytest.raises(ValueError, match="beat_jitter"):
        SyntheticConfig(beat_jitter=0.5)
