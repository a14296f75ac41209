import math

import numpy as np
import pytest

from sspd.diagnostics import hr_spread, normalised_entropy, pileup

FS = 30.0
T = np.arange(300) / FS
BAND = (0.75, 2.5)


def _pulses(bpm, rng, noise=0.2):
    bpm = np.asarray(bpm, dtype=float)
    phases = rng.uniform(0, 2 * np.pi, bpm.size)
    clean = np.sin(2 * np.pi * bpm[:, None] / 60 * T[None] + phases[:, None])
    return clean + noise * rng.standard_normal(clean.shape)


def _pileup_loop(hr, tol):
    best_count, best_group = -1, None
    for h in hr:
        group = [g for g in hr if abs(g - h) <= tol]
        if len(group) > best_count:
            best_count, best_group = len(group), group
    return float(np.median(best_group)), best_count / len(hr)


def _entropy_loop(hr, lo, hi, width):
    n_bins = math.ceil((hi - lo) / width)
    counts = [0] * n_bins
    for h in hr:
        k = min(max(int((h - lo) // width), 0), n_bins - 1)
        counts[k] += 1
    probs = [c / len(hr) for c in counts if c]
    return -sum(p * math.log(p) for p in probs) / math.log(min(len(hr), n_bins))


def test_pileup_matches_loop_reference():
    hr = np.random.default_rng(0).normal(75, 9, 40)
    assert pileup(hr, 3.0) == pytest.approx(_pileup_loop(hr, 3.0), rel=1e-12)
    assert pileup(np.array([70.0, 71.0, 72.5, 100.0]), 3.0) == (71.0, 0.75)


def test_normalised_entropy_matches_loop_reference_and_limits():
    hr = np.random.default_rng(1).uniform(40, 160, 30)       # some outside the band: clipped to edges
    assert normalised_entropy(hr, (45, 150), 5.0) == pytest.approx(_entropy_loop(hr, 45, 150, 5.0), rel=1e-12)
    assert normalised_entropy(np.full(10, 80.0), (45, 150), 5.0) == 0.0
    assert normalised_entropy(np.arange(50.0, 150.0, 5.0), (45, 150), 5.0) == pytest.approx(1.0)


def test_hr_spread_of_one_sinusoid_everywhere_is_a_full_pileup():
    rng = np.random.default_rng(2)
    out = hr_spread(_pulses(np.full(32, 96.0), rng, noise=0.0), FS, BAND)
    np.testing.assert_allclose(out.hr_bpm, 96.0, atol=0.5)
    assert out.pileup == 1.0 and out.entropy == 0.0 and out.mode_bpm == pytest.approx(96.0, abs=0.5)
    assert out.std_bpm < 0.5 and out.label_std_bpm is None and out.pileup_excess is None


def test_hr_spread_of_spread_rates_with_labels():
    rng = np.random.default_rng(3)
    labels = rng.uniform(50, 140, 64)
    out = hr_spread(_pulses(labels, rng), FS, BAND, labels)
    assert out.entropy > 0.85 and out.pileup < 0.25
    assert out.std_bpm == pytest.approx(np.std(labels, ddof=1), rel=0.05)
    assert out.std_ratio == pytest.approx(1.0, abs=0.05)
    assert out.label_pileup == pileup(labels, 3.0)[1]
    assert out.pileup_excess == pytest.approx(out.pileup - out.label_pileup)
    flicker = hr_spread(_pulses(np.full(64, 120.0), rng), FS, BAND, labels)   # every clip at the flicker
    assert flicker.pileup == 1.0 and flicker.pileup_excess > 0.7 and flicker.std_ratio < 0.05


def test_hr_spread_leaves_flat_rows_and_their_labels_out():
    rng = np.random.default_rng(4)
    x = _pulses([60.0, 90.0, 120.0], rng, noise=0.0)
    x = np.concatenate([x, np.full((1, 300), 2.0)])
    out = hr_spread(x, FS, BAND, [60.0, 90.0, 120.0, 300.0])
    assert out.hr_bpm.shape == (3,)
    assert out.label_std_bpm == pytest.approx(30.0)
    assert hr_spread(x, FS, BAND, [60.0, 61.0, 62.0, 300.0]).std_ratio is None   # labels barely spread


def test_hr_spread_errors():
    rng = np.random.default_rng(5)
    x = _pulses([60.0, 90.0], rng)
    with pytest.raises(ValueError, match="non-constant"):
        hr_spread(np.ones((4, 300)), FS, BAND)
    with pytest.raises(ValueError, match="one reference HR"):
        hr_spread(x, FS, BAND, [70.0])
    with pytest.raises(ValueError, match="fs must be"):
        hr_spread(x, -1.0, BAND)
    with pytest.raises(ValueError, match="tolerance_bpm"):
        hr_spread(x, FS, BAND, tolerance_bpm=0.0)
    with pytest.raises(ValueError, match="at least one"):
        pileup(np.array([]))
