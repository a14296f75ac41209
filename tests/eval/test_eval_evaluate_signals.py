import math

import numpy as np
import pytest
import scipy.signal

from sspd.eval.metrics import PAPER_BAND, TOOLBOX_BAND, evaluate_signals

FS = 30.0


def _pulse(bpm, seconds, fs=FS, harmonic=0.3, drift=0.0):
    t = np.arange(int(round(seconds * fs))) / fs
    theta = 2 * np.pi * bpm / 60.0 * t + 0.4
    return np.sin(theta) + harmonic * np.sin(2 * theta + 1.0) + drift * t


# ---- independent reference: the rPPG-Toolbox post-processing, written out step by step ----

def _dense_detrend(x, lam):
    n = len(x)
    d2 = np.zeros((n - 2, n))
    for i in range(n - 2):
        d2[i, i:i + 3] = [1.0, -2.0, 1.0]
    return (np.eye(n) - np.linalg.inv(np.eye(n) + lam ** 2 * d2.T @ d2)) @ x


def _toolbox_process(x, low, high, is_diff):
    x = np.cumsum(x) if is_diff else x
    x = _dense_detrend(x, 100.0)
    b, a = scipy.signal.butter(1, [low / FS * 2, high / FS * 2], btype="bandpass")
    return scipy.signal.filtfilt(b, a, x)


def _pow2_at_least(n):
    return 2 ** int(math.ceil(math.log2(n)))


def _toolbox_fft_hr(x, low, high):
    f, p = scipy.signal.periodogram(x, fs=FS, nfft=_pow2_at_least(len(x)), detrend=False)
    keep = (f >= low) & (f <= high)
    return 60.0 * f[keep][np.argmax(p[keep])]


def _toolbox_peak_hr(x):
    peaks, _ = scipy.signal.find_peaks(x)
    return 60.0 / (np.mean(np.diff(peaks)) / FS)


def _toolbox_snr(x, hr, low, high):
    f, p = scipy.signal.periodogram(x, fs=FS, nfft=_pow2_at_least(len(x)), detrend=False)
    f0 = hr / 60.0
    h1 = (f >= f0 - 0.1) & (f <= f0 + 0.1)
    h2 = (f >= 2 * f0 - 0.1) & (f <= 2 * f0 + 0.1)
    rest = (f >= low) & (f <= high) & ~h1 & ~h2
    return 10 * math.log10((p[h1].sum() + p[h2].sum()) / p[rest].sum())


def _small_case(seed=0):
    rng = np.random.default_rng(seed)
    true = _pulse(74.3, 10.0, drift=0.05)  # 300 samples
    pred = np.diff(_pulse(76.1, 10.0, harmonic=0.5), prepend=0.0) + 0.05 * rng.standard_normal(300)
    return pred, true


@pytest.mark.parametrize("band", [TOOLBOX_BAND, PAPER_BAND])
@pytest.mark.parametrize("window_s", [None, 5.0])
def test_toolbox_preset_matches_step_by_step_reference(band, window_s):
    pred, true = _small_case()
    kwargs = {} if band == TOOLBOX_BAND else {"band": band}  # the preset's default band is 0.6-3.3 Hz
    ev = evaluate_signals(pred, true, FS, window_s=window_s, diff_labels=True, preset="rppg-toolbox",
                          **kwargs)
    length = 300 if window_s is None else 150
    assert len(ev.rows) == 300 // length
    for k, row in enumerate(ev.rows):
        seg = slice(k * length, (k + 1) * length)
        p = _toolbox_process(pred[seg], *band, is_diff=True)
        t = _toolbox_process(true[seg], *band, is_diff=False)
        hr_true = _toolbox_fft_hr(t, *band)
        assert row.hr_pred == pytest.approx(_toolbox_fft_hr(p, *band), abs=1e-9)
        assert row.hr_true == pytest.approx(hr_true, abs=1e-9)
        assert row.snr_db == pytest.approx(_toolbox_snr(p, hr_true, *band), abs=1e-6)
    assert ev.summary["protocol"]["band_hz"] == list(band)
    assert ev.summary["protocol"]["preset"] == "rppg-toolbox"


def test_toolbox_preset_peaks_and_plain_signals_match_reference():
    pred, true = _small_case(seed=1)
    pred = np.cumsum(pred)
    ev = evaluate_signals(pred, true, FS, method="peaks", preset="rppg-toolbox")
    p = _toolbox_process(pred, *TOOLBOX_BAND, is_diff=False)
    t = _toolbox_process(true, *TOOLBOX_BAND, is_diff=False)
    assert ev.rows[0].hr_pred == pytest.approx(_toolbox_peak_hr(p), abs=1e-9)
    assert ev.rows[0].hr_true == pytest.approx(_toolbox_peak_hr(t), abs=1e-9)
    assert ev.rows[0].snr_db == pytest.approx(_toolbox_snr(p, _toolbox_peak_hr(t), *TOOLBOX_BAND), abs=1e-6)


@pytest.mark.parametrize("method, tol", [("fft", 0.2), ("welch", 1.0), ("peaks", 1.0)])
def test_windows_of_known_rates(method, tol):
    rng = np.random.default_rng(2)
    true = np.stack([_pulse(64.4, 40.0, drift=0.1), _pulse(101.7, 40.0)])  # (2, 1200)
    pred = np.stack([_pulse(70.4, 40.0), _pulse(101.7, 40.0)]) + 0.1 * rng.standard_normal((2, 1200))
    ev = evaluate_signals(pred, true, FS, window_s=20.0, stride_s=10.0, method=method, split="test")
    assert [(r.signal, r.index, r.start_s, r.end_s) for r in ev.rows] == [
        (s, k, 10.0 * k, 10.0 * k + 20.0) for s in (0, 1) for k in range(3)]
    for r in ev.rows:
        assert r.hr_true == pytest.approx(64.4 if r.signal == 0 else 101.7, abs=tol)
        assert r.hr_pred == pytest.approx(70.4 if r.signal == 0 else 101.7, abs=tol)
    s = ev.summary
    assert s["n_windows"] == 6 and s["metrics"]["n"] == 6
    assert s["metrics"]["mae"] == pytest.approx(3.0, abs=tol)  # half the windows are 6 bpm off
    assert s["bland_altman"]["bias"] == pytest.approx(3.0, abs=tol)
    proto = s["protocol"]
    assert (proto["method"], proto["band_hz"], proto["window_s"], proto["stride_s"], proto["split"]) == (
        method, list(PAPER_BAND), 20.0, 10.0, "test")
    assert proto["preset"] == "sspd" and proto["window_samples"] == 600 and proto["estimator"]


def test_snr_summary_orders_clean_above_noisy_predictions():
    rng = np.random.default_rng(3)
    true = _pulse(80.2, 90.0)
    # 30 s windows: the ±0.1 Hz SNR windows then hold the whole Hann main lobe (±2/30 Hz)
    clean = evaluate_signals(true + 0.1 * rng.standard_normal(2700), true, FS, window_s=30.0)
    noisy = evaluate_signals(true + 1.0 * rng.standard_normal(2700), true, FS, window_s=30.0)
    assert clean.summary["snr_db"] > noisy.summary["snr_db"] + 15.0
    snr = [r.snr_db for r in noisy.rows]
    assert noisy.summary["snr_db"] == pytest.approx(np.mean(snr))
    assert noisy.summary["snr_db_se"] == pytest.approx(np.std(snr, ddof=1) / math.sqrt(3))


def test_diff_labels_integrates_the_prediction():
    true = _pulse(88.8, 20.0)
    pred = np.diff(_pulse(88.8, 20.0, drift=0.2), prepend=0.0)
    ev = evaluate_signals(pred, true, FS, diff_labels=True)
    assert ev.rows[0].hr_pred == pytest.approx(88.8, abs=0.2)
    assert ev.summary["protocol"]["diff_labels"] is True


def test_a_difference_integral_is_read_with_the_octave_check():
    """A 160 bpm pulse whose difference holds a 70 bpm ripple 0.6x as strong: integrated (by the caller,
    ``integrated``, or here, ``diff_labels``) the ripple is the plain peak; the octave check reads 160 in
    every 10 s window. The reference (the true PPG) is read plainly."""
    t = np.arange(600) / FS
    true = np.sin(2 * np.pi * 160.0 / 60.0 * t)
    integral = true + 0.6 * (160.0 / 70.0) * np.sin(2 * np.pi * 70.0 / 60.0 * t + 0.4)
    band = (40 / 60, 3.0)
    plain = evaluate_signals(integral, true, FS, window_s=10.0, band=band)
    checked = evaluate_signals(integral, true, FS, window_s=10.0, band=band, integrated=True)
    from_diff = evaluate_signals(np.diff(integral, prepend=0.0), true, FS, window_s=10.0, band=band, diff_labels=True)
    assert [round(r.hr_pred) for r in plain.rows] == [70, 70]
    for ev in (checked, from_diff):
        assert [r.hr_pred for r in ev.rows] == pytest.approx([160.0, 160.0], abs=0.5)
        assert [r.hr_true for r in ev.rows] == pytest.approx([160.0, 160.0], abs=0.5)
    assert checked.summary["protocol"]["integrated"] is True and plain.summary["protocol"]["integrated"] is False


def test_evaluate_signals_errors():
    x = _pulse(70.0, 10.0)
    cases = [
        (dict(pred=x, true=x[:200]), "differ in shape"),
        (dict(pred=x, true=x, window_s=20.0), "longer than the signal"),
        (dict(pred=x, true=x, stride_s=2.0), "stride_s needs window_s"),
        (dict(pred=x, true=x, preset="toolbox"), "preset must be one of"),
        (dict(pred=x, true=x, preset="rppg-toolbox", method="welch"), "method must be one of"),
        (dict(pred=x, true=x, method="mean"), "method must be one of"),
        (dict(pred=x, true=x, window_s=1.0), "evaluate_signals .*shorter than one period"),
        (dict(pred=np.where(np.arange(300) == 3, np.nan, x), true=x), "pred contains 1 NaN/inf"),
        (dict(pred=x, true=x, band=(3.0, 1.0)), "empty or invalid"),
        (dict(pred=x, true=x, window_s=0.01), "at least one sample"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            evaluate_signals(fs=FS, **kwargs)


def test_default_pipeline_rejects_strong_content_just_below_the_band():
    # A 74 bpm pulse under a 0.65 Hz sway three times stronger (head motion, illumination), 0.1 Hz
    # below the band: without the band-pass, the sway's leakage through the periodogram window's main
    # lobe puts the peak on the band's lower edge (45 bpm); with it, the pulse wins.
    fs = 30.0
    t = np.arange(int(10 * fs)) / fs
    pulse = np.sin(2 * np.pi * (74.0 / 60.0) * t)
    sway = 3.0 * np.sin(2 * np.pi * 0.65 * t + 0.3)
    ev = evaluate_signals(pulse + sway, pulse, fs)
    assert ev.rows[0].hr_true == pytest.approx(74.0, abs=0.5)
    assert ev.rows[0].hr_pred == pytest.approx(74.0, abs=1.0)
    assert "band-pass" in ev.summary["protocol"]["estimator"]


@pytest.mark.parametrize("preset", [None, "rppg-toolbox"])
@pytest.mark.parametrize("reference", [np.ones, np.zeros, lambda n: np.full(n, 512.0)])
def test_a_constant_reference_is_an_error_like_estimate_hr_not_the_band_floor(preset, reference):
    fs = 30.0
    t = np.arange(int(20 * fs)) / fs
    pred = np.sin(2 * np.pi * 1.2 * t)
    with pytest.raises(ValueError, match="constant"):
        evaluate_signals(pred, reference(t.size), fs, window_s=10.0, preset=preset)
    true = np.sin(2 * np.pi * 1.2 * t)
    true[: int(10 * fs)] = 1.0                          # only the first window is flat: still refused
    with pytest.raises(ValueError, match=r"window\(s\) \[0\].*constant"):
        evaluate_signals(pred, true, fs, window_s=10.0, preset=preset)
    collapsed = evaluate_signals(np.ones(t.size), np.sin(2 * np.pi * 1.2 * t), fs, window_s=10.0, preset=preset)
    assert len(collapsed.rows) == 2 and all(abs(r.hr_true - 72.0) < 3 for r in collapsed.rows)  # still scored


@pytest.mark.parametrize("window_s", [math.nan, math.inf, -1.0, 0.0])
def test_a_window_that_is_not_a_positive_length_is_named(window_s):
    x = np.sin(np.arange(600) / 30.0 * 2 * np.pi * 1.2)
    with pytest.raises(ValueError, match=r"window_s must be a positive number of seconds"):
        evaluate_signals(x, x, 30.0, window_s=window_s)
