import numpy as np
import pytest
import torch

from sspd.signal import estimate_hr, periodogram, find_spectral_peak_hz

FS_VALUES = [25.0, 30.0, 35.0, 60.0]
# non-integer rates, away from the 0.75-2.5 Hz band edges (45 / 150 bpm)
BPM = np.array([55.55, 63.7, 72.35, 81.9, 97.25, 108.4, 121.6, 139.3])
TOLERANCE_BPM = {"fft": 0.2, "welch": 1.0, "peaks": 1.0}


def _pulses(fs, bpm, seconds=20.0, harmonic=0.0, phase=0.9):
    """(B, T) sinusoids, or two-harmonic pulses sin θ + a·sin(2θ + φ), at the given rates."""
    t = np.arange(int(round(seconds * fs))) / fs
    theta = 2 * np.pi * (bpm[:, None] / 60.0) * t + 0.7  # (B, T)
    return np.sin(theta) + harmonic * np.sin(2 * theta + phase)


@pytest.mark.parametrize("fs", FS_VALUES)
@pytest.mark.parametrize("method", ["fft", "welch", "peaks"])
@pytest.mark.parametrize("harmonic", [0.0, 0.4])
def test_estimate_hr_on_analytic_signals(fs, method, harmonic):
    x = _pulses(fs, BPM, harmonic=harmonic)
    hr = estimate_hr(x, fs, method=method)
    assert hr.shape == BPM.shape
    np.testing.assert_allclose(hr, BPM, rtol=0, atol=TOLERANCE_BPM[method])


def test_fft_estimate_is_not_quantised_to_the_bin_width():
    fs, bpm = 30.0, np.array([61.3, 76.6, 94.4])
    x = _pulses(fs, bpm)
    n = x.shape[1]  # 20 s: bins of 3 bpm without zero padding
    freqs, psd = periodogram(x, fs, nfft=n)
    coarse = 60.0 * find_spectral_peak_hz(freqs, psd, 0.75, 2.5, interpolate=False)
    assert np.all(np.abs(coarse - bpm) > 1.2)  # these rates fall between bins
    np.testing.assert_allclose(estimate_hr(x, fs, nfft=n), bpm, atol=0.1)  # interpolation alone
    np.testing.assert_allclose(estimate_hr(x, fs), bpm, atol=0.01)  # with the default padding


def test_band_limits_the_search():
    fs = 30.0
    t = np.arange(600) / fs
    x = 2.0 * np.sin(2 * np.pi * 3.0 * t) + np.sin(2 * np.pi * 1.2 * t)  # strongest tone out of band
    assert estimate_hr(x, fs) == pytest.approx(72.0, abs=0.2)
    assert estimate_hr(x, fs, band=(0.75, 4.0)) == pytest.approx(180.0, abs=0.2)


def test_one_dimensional_and_torch_inputs():
    fs = 30.0
    x = _pulses(fs, np.array([70.3]))[0]
    value = estimate_hr(x, fs)
    assert isinstance(value, float)
    assert estimate_hr(torch.from_numpy(x).float(), fs) == pytest.approx(value, abs=1e-3)
    batch = estimate_hr(torch.from_numpy(np.stack([x, x])), fs)
    assert isinstance(batch, np.ndarray) and batch.shape == (2,)


def test_peaks_survive_white_noise():
    rng = np.random.default_rng(0)
    fs, bpm = 30.0, np.array([66.6, 88.8, 111.1])
    x = _pulses(fs, bpm, seconds=30.0, harmonic=0.3) + 0.2 * rng.standard_normal((3, 900))
    np.testing.assert_allclose(estimate_hr(x, fs, method="peaks"), bpm, atol=1.5)
    np.testing.assert_allclose(estimate_hr(x, fs, method="fft"), bpm, atol=0.5)


def test_estimate_hr_errors():
    fs = 30.0
    x = _pulses(fs, np.array([70.0]))[0]
    cases = [
        (dict(x=np.where(np.arange(600) == 5, np.nan, x), fs=fs), "1 NaN/inf value"),
        (dict(x=np.where(np.arange(600) == 9, np.inf, x), fs=fs), "first at row 0, sample 9"),
        (dict(x=x, fs=0.0), "fs must be a finite sample rate > 0"),
        (dict(x=x, fs=-30.0), "fs must be a finite sample rate > 0"),
        (dict(x=x, fs="thirty"), "fs must be a number"),
        (dict(x=x[:39], fs=fs), "shorter than one period .* at least 40 samples"),
        (dict(x=x, fs=fs, band=(2.5, 0.75)), "empty or invalid"),
        (dict(x=x, fs=fs, band=(1.0, 1.0)), "empty or invalid"),
        (dict(x=x, fs=fs, band=(0.75, 16.0)), "Nyquist"),
        (dict(x=x, fs=fs, method="zero-crossings"), "method must be one of"),
        (dict(x=np.full(600, 3.0), fs=fs), "constant"),
        (dict(x=np.zeros((2, 3, 600)), fs=fs), r"must be \(T,\) or \(B, T\)"),
        (dict(x=np.zeros((0, 600)), fs=fs), "empty"),
        (dict(x=x, fs=fs, method="welch", welch_segment_s=0.0), "welch_segment_s must be > 0"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            estimate_hr(**kwargs)


def test_peaks_needs_two_beats():
    fs = 30.0
    t = np.arange(45) / fs  # 1.5 s at 45 bpm: at most one beat
    with pytest.raises(ValueError, match="need 2 for an interval"):
        estimate_hr(np.sin(2 * np.pi * 0.76 * t), fs, method="peaks")


def test_fft_on_a_contact_ppg_rate_batch_in_chunks():
    # at 1 kHz the 0.1 bpm grid needs nfft = 2^20, so the batch is processed a few rows at a time
    fs, bpm = 1000.0, np.array([58.8, 66.1, 73.4, 84.7, 95.2, 131.3])
    x = _pulses(fs, bpm, seconds=20.0, harmonic=0.4)
    batch = estimate_hr(x, fs)
    np.testing.assert_allclose(batch, bpm, atol=0.2)
    np.testing.assert_allclose(batch, [estimate_hr(row, fs) for row in x], rtol=0, atol=1e-9)


@pytest.mark.parametrize("empty", [np.array([]), np.zeros((0, 5)), np.zeros((2, 0))])
def test_estimate_hr_of_an_empty_signal_is_a_clear_error(empty):
    with pytest.raises(ValueError, match=r"x is empty \(shape .*\): pass at least one non-empty signal"):
        estimate_hr(empty, 30.0)


def test_too_short_signal_advice_stays_inside_the_band():
    with pytest.raises(ValueError) as one:
        estimate_hr(np.array([1.0]), 30.0)  # fs / 1 = 30 Hz: no lower edge could work
    assert "pass at least 40 samples (1.33 s)" in str(one.value) and "raise the band" not in str(one.value)
    with pytest.raises(ValueError, match=r"pass at least 40 samples \(1.33 s\) or raise the band's lower edge "
                                         r"above 0.909 Hz"):
        estimate_hr(np.sin(np.arange(33.0)), 30.0)  # 33 samples: a lower edge of 0.91 Hz would do


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-30, 1e30, 1e160, 1e300])
@pytest.mark.parametrize("method", ["fft", "welch", "peaks"])
def test_estimate_hr_does_not_depend_on_the_signal_scale(scale, method):
    x = _pulses(30.0, BPM[:3], harmonic=0.4)
    np.testing.assert_allclose(estimate_hr(x * scale, 30.0, method=method), estimate_hr(x, 30.0, method=method),
                               atol=1e-6)


def test_signals_in_columns_are_told_to_transpose():
    x = _pulses(30.0, BPM[:3])                                # (3, 600)
    with pytest.raises(ValueError, match=r"shape \(600, 3\).*pass x\.T"):
        estimate_hr(x.T, 30.0)
    with pytest.raises(ValueError, match="shorter than one period"):   # a plain short signal keeps its message
        estimate_hr(x[:, :10], 30.0)


def test_a_band_edge_on_the_flank_of_content_below_the_band_is_not_a_heart_rate():
    """A 74 bpm pulse under a sway 3x stronger at 0.68 Hz, just below the 0.75-2.5 Hz band: the sway's main
    lobe makes the band's first bin the highest in-band bin, but it is no peak; the pulse is."""
    fs = 30.0
    t = np.arange(300) / fs
    x = np.sin(2 * np.pi * (74.0 / 60.0) * t) + 3.0 * np.sin(2 * np.pi * 0.68 * t + 0.3)
    freqs, psd = periodogram(x[None], fs, nfft=4096, window="hann")
    assert 60.0 * find_spectral_peak_hz(freqs, psd, 0.75, 2.5)[0] < 46.0     # the plain in-band maximum
    assert estimate_hr(x, fs) == pytest.approx(74.0, abs=1.0)


@pytest.mark.parametrize("method", ["fft", "welch"])
def test_a_pulse_just_past_the_band_edge_reads_as_the_edge_not_as_an_in_band_ripple(method):
    """A 152 bpm pulse, 2 bpm above a 45-150 bpm band, and a weak 70 bpm ripple: the band holds no peak of
    the pulse, only its flank; within half a resolution cell (3 bpm for 10 s) of the edge that flank is the
    answer, not the ripple. A sway 6 bpm below the band stays ignored (the test above)."""
    fs = 30.0
    t = np.arange(300) / fs
    x = np.sin(2 * np.pi * (152.0 / 60.0) * t) + 0.1 * np.sin(2 * np.pi * (70.0 / 60.0) * t + 0.4)
    kw = {"welch_segment_s": 10.0} if method == "welch" else {}
    assert estimate_hr(x, fs, method=method, **kw) == pytest.approx(150.0, abs=1.5)
    far = np.sin(2 * np.pi * (160.0 / 60.0) * t) + 0.1 * np.sin(2 * np.pi * (70.0 / 60.0) * t + 0.4)
    assert estimate_hr(far, fs, method=method, **kw) == pytest.approx(70.0, abs=1.5)  # 10 bpm past: not the edge


def _tone(fs, bpm, seconds=10.0, phase=0.0):
    t = np.arange(int(round(seconds * fs))) / fs
    return np.sin(2 * np.pi * (bpm / 60.0) * t + phase)


@pytest.mark.parametrize("method", ["fft", "welch"])
def test_an_integrated_difference_keeps_a_slow_pulse_and_a_fast_one(method):
    """Integrals of difference signals (a ``diff`` network's output), 10 s at 30 fps, band 40-180 bpm.
    Slow: a 45 bpm pulse with a 0.6 second harmonic; its difference peaks at 90 bpm (the harmonic gains 2x),
    so the integral's 45 stands (the difference peaks at its double). Fast: a 160 bpm pulse whose difference
    also holds a 70 bpm ripple 0.6x as strong; integrating multiplies the ripple's amplitude by 160 / 70 and
    the plain peak is the ripple; the difference's 160 is no multiple of it, so 160 is read."""
    fs, band, kw = 30.0, (40 / 60, 3.0), ({"welch_segment_s": 10.0} if method == "welch" else {})
    slow = _tone(fs, 45.0) + 0.6 * _tone(fs, 90.0, phase=0.5)
    assert estimate_hr(np.diff(slow), fs, method, band, **kw) == pytest.approx(90.0, abs=1.5)
    assert estimate_hr(slow, fs, method, band, integrated=True, **kw) == pytest.approx(45.0, abs=1.5)
    fast = _tone(fs, 160.0) + 0.6 * (160.0 / 70.0) * _tone(fs, 70.0, phase=0.4)
    assert estimate_hr(fast, fs, method, band, **kw) == pytest.approx(70.0, abs=1.5)
    assert estimate_hr(fast, fs, method, band, integrated=True, **kw) == pytest.approx(160.0, abs=1.5)
    rows = np.stack([slow, fast])  # row by row, and a plain pulse is unchanged
    np.testing.assert_allclose(estimate_hr(rows, fs, method, band, integrated=True, **kw), [45.0, 160.0], atol=1.5)
    pulse = _tone(fs, 72.0) + 0.3 * _tone(fs, 144.0, phase=0.2)
    assert estimate_hr(pulse, fs, method, band, integrated=True, **kw) == estimate_hr(pulse, fs, method, band, **kw)


def test_the_octave_check_cannot_tell_a_ripple_at_half_the_rate_from_a_slow_pulse():
    """Its limit, stated: a ripple within one resolution cell (6 bpm at 10 s) of half the fast pulse's rate
    looks like a slow pulse's fundamental under its own harmonic, so the integral's ripple stands."""
    fs, band = 30.0, (40 / 60, 3.0)
    x = _tone(fs, 160.0) + 0.6 * (160.0 / 82.0) * _tone(fs, 82.0, phase=0.4)  # 2 x 82 = 164, 4 bpm off
    assert estimate_hr(x, fs, "fft", band, integrated=True) == pytest.approx(82.0, abs=1.5)
    assert estimate_hr(x, fs, "peaks", band, integrated=True) == estimate_hr(x, fs, "peaks", band)  # no check there


def test_when_the_readings_disagree_the_half_way_weighting_decides():
    """A 48 bpm pulse under a 150 bpm tone 0.45x its amplitude (noise the difference amplifies): the
    difference peaks at the tone (150 x 0.45 > 48 in amplitude), which is no multiple of 48; weighted half-way
    (power x f: 48 against 0.45² x 150 = 30) the pulse is the stronger, so 48 stands. At 0.7x the tone is the
    stronger there too (73.5) and is read."""
    fs, band = 30.0, (40 / 60, 3.0)
    for amplitude, expected in ((0.45, 48.0), (0.7, 150.0)):
        x = _tone(fs, 48.0) + amplitude * _tone(fs, 150.0, phase=0.3)
        assert estimate_hr(np.diff(x), fs, "fft", band) == pytest.approx(150.0, abs=1.5)
        assert estimate_hr(x, fs, "fft", band) == pytest.approx(48.0, abs=1.5)
        assert estimate_hr(x, fs, "fft", band, integrated=True) == pytest.approx(expected, abs=1.5)
