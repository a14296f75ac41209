"""The label-free health verdict on constructed clips: learning, not learning (with what it follows), collapsed."""
import json

import numpy as np
import pytest

from sspd.diagnostics.health import (ClipTraces, HealthThresholds, assess_health, clip_traces, frame_shifts,
                                     health_json, health_scalars, rates, run_verdict)

FS = 30.0
T = 300  # 10 s


def _t():
    return np.arange(T) / FS


def _clip(rng, hr_bpm=None, flicker_hz=None, motion_hz=None):
    """ClipTraces of one clip: a pulse in the chrominance (channel weights unlike the skin tone), a light
    flicker (every channel alike), a head motion (x translation), plus sensor noise."""
    t = _t()
    base = np.array([170.0, 120.0, 95.0])[:, None]
    rel = rng.normal(0, 0.0008, (3, T))
    if hr_bpm is not None:
        rel += np.array([0.3, 1.0, 0.6])[:, None] * 0.004 * np.sin(2 * np.pi * hr_bpm / 60 * t + rng.uniform(0, 6))
    if flicker_hz is not None:
        rel += 0.02 * np.sin(2 * np.pi * flicker_hz * t)
    rgb = base * (1 + rel)
    light = (rgb / rgb.mean(axis=1, keepdims=True)).mean(axis=0) - 1
    motion = rng.normal(0, 0.02, (2, T))
    if motion_hz is not None:
        motion[0] += 1.5 * np.sin(2 * np.pi * motion_hz * t)
    return ClipTraces(rgb=rgb, light=light, motion=motion)


def _wave(rate_bpm, rng, noise=0.3):
    return np.sin(2 * np.pi * rate_bpm / 60 * _t() + rng.uniform(0, 6)) + rng.normal(0, noise, T)


HRS = np.array([58.0, 66, 74, 81, 90, 97, 105, 113, 122, 131, 64, 86])


def test_predictions_at_each_clips_pulse_are_learning():
    rng = np.random.default_rng(0)
    traces = [_clip(rng, hr) for hr in HRS]
    preds = np.stack([_wave(hr, rng) for hr in HRS])
    health = assess_health(preds, traces, FS, labels_hr=HRS)
    assert health.verdict == "learning" and health.probe == "chroma_agreement"
    assert health.value == 1.0 and health.probes["pulse_evidence"] == 1.0
    assert health.labels.mae_bpm < 2.0 and health.labels.r > 0.95
    assert health.headline().startswith("predictor HR MAE")


def test_predictions_that_follow_a_flicker_are_not_learning_and_say_so():
    rng = np.random.default_rng(1)
    flicker = rng.uniform(0.9, 2.3, HRS.size)   # each clip its own flicker rate, away from its pulse
    traces = [_clip(rng, hr, flicker_hz=f) for hr, f in zip(HRS, flicker)]
    preds = np.stack([_wave(60 * f, rng) for f in flicker])
    health = assess_health(preds, traces, FS, labels_hr=HRS)
    far = np.abs(60 * flicker - HRS) > 6
    assert health.verdict == "not learning" and health.probe == "chroma_agreement"
    assert health.value == pytest.approx(1 - far.mean(), abs=1e-9)
    assert "light" in health.follows and health.probes["light_lock"] >= far.mean() - 1e-9


def test_predictions_that_follow_head_motion_are_not_learning():
    rng = np.random.default_rng(2)
    motion = rng.uniform(0.8, 2.4, HRS.size)
    traces = [_clip(rng, hr, motion_hz=m) for hr, m in zip(HRS, motion)]
    preds = np.stack([_wave(60 * m, rng) for m in motion])
    health = assess_health(preds, traces, FS)
    assert health.verdict == "not learning" and health.follows == "the head motion"
    assert health.labels is None


def test_second_harmonic_and_fixed_rate_are_named():
    rng = np.random.default_rng(3)
    low = np.array([48.0, 52, 55, 60, 63, 67, 70, 72, 50, 58, 65, 69])
    traces = [_clip(rng, hr) for hr in low]
    harmonic = assess_health(np.stack([_wave(2 * hr, rng) for hr in low]), traces, FS)
    assert harmonic.verdict == "not learning" and harmonic.follows == "twice or half the pulse rate"
    fixed = assess_health(np.stack([_wave(120.0, rng) for _ in low]), traces, FS)
    assert fixed.verdict == "not learning" and fixed.follows.startswith("a fixed rate of 12")


def test_clips_without_a_pulse_are_never_learning():
    rng = np.random.default_rng(4)
    traces = [_clip(rng, None) for _ in HRS]
    # predictions that happen to be periodic in the band at spread rates: still no pulse to agree with
    health = assess_health(np.stack([_wave(hr, rng) for hr in HRS]), traces, FS)
    assert health.verdict == "not learning" and health.probe == "pulse_evidence"
    assert health.value < HealthThresholds().min_pulse_clips


def test_flat_or_identical_outputs_are_collapsed():
    rng = np.random.default_rng(5)
    traces = [_clip(rng, hr) for hr in HRS]
    flat = 5.0 + 1e-5 * rng.normal(size=(HRS.size, T))
    assert assess_health(flat, traces, FS).probe == "pred_temporal_std"
    same = np.tile(_wave(80.0, rng, noise=0.0), (HRS.size, 1))
    health = assess_health(same, traces, FS)
    assert (health.verdict, health.probe) == ("collapsed", "cross_clip_corr")
    nan = np.full((HRS.size, T), np.nan)
    assert assess_health(nan, traces, FS).verdict == "collapsed"


def test_rates_read_a_tone_and_score_noise_low():
    rng = np.random.default_rng(6)
    hr, snr = rates(np.stack([np.sin(2 * np.pi * 1.3 * _t()), rng.normal(size=T), np.zeros(T)]), FS)
    assert hr[0] == pytest.approx(78.0, abs=0.5) and snr[0] > 5 > snr[1]
    assert np.isnan(hr[2]) and snr[2] == -np.inf


def test_frame_shifts_recover_a_subpixel_translation_and_clip_traces_a_flicker():
    rng = np.random.default_rng(7)
    size, t = 32, _t()[:150]
    texture = np.fft.fft2(rng.normal(size=(size, size)))
    k = np.fft.fftfreq(size)
    shift = 0.6 * np.sin(2 * np.pi * 1.5 * t)
    gray = np.stack([np.fft.ifft2(texture * np.exp(-2j * np.pi * k[None, :] * s)).real for s in shift])
    got = frame_shifts(gray)
    assert np.corrcoef(got[0], shift)[0, 1] > 0.98 and np.abs(got[1]).max() < 0.1
    frames = 120 + 10 * np.repeat(gray[..., None], 3, axis=3)
    frames *= (1 + 0.03 * np.sin(2 * np.pi * 2.0 * t))[:, None, None, None]
    traces = clip_traces(frames)
    assert traces.rgb.shape == (3, 150) and traces.motion.shape == (2, 150)
    assert rates(traces.light[None], FS)[0][0] == pytest.approx(120.0, abs=1.5)


def test_run_verdict_puts_a_declared_collapse_first_and_json_round_trips():
    rng = np.random.default_rng(8)
    traces = [_clip(rng, hr) for hr in HRS]
    health = assess_health(np.stack([_wave(hr, rng) for hr in HRS]), traces, FS, labels_hr=HRS)
    saved = json.loads(json.dumps(health_json(health, step=10)))
    assert run_verdict({}, saved)["verdict"] == "learning"
    assert run_verdict({"collapse": True, "probe": "collapse/hr_pileup"}, saved)["verdict"] == "collapsed"
    assert run_verdict(None, None)["verdict"] == "unknown"
    scalars = health_scalars(health)
    assert scalars["health/level"] == 0.0 and scalars["health/chroma_agreement"] == 1.0


def test_a_network_reading_the_pulse_difference_is_judged_on_its_integral():
    """Predictions that follow the pulse's first difference (a network with signal "diff", trained on frame
    differences): a slow pulse with a 0.6 second harmonic puts more power at twice its rate in the difference
    (the harmonic gains 2x against the fundamental). Read as a pulse, slow clips read double; integrated, as
    sspd predict reads such a network, every clip reads its own rate and the verdict is learning."""
    rng = np.random.default_rng(5)
    slow = np.array([46.0, 50, 53, 57, 61, 66, 72, 80, 48, 55, 63, 70])
    traces = [_clip(rng, hr) for hr in slow]
    t = np.arange(T + 1) / FS
    pulses = np.stack([np.sin(2 * np.pi * hr / 60 * t) + 0.6 * np.sin(4 * np.pi * hr / 60 * t + 0.5) for hr in slow])
    diffs = np.diff(pulses, axis=1) + rng.normal(0, 0.002, (slow.size, T))
    as_pulse = assess_health(diffs, traces, FS, labels_hr=slow)
    as_diff = assess_health(diffs, traces, FS, labels_hr=slow, signal="diff")
    assert np.mean(np.abs(np.asarray(as_pulse.clips["pred_hr"]) - 2 * slow) < 3) >= 0.5  # doubled
    np.testing.assert_allclose(as_diff.clips["pred_hr"], slow, atol=2.0)
    assert as_diff.verdict == "learning" and as_pulse.verdict != "learning"
    assert as_diff.probes["pred_temporal_std"] == as_pulse.probes["pred_temporal_std"]  # collapse probes: raw
    with pytest.raises(ValueError, match="signal must be 'pulse' or 'diff'"):
        assess_health(diffs, traces, FS, signal="derivative")


def test_a_difference_networks_fast_clips_are_not_read_at_a_slow_ripple():
    """Fast clips (120-145 bpm) whose difference predictions also hold a 48 bpm ripple half as strong:
    integration multiplies the ripple by 2.5-3x and the plain integral reads it; the health check reads
    as sspd predict does, with the octave check, and every clip reads its own rate."""
    rng = np.random.default_rng(6)
    fast = np.array([120.0, 123, 126, 129, 132, 135, 138, 141, 144, 121, 130, 140])
    traces = [_clip(rng, hr) for hr in fast]
    t = np.arange(T) / FS
    diffs = np.stack([np.cos(2 * np.pi * hr / 60 * t) + 0.5 * np.cos(2 * np.pi * 48 / 60 * t + 0.3) for hr in fast])
    integral = np.cumsum(diffs - diffs.mean(axis=1, keepdims=True), axis=1)
    assert np.all(np.abs(rates(integral, FS)[0] - 48.0) < 2.0)  # the plain reading of the integral
    health = assess_health(diffs, traces, FS, labels_hr=fast, signal="diff")
    np.testing.assert_allclose(health.clips["pred_hr"], fast, atol=1.0)
    assert health.verdict == "learning"
