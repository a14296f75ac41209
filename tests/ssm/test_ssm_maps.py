import math

import pytest
import torch

from sspd.ssm import diagonal_counts, self_similarity_map, self_similarity_wave, upper_diagonals


def _cosine_map_loop(h):
    """Reference: cosine similarity of every token pair, in Python floats. h: list of T' lists of D."""
    norms = [math.sqrt(sum(v * v for v in row)) for row in h]
    return [[sum(a * b for a, b in zip(hi, hj)) / (ni * nj) for hj, nj in zip(h, norms)]
            for hi, ni in zip(h, norms)]


def _wave_loop(ssm):
    """Reference in the release's style: SSW[d] = mean over i of SSM[i][i + d], Python double loop."""
    n = len(ssm)
    sums, counts = [0.0] * n, [0] * n
    for i in range(n):
        for j in range(i, n):
            sums[j - i] += ssm[i][j]
            counts[j - i] += 1
    return [s / c for s, c in zip(sums, counts)]


@pytest.mark.parametrize("n", [7, 12])
def test_self_similarity_map_matches_loop_reference(n):
    h = torch.randn(2, n, 5, generator=torch.Generator().manual_seed(n))
    ssm = self_similarity_map(h)
    assert ssm.shape == (2, n, n) and ssm.dtype == torch.float32
    for b in range(2):
        expected = torch.tensor(_cosine_map_loop(h[b].double().tolist()), dtype=torch.float32)
        torch.testing.assert_close(ssm[b], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("n", [1, 2, 9, 16])
def test_self_similarity_wave_matches_loop_reference(n):
    ssm = torch.randn(3, n, n, generator=torch.Generator().manual_seed(n))  # any square map
    wave = self_similarity_wave(ssm)
    assert wave.shape == (3, n)
    for b in range(3):
        expected = torch.tensor(_wave_loop(ssm[b].double().tolist()), dtype=torch.float32)
        torch.testing.assert_close(wave[b], expected, atol=1e-5, rtol=0)


def test_upper_diagonals_layout_and_counts():
    n = 6
    ssm = torch.randn(2, n, n, generator=torch.Generator().manual_seed(3))
    skewed, valid = upper_diagonals(ssm)
    for i in range(n):
        for d in range(n):
            expected = ssm[:, i, i + d] if i + d < n else torch.zeros(2)
            assert bool(valid[i, d]) == (i + d < n)
            torch.testing.assert_close(skewed[:, i, d], expected, atol=0, rtol=0)
    assert diagonal_counts(n).tolist() == [n - d for d in range(n)]
    assert valid.sum(dim=0).tolist() == diagonal_counts(n).tolist()


def test_wave_starts_at_one_and_peaks_again_at_the_period():
    period, n = 7, 40
    pattern = torch.randn(period, 16, generator=torch.Generator().manual_seed(5))
    h = pattern[torch.arange(n) % period].unsqueeze(0)  # (1, T', D) periodic with period 7
    wave = self_similarity_wave(self_similarity_map(h))[0]
    torch.testing.assert_close(wave[0], torch.tensor(1.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(wave[period], torch.tensor(1.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(wave[2 * period], torch.tensor(1.0), atol=1e-6, rtol=0)
    assert int(wave[1:period + 3].argmax()) + 1 == period
    assert float(wave[1:period].max()) < 0.99


def test_wave_of_a_rotating_feature_has_the_rotation_period():
    # h_t = (cos ωt, sin ωt): SSM[i, j] = cos(ω (j - i)), so SSW[d] = cos(ω d) exactly.
    fs, hz, n = 30.0, 1.5, 90
    angle = 2 * math.pi * hz * torch.arange(n) / fs
    h = torch.stack([angle.cos(), angle.sin()], dim=-1).unsqueeze(0)
    wave = self_similarity_wave(self_similarity_map(h))[0]
    torch.testing.assert_close(wave, (2 * math.pi * hz * torch.arange(n) / fs).cos(), atol=1e-5, rtol=0)
    assert int(wave[5:30].argmax()) + 5 == round(fs / hz)


def test_zero_token_gives_finite_map_and_gradients():
    h = torch.randn(1, 5, 4, generator=torch.Generator().manual_seed(0))
    h[0, 2] = 0.0
    h.requires_grad_(True)
    ssm = self_similarity_map(h)
    assert torch.isfinite(ssm).all() and float(ssm.detach()[0, 2].abs().max()) == 0.0
    self_similarity_wave(ssm).sum().backward()
    assert torch.isfinite(h.grad).all()


def test_map_is_float32_under_autocast():
    h = torch.randn(2, 8, 4, generator=torch.Generator().manual_seed(1))
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        ssm = self_similarity_map(h.bfloat16())
    assert ssm.dtype == torch.float32
    torch.testing.assert_close(ssm, self_similarity_map(h.bfloat16().float()), atol=1e-6, rtol=0)


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(B, T', D\)"):
        self_similarity_map(torch.zeros(8, 4))
    with pytest.raises(ValueError, match=r"\(B, T', T'\)"):
        self_similarity_wave(torch.zeros(2, 4, 5))
