"""The thresholds' justification: each judged probe on constructed healthy and collapsed inputs."""
import math

import numpy as np
import pytest
import torch

from sspd.diagnostics import (DEFAULT_THRESHOLDS, Rule, Thresholds, cross_clip_correlation,
                              effective_rank, feature_std, harmonic_ratio, hr_spread, in_band_fraction,
                              input_sensitivity, pileup, temporal_std)
from sspd.ssm import self_similarity_map, self_similarity_wave

FS = 30.0
BAND = (0.75, 2.5)
T = np.arange(300) / FS


def _level(probe, value):
    return DEFAULT_THRESHOLDS.rule(probe).level(value)


def _pulses(bpm, seed, noise=0.3, offset=0.0, harmonic=0.0):
    rng = np.random.default_rng(seed)
    bpm = np.asarray(bpm, dtype=float)
    phase = rng.uniform(0, 2 * np.pi, (2, bpm.size))
    w = 2 * np.pi * bpm[:, None] / 60 * T[None]
    x = np.sin(w + phase[0, :, None]) + harmonic * np.sin(2 * w + phase[1, :, None])
    return x + offset + noise * rng.standard_normal(x.shape)


def _shared_plus(s, n, d=256, t=1, seed=0):
    """(n, d, t) features: one unit vector shared by all, plus deviations of relative size s."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(d, generator=g)
    return (mu / mu.norm())[None, :, None] + s * torch.randn(n, d, t, generator=g) / math.sqrt(d)


def test_feature_std_rules():
    g = torch.Generator().manual_seed(0)
    healthy = torch.randn(16, 256, 60, generator=g)
    assert _level("feature_std_time", feature_std(healthy, over="time", relative=True)) == "healthy"
    assert _level("feature_std_clips", feature_std(healthy, over="clips", relative=True)) == "healthy"
    mostly_shared = _shared_plus(0.3, 16, t=60)             # deviations 30 % of the norm: still healthy
    assert _level("feature_std_time", feature_std(mostly_shared, over="time", relative=True)) == "healthy"
    frozen_in_time = _shared_plus(1.0, 16)[:, :, :1] + _shared_plus(0.01, 16, t=60, seed=1) * 0.5
    assert _level("feature_std_time", feature_std(frozen_in_time, over="time", relative=True)) == "collapsed"
    same_for_all = _shared_plus(0.01, 16)
    assert _level("feature_std_clips", feature_std(same_for_all, over="clips", relative=True)) == "collapsed"
    slight = feature_std(_shared_plus(0.06, 16), over="clips", relative=True)
    assert _level("feature_std_clips", slight) == "warning"


def test_effective_rank_rule_only_warns():
    assert _level("effective_rank", effective_rank(_shared_plus(1.0, 16)[:, :, 0])) == "healthy"
    assert _level("effective_rank", effective_rank(_shared_plus(0.01, 16)[:, :, 0])) == "warning"
    assert _level("effective_rank", 1.0) == "warning" and DEFAULT_THRESHOLDS.effective_rank.collapsed is None


def test_cross_clip_correlation_rule():
    rng = np.random.default_rng(1)
    spread = _pulses(rng.normal(75, 8, 64), seed=1)
    same_rate = _pulses(np.full(64, 72.0), seed=2, noise=0.0)         # one HR, independent phases
    assert _level("cross_clip_corr", cross_clip_correlation(spread)) == "healthy"
    assert _level("cross_clip_corr", cross_clip_correlation(same_rate)) == "healthy"
    identical = np.repeat(_pulses([72.0], seed=3, noise=0.0), 64, axis=0)
    identical += 0.1 * rng.standard_normal(identical.shape)
    assert _level("cross_clip_corr", cross_clip_correlation(identical)) == "collapsed"


def test_label_free_pileup_rule_on_hr_distributions():
    resting = [pileup(np.random.default_rng(s).normal(75, 8.0, 64))[1] for s in range(30)]
    assert _level("hr_pileup", max(resting)) == "healthy"            # every draw of a resting spread
    narrow = [pileup(np.random.default_rng(s).normal(75, 5.0, 64))[1] for s in range(30)]
    assert _level("hr_pileup", float(np.mean(narrow))) == "healthy"  # a narrow spread, on average
    flicker = hr_spread(_pulses(np.full(64, 90.0), seed=4), FS, BAND)   # all clips lock onto 1.5 Hz
    assert flicker.mode_bpm == pytest.approx(90.0, abs=1.0)
    assert _level("hr_pileup", flicker.pileup) == "collapsed"


def test_label_aware_rules():
    labels = np.random.default_rng(5).normal(80, 12, 64).clip(50, 140)
    tracking = hr_spread(_pulses(labels, seed=5), FS, BAND, labels)
    assert _level("hr_pileup_excess", tracking.pileup_excess) == "healthy"
    assert _level("hr_std_ratio", tracking.std_ratio) == "healthy"
    shrunk = hr_spread(_pulses(80 + 0.4 * (labels - 80), seed=6), FS, BAND, labels)
    assert _level("hr_std_ratio", shrunk.std_ratio) == "warning"
    flicker = hr_spread(_pulses(np.full(64, 90.0), seed=7), FS, BAND, labels)
    assert _level("hr_pileup_excess", flicker.pileup_excess) == "collapsed"
    assert _level("hr_std_ratio", flicker.std_ratio) == "collapsed"


def test_in_band_rules_for_predictions():
    pulses = _pulses([60, 90, 120, 140], seed=8)
    assert _level("pred_in_band", in_band_fraction(pulses, FS, BAND)) == "healthy"
    noise = np.random.default_rng(9).standard_normal((8, 300))
    assert _level("pred_in_band", in_band_fraction(noise, FS, BAND)) == "collapsed"
    drift = np.cumsum(noise, axis=1)                          # random walk: power at the lowest bins
    assert _level("pred_in_band", in_band_fraction(drift, FS, BAND)) == "collapsed"


def _wave(tokens):
    return self_similarity_wave(self_similarity_map(tokens))                  # (B, T')


def test_in_band_rule_for_self_similarity_waves():
    g = torch.Generator().manual_seed(10)
    t = torch.arange(282) / FS
    w = 2 * math.pi * torch.tensor([1.1, 1.6, 2.1])[:, None] * t[None]        # (3, T')
    rotating = torch.zeros(3, 282, 64)
    rotating[..., 0], rotating[..., 1] = torch.cos(w), torch.sin(w)
    noisy = rotating + torch.randn(3, 282, 64, generator=g) / 8.0               # noise power = signal power
    assert _level("ssw_in_band", in_band_fraction(_wave(noisy), FS, BAND)) == "healthy"
    random = torch.randn(3, 282, 64, generator=g)
    assert _level("ssw_in_band", in_band_fraction(_wave(random), FS, BAND)) == "collapsed"
    constant = torch.randn(3, 1, 64, generator=g).expand(3, 282, 64)
    assert _level("ssw_in_band", in_band_fraction(_wave(constant), FS, BAND)) == "collapsed"


def test_temporal_std_rule():
    def level_at(offset, noise):
        pred = _pulses([70, 100], seed=11, noise=noise, offset=offset)
        return _level("pred_temporal_std", temporal_std(pred))

    assert level_at(5.0, 0.3) == "healthy"
    assert level_at(20.0, 0.0) == "warning"
    assert level_at(100.0, 0.0) == "collapsed"
    assert _level("pred_temporal_std", temporal_std(np.full((2, 300), 3.0))) == "collapsed"


def test_harmonic_ratio_rule_only_warns():
    typical = harmonic_ratio(_pulses([70, 100], seed=12, noise=0.05, harmonic=0.4), FS, BAND)
    assert _level("harmonic_ratio", typical) == "healthy"
    ambiguous = harmonic_ratio(_pulses([50, 60], seed=12, noise=0.05, harmonic=0.9), FS, BAND)
    assert _level("harmonic_ratio", ambiguous) == "warning"
    assert _level("harmonic_ratio", 100.0) == "warning"


def _clips(n, seed):
    g = torch.Generator().manual_seed(seed)
    hz = 0.9 + 1.4 * torch.rand(n, generator=g)
    t = torch.arange(300) / FS
    pulse = torch.sin(2 * math.pi * hz[:, None] * t[None] + 6 * torch.rand(n, 1, generator=g))
    clips = 0.5 + 0.01 * torch.randn(n, 3, 300, 2, 2, generator=g)
    clips[:, 1] += 0.05 * pulse[:, :, None, None]
    return clips


def test_input_sensitivity_rules():
    clips = _clips(8, seed=13)
    wave = torch.sin(2 * math.pi * 1.2 * torch.arange(300) / FS)

    def reads_pulse(c):
        return c[:, 1].mean(dim=(-1, -2))

    def standardised(c):
        x = reads_pulse(c)
        return (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True)

    healthy = input_sensitivity(reads_pulse, clips, torch.Generator().manual_seed(0))
    ignores = input_sensitivity(lambda c: wave.expand(c.shape[0], -1) + 0.0, clips)
    half = input_sensitivity(lambda c: wave * math.sqrt(2) + 0.5 * standardised(c), clips,
                             torch.Generator().manual_seed(0))
    for kind in ("shuffle", "swap"):
        assert _level(f"{kind}_sensitivity", healthy[kind]) == "healthy"
        assert _level(f"{kind}_sensitivity", ignores[kind]) == "collapsed"
        assert _level(f"{kind}_sensitivity", half[kind]) == "warning"        # 1 - r = 0.25 / 1.25


def test_rule_levels_bands_and_validation():
    rule = Rule(0.5, 0.2, "below", "x")
    assert [rule.level(v) for v in (0.6, 0.5, 0.4, 0.2, 0.1, math.nan)] == [
        "healthy", "healthy", "warning", "warning", "collapsed", "collapsed"]
    assert rule.healthy_band() == (0.5, math.inf)
    up = Rule(0.6, 0.8, "above", "x")
    assert [up.level(v) for v in (0.5, 0.7, 0.9)] == ["healthy", "warning", "collapsed"]
    assert up.healthy_band() == (-math.inf, 0.6)
    with pytest.raises(ValueError, match="beyond warning"):
        Rule(0.5, 0.8, "below", "x")
    with pytest.raises(ValueError, match="worse"):
        Rule(0.5, 0.2, "under", "x")
    with pytest.raises(ValueError, match="finite"):
        Rule(math.inf, None, "above", "x")


def test_thresholds_rule_lookup():
    assert DEFAULT_THRESHOLDS.rule("collapse/hr_pileup") is DEFAULT_THRESHOLDS.hr_pileup
    assert DEFAULT_THRESHOLDS.rule("hr_pileup") is DEFAULT_THRESHOLDS.hr_pileup
    assert DEFAULT_THRESHOLDS.rule("collapse/agreement") is None
    custom = Thresholds(hr_pileup=Rule(0.9, 0.95, "above", "x"))
    assert custom.rule("collapse/hr_pileup").level(0.85) == "healthy"
