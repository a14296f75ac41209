import math

import numpy as np
import pytest
import torch

from sspd.diagnostics import effective_rank, feature_std


def _unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def _std(values):
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def _feature_std_loop(pooled, over):
    """Reference in plain Python: pooled is a B x D x T nested list."""
    b, d, t = len(pooled), len(pooled[0]), len(pooled[0][0])
    if over == "clips":
        vecs = [_unit([sum(pooled[i][k]) / t for k in range(d)]) for i in range(b)]
        return sum(_std([v[k] for v in vecs]) for k in range(d)) / d
    per_clip = []
    for i in range(b):
        vecs = [_unit([pooled[i][k][j] for k in range(d)]) for j in range(t)]
        per_clip.append([_std([v[k] for v in vecs]) for k in range(d)])
    return sum(sum(col) / b for col in zip(*per_clip)) / d


@pytest.mark.parametrize("over", ["clips", "time"])
def test_feature_std_matches_loop_reference(over):
    pooled = torch.randn(4, 6, 5, generator=torch.Generator().manual_seed(1)) + 0.5
    expected = _feature_std_loop(pooled.double().tolist(), over)
    assert feature_std(pooled, over=over) == pytest.approx(expected, rel=1e-10)
    assert feature_std(pooled, over=over, relative=True) == pytest.approx(expected * math.sqrt(6), rel=1e-10)


def test_feature_std_is_zero_for_identical_vectors_and_near_isotropic_value():
    g = torch.Generator().manual_seed(0)
    same = torch.randn(1, 32, 1, generator=g).expand(8, 32, 10)
    assert feature_std(same, over="clips") == pytest.approx(0.0, abs=1e-12)
    assert feature_std(same, over="time") == pytest.approx(0.0, abs=1e-12)
    iso = torch.randn(2000, 64, 1, generator=g)            # isotropic: coordinate std 1/sqrt(D)
    assert feature_std(iso, over="clips", relative=True) == pytest.approx(1.0, abs=0.03)


def test_feature_std_relative_value_tracks_deviation_size():
    g = torch.Generator().manual_seed(2)
    mu = torch.randn(256, generator=g)
    mu = mu / mu.norm()
    for s in (1.0, 0.1, 0.01):
        feats = mu + s * torch.randn(64, 256, generator=g) / 16.0   # deviations of norm ~ s
        value = feature_std(feats[:, :, None], over="clips", relative=True)
        assert s * 0.6 < value < s * 1.05


def test_feature_std_separates_temporal_from_cross_clip_collapse():
    g = torch.Generator().manual_seed(3)
    constant_in_time = torch.randn(8, 16, 1, generator=g).expand(8, 16, 20)   # clips differ, time does not
    assert feature_std(constant_in_time, over="time") == pytest.approx(0.0, abs=1e-12)
    assert feature_std(constant_in_time, over="clips", relative=True) > 0.5
    same_for_all_clips = torch.randn(1, 16, 20, generator=g).expand(8, 16, 20)
    assert feature_std(same_for_all_clips, over="clips") == pytest.approx(0.0, abs=1e-12)
    assert feature_std(same_for_all_clips, over="time", relative=True) > 0.5


def test_feature_std_errors():
    with pytest.raises(ValueError, match="over must be"):
        feature_std(torch.zeros(2, 3, 4), over="frames")
    with pytest.raises(ValueError, match=r"\(B, D, T\)"):
        feature_std(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="at least 2 clips"):
        feature_std(torch.ones(1, 3, 4), over="clips")
    with pytest.raises(ValueError, match="at least 2 frames"):
        feature_std(torch.ones(2, 3, 1), over="time")
    with pytest.raises(ValueError, match="NaN"):
        feature_std(torch.full((2, 3, 4), float("nan")))


def test_effective_rank_known_values():
    g = torch.Generator().manual_seed(4)
    row = torch.randn(1, 32, generator=g)
    assert effective_rank(row.expand(10, 32)) == pytest.approx(1.0, abs=1e-4)
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))
    assert effective_rank(3.0 * q) == pytest.approx(16.0, rel=1e-4)           # orthogonal rows
    assert effective_rank(torch.eye(8, 20)) == pytest.approx(8.0, rel=1e-4)   # N < D: at most N
    assert effective_rank(torch.zeros(5, 7)) == 0.0


def test_effective_rank_matches_formula_with_numpy():
    x = np.random.default_rng(5).standard_normal((12, 9)) @ np.diag(np.linspace(0.1, 3.0, 9))
    s = np.linalg.svd(x, compute_uv=False)
    p = s / s.sum() + 1e-7
    assert effective_rank(x) == pytest.approx(float(np.exp(-(p * np.log(p)).sum())), rel=1e-10)


def test_effective_rank_errors():
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        effective_rank(torch.zeros(3))
    with pytest.raises(ValueError, match="empty"):
        effective_rank(torch.zeros(0, 4))
