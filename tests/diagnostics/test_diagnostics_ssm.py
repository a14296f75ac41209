import math

import pytest
import torch

from sspd.diagnostics import toeplitz_score
from sspd.ssm import self_similarity_map


def _toeplitz_loop(m, skip_main=False):
    """Reference: diagonal means by a loop over diagonals, then the explained variance."""
    n = len(m)
    keep = [(i, j) for i in range(n) for j in range(n) if not (skip_main and i == j)]
    means = {}
    for k in range(-(n - 1), n):
        vals = [m[i][j] for i, j in keep if j - i == k]
        if vals:
            means[k] = sum(vals) / len(vals)
    mean = sum(m[i][j] for i, j in keep) / len(keep)
    ss_res = sum((m[i][j] - means[j - i]) ** 2 for i, j in keep)
    ss_tot = sum((m[i][j] - mean) ** 2 for i, j in keep)
    return 1.0 - ss_res / (ss_tot + 1e-12)


@pytest.mark.parametrize("skip_main", [False, True])
def test_toeplitz_score_matches_loop_reference(skip_main):
    maps = torch.randn(3, 7, 7, generator=torch.Generator().manual_seed(0))
    expected = sum(_toeplitz_loop(m, skip_main) for m in maps.double().tolist()) / 3
    assert toeplitz_score(maps, ignore_main_diagonal=skip_main) == pytest.approx(expected, rel=1e-10)


def test_toeplitz_score_is_one_for_toeplitz_maps_and_low_for_random_symmetric_maps():
    n = 40
    lags = torch.arange(n)[None, :] - torch.arange(n)[:, None]
    toeplitz = torch.cos(2 * math.pi * lags / 9.0) + 0.01 * lags        # not symmetric, still Toeplitz
    assert toeplitz_score(toeplitz[None]) == pytest.approx(1.0, abs=1e-10)
    a = torch.randn(4, n, n, generator=torch.Generator().manual_seed(1))
    sym = (a + a.transpose(1, 2)) / 2
    assert toeplitz_score(sym) < 4.0 / n                                 # about 2 / T'
    assert toeplitz_score(torch.ones(2, n, n)) == pytest.approx(1.0)    # constant: trivially Toeplitz


def test_toeplitz_score_of_cosine_maps_periodic_versus_random_tokens():
    g = torch.Generator().manual_seed(2)
    t = torch.arange(120.0)
    rotating = torch.stack([torch.cos(2 * math.pi * t / 25), torch.sin(2 * math.pi * t / 25)], -1)
    tokens = torch.cat([rotating, torch.zeros(120, 30)], -1)[None]                 # (1, T', 32)
    tokens = tokens + 0.05 * torch.randn(2, 120, 32, generator=g)
    periodic = toeplitz_score(self_similarity_map(tokens), ignore_main_diagonal=True)
    random_map = self_similarity_map(torch.randn(2, 120, 32, generator=g))
    random = toeplitz_score(random_map, ignore_main_diagonal=True)
    assert periodic > 0.95 and random < 0.1


def test_toeplitz_score_errors():
    with pytest.raises(ValueError, match="square"):
        toeplitz_score(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"\(B, T', T'\)"):
        toeplitz_score(torch.zeros(3, 3))
