"""HRV: figures against hand-computed values, minimum spans, flagged intervals, LF/HF, and beats found
on a synthetic pulse whose beat times are known."""
import numpy as np
import pytest

from sspd.data.synthetic import simulate_pulse
from sspd.signal import bandpass, detect_beats, hrv_from_intervals, inter_beat_intervals
from sspd.signal.hrv import MIN_DURATION_S


def _beats(ibis_ms, start_s=0.0):
    return start_s + np.concatenate([[0.0], np.cumsum(ibis_ms) / 1e3])


def test_sdnn_rmssd_pnn50_match_hand_computed_values():
    # IBIs 800, 860, 780, 840 ms repeated: 80 intervals, 65.6 s of beats.
    # mean 820; deviations -20, 40, -40, 20 → Σ dev² = 20 · 4000 = 80000 → SDNN = sqrt(80000 / 79) = 31.823.
    # successive differences 60, -80, 60, -40, ... (79 of them: 19 cycles + 60, -80, 60):
    # Σ d² = 19 · 15200 + 13600 = 302400 → RMSSD = sqrt(302400 / 79) = 61.870;
    # |d| > 50: 19 · 3 + 3 = 60 of 79 → pNN50 = 75.95 %.
    series = inter_beat_intervals(_beats([800, 860, 780, 840] * 20))
    assert series.valid.all() and series.ibi_s.size == 80
    hrv = hrv_from_intervals(series)
    assert hrv.mean_ibi_ms == pytest.approx(820.0)
    assert hrv.sdnn_ms == pytest.approx(31.823, abs=1e-3)
    assert hrv.rmssd_ms == pytest.approx(61.870, abs=1e-3)
    assert hrv.pnn50 == pytest.approx(75.949, abs=1e-3)
    assert hrv.lf_hf is None and "120 s" in hrv.reasons["lf_hf"]  # 65.6 s of beats: too short for LF/HF


def test_each_figure_needs_its_minimum_span_and_says_so():
    hrv = hrv_from_intervals(inter_beat_intervals(_beats([800, 850] * 25)))  # 41.25 s of beats
    assert hrv.duration_s == pytest.approx(41.25)
    assert hrv.rmssd_ms == pytest.approx(50.0)  # every successive difference is ±50 ms
    assert hrv.sdnn_ms is None and hrv.pnn50 is None and hrv.lf_hf is None
    assert "41.2 s" in hrv.reasons["sdnn_ms"] and "60 s" in hrv.reasons["sdnn_ms"]
    short = hrv_from_intervals(inter_beat_intervals(_beats([800] * 20)))  # 16 s
    assert short.rmssd_ms is None and f"{MIN_DURATION_S['rmssd_ms']:g} s" in short.reasons["rmssd_ms"]
    assert hrv_from_intervals(inter_beat_intervals([1.0])).n_intervals == 0


def test_a_missed_beat_is_flagged_and_left_out_of_the_figures():
    beats = _beats([800, 860, 780, 840] * 20)
    missed = np.delete(beats, 40)  # interval 39 becomes 780 + 800... one long interval
    series = inter_beat_intervals(missed)
    assert np.flatnonzero(~series.valid).tolist() == [39]
    assert series.ibi_s[39] == pytest.approx(1.64)
    hrv = hrv_from_intervals(series)
    assert hrv.n_valid == 78 and hrv.mean_ibi_ms == pytest.approx(820.0, abs=1.0)
    assert hrv.sdnn_ms == pytest.approx(31.8, abs=0.5)


def test_mostly_invalid_intervals_give_no_figures():
    rng = np.random.default_rng(0)
    beats = np.cumsum(rng.uniform(0.3, 1.5, 120))  # no rhythm at all
    hrv = hrv_from_intervals(inter_beat_intervals(beats))
    assert hrv.sdnn_ms is None and hrv.rmssd_ms is None and "not reliable" in hrv.reasons["rmssd_ms"]


@pytest.mark.parametrize("mod_hz, low_over_high", [(0.1, True), (0.3, False)])
def test_lf_hf_follows_the_modulation_frequency(mod_hz, low_over_high):
    times = [0.0]
    while times[-1] < 300.0:  # IBI = 800 ms ± 30 ms, modulated at mod_hz
        times.append(times[-1] + 0.8 + 0.03 * np.sin(2 * np.pi * mod_hz * times[-1]))
    hrv = hrv_from_intervals(inter_beat_intervals(times), window_s=200.0)
    assert hrv.duration_s == pytest.approx(200.0, abs=1.0)
    assert (hrv.lf_hf > 10.0) if low_over_high else (hrv.lf_hf < 0.1)


def _matched(found, truth):
    """The found beat nearest each true beat, and the delay of the found beats (their median offset)."""
    nearest = found[np.argmin(np.abs(found[:, None] - truth[None, :]), axis=0)]  # (P,)
    return nearest, np.median(nearest - truth)


@pytest.mark.parametrize("seed, hr", [(0, 58.0), (1, 75.0), (2, 110.0)])
def test_beats_of_a_synthetic_pulse_are_found_at_the_known_times(seed, hr):
    trace = simulate_pulse(60.0, 30.0, hr, np.random.default_rng(seed), beat_jitter=0.03,
                           dicrotic_ratio=(0.5, 0.5))
    truth = trace.model.beat_times(1.0, 59.0)  # the filter's edges aside
    truth_hrv = hrv_from_intervals(inter_beat_intervals(truth))
    # default band (0.6-1.6 x HR): the fundamental's peak, a fixed delay after the systolic peak
    found = detect_beats(trace.ppg, 30.0)
    assert found.size <= truth.size + 2  # no dicrotic wave counted as a beat
    nearest, delay = _matched(found, truth)
    assert 0.0 < delay < 0.2 * 60.0 / hr
    assert np.max(np.abs(nearest - truth - delay)) < 0.05  # every true beat found, within 1.5 frames
    assert np.mean(np.abs(np.diff(nearest) - np.diff(truth))) < 0.025
    # the narrow band smooths the fastest beat-to-beat changes: RMSSD comes out low on a clean pulse
    assert 0.4 * truth_hrv.rmssd_ms < hrv_from_intervals(inter_beat_intervals(found)).rmssd_ms < truth_hrv.rmssd_ms
    # a wide band keeps them, and the systolic peak (for clean signals)
    wide = detect_beats(trace.ppg, 30.0, band=(0.5, 6.0))
    nearest, delay = _matched(wide, truth)
    assert abs(delay) < 0.02
    assert np.mean(np.abs(np.diff(nearest) - np.diff(truth))) < 0.008  # IBI MAE under 8 ms at 30 fps
    assert hrv_from_intervals(inter_beat_intervals(wide)).rmssd_ms == pytest.approx(truth_hrv.rmssd_ms, rel=0.15)


def test_noise_in_the_band_moves_the_beats_more_than_a_clean_pulse():
    trace = simulate_pulse(60.0, 30.0, 70.0, np.random.default_rng(4), beat_jitter=0.03)
    truth = trace.model.beat_times(1.0, 59.0)
    noise = bandpass(np.random.default_rng(5).standard_normal(trace.ppg.size), 30.0, 0.75, 2.5)
    errors = []
    for scale in (0.0, 0.5):
        found = detect_beats(trace.ppg + scale * noise / noise.std(), 30.0)
        nearest = found[np.argmin(np.abs(found[:, None] - truth[None, :]), axis=0)]
        ibi_error = np.abs(np.diff(nearest) - np.diff(truth))
        errors.append(np.median(ibi_error))
    assert errors[0] < 0.02 and errors[1] > 2.0 * errors[0]


def test_detect_beats_rejects_a_batch():
    with pytest.raises(ValueError, match="one signal"):
        detect_beats(np.zeros((2, 300)), 30.0)
