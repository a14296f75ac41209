import cmath
import math

import pytest
import torch

from sspd.losses import band_ratio
from sspd.ssm import (band_ratio_loss, diagonal_std_loss, pyramid_loss, self_similarity_map,
                      self_similarity_wave)


# ---- independent references, in Python floats -------------------------------------------------------
def _pearson(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    return cov / (math.sqrt(sum((x - ma) ** 2 for x in a)) * math.sqrt(sum((y - mb) ** 2 for y in b)))


def _pyramid_loop(ssm_o, ssm_t, ssw_o, ssw_t):
    n = len(ssm_o)
    mse_map = sum((ssm_o[i][j] - ssm_t[i][j]) ** 2 for i in range(n) for j in range(n)) / n ** 2
    mse_wave = sum((a - b) ** 2 for a, b in zip(ssw_o, ssw_t)) / n
    np_map = sum(1 - _pearson(ssm_o[i], ssm_t[i]) for i in range(n)) / n
    return mse_map + mse_wave + np_map + 1 - _pearson(ssw_o, ssw_t)


def _diagonal_std_loop(ssm, divisor, unbiased):
    """The release's style: collect SSM[i][j] per lag d = j - i with a double loop, then std per lag."""
    n = len(ssm)
    diagonals = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i, n):
            diagonals[j - i].append(ssm[i][j])
    terms = []
    for d in range(1, n - 1):
        values = diagonals[d]
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - (1 if unbiased else 0))
        weight = 1.0 if divisor is None else (n - d) / divisor
        terms.append(math.sqrt(var) * weight)
    return sum(terms) / len(terms)


def _band_ratio_loop(x, fs, band, eps, form):
    """DFT by definition; bins 0 <= f < fs/2 in the total, band edges inclusive."""
    n = len(x)
    mags = [abs(sum(x[t] * cmath.exp(-2j * math.pi * k * t / n) for t in range(n)))
            for k in range(n // 2 + 1)]
    peak = max(mags)
    spec = [m / peak for m in mags]
    freqs = [k * fs / n for k in range(n // 2 + 1)]
    total = sum(p for p, f in zip(spec, freqs) if f < fs / 2)
    inside = sum(p for p, f in zip(spec, freqs) if band[0] <= f <= band[1])
    return (total + eps) / (inside + eps) - 1 if form == "ratio" else 1 - inside / (total + eps)


def _maps(b, n, d, seed):
    h = torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed))
    ssm = self_similarity_map(h)
    return ssm, self_similarity_wave(ssm)


# ---- pyramid ---------------------------------------------------------------------------------------
def test_pyramid_loss_matches_loop_reference():
    ssm_o, ssw_o = _maps(3, 10, 6, seed=0)
    ssm_t, ssw_t = _maps(3, 10, 6, seed=1)
    per_clip = pyramid_loss(ssm_o, ssm_t, ssw_o, ssw_t, reduction="none")
    expected = torch.tensor([
        _pyramid_loop(ssm_o[b].double().tolist(), ssm_t[b].double().tolist(),
                      ssw_o[b].double().tolist(), ssw_t[b].double().tolist()) for b in range(3)],
        dtype=torch.float32)
    torch.testing.assert_close(per_clip, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(pyramid_loss(ssm_o, ssm_t, ssw_o, ssw_t), expected.mean(), atol=1e-5, rtol=0)


def test_pyramid_loss_is_zero_for_identical_views_and_sends_no_gradient_to_the_target():
    h_o = torch.randn(2, 9, 4, generator=torch.Generator().manual_seed(2), requires_grad=True)
    h_t = h_o.detach().clone().requires_grad_(True)
    ssm_o, ssm_t = self_similarity_map(h_o), self_similarity_map(h_t)
    loss = pyramid_loss(ssm_o, ssm_t, self_similarity_wave(ssm_o), self_similarity_wave(ssm_t))
    assert abs(float(loss.detach())) < 1e-5
    (loss + (ssm_o - 0.5).square().mean()).backward()
    assert h_t.grad is None and h_o.grad is not None and float(h_o.grad.abs().sum()) > 0


def test_pyramid_loss_shape_mismatch_raises():
    ssm, ssw = _maps(2, 8, 3, seed=0)
    with pytest.raises(ValueError, match="differ"):
        pyramid_loss(ssm, ssm[:, :7, :7], ssw, ssw[:, :7])


# ---- diagonal std ----------------------------------------------------------------------------------
@pytest.mark.parametrize("divisor,unbiased", [(20.0, True), (20.0, False), (None, True), (3.5, True)])
def test_diagonal_std_loss_matches_loop_reference(divisor, unbiased):
    ssm, _ = _maps(2, 11, 5, seed=4)
    per_clip = diagonal_std_loss(ssm, length_divisor=divisor, unbiased=unbiased, reduction="none")
    expected = torch.tensor([_diagonal_std_loop(ssm[b].double().tolist(), divisor, unbiased)
                             for b in range(2)], dtype=torch.float32)
    torch.testing.assert_close(per_clip, expected, atol=1e-5, rtol=0)


def test_diagonal_std_loss_matches_torch_std_on_any_square_map():
    ssm = torch.randn(1, 6, 6, generator=torch.Generator().manual_seed(9))
    stds = [torch.diagonal(ssm[0], offset=d).std() * (6 - d) / 20 for d in range(1, 5)]
    torch.testing.assert_close(diagonal_std_loss(ssm), torch.stack(stds).mean(), atol=1e-5, rtol=0)


def test_diagonal_std_loss_of_constant_features_is_zero_with_finite_gradients():
    h = torch.ones(2, 12, 4).requires_grad_(True)
    loss = diagonal_std_loss(self_similarity_map(h))
    assert float(loss.detach()) < 1e-4
    loss.backward()
    assert torch.isfinite(h.grad).all()


def test_diagonal_std_loss_errors():
    with pytest.raises(ValueError, match="at least 3"):
        diagonal_std_loss(torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="length_divisor"):
        diagonal_std_loss(torch.zeros(1, 4, 4), length_divisor=0.0)


# ---- band ratio ------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["ratio", "fraction"])
@pytest.mark.parametrize("fs,n", [(30.0, 64), (25.0, 51), (60.0, 90)])
def test_band_ratio_loss_matches_loop_reference(form, fs, n):
    _, wave = _maps(2, n, 6, seed=n)
    per_clip = band_ratio_loss(wave, fs, form=form, reduction="none")
    expected = torch.tensor([_band_ratio_loop(wave[b].double().tolist(), fs, (0.5, 3.0), 1e-4, form)
                             for b in range(2)], dtype=torch.float32)
    torch.testing.assert_close(per_clip, expected, atol=1e-5, rtol=1e-5)


def _rotating_tokens(hz, fs, n):
    angle = 2 * math.pi * hz * torch.arange(n) / fs
    return torch.stack([angle.cos(), angle.sin()], dim=-1).unsqueeze(0)  # (1, T', 2)


@pytest.mark.parametrize("fs", [30.0, 50.0])
def test_band_ratio_loss_orders_in_band_random_and_constant_features(fs):
    n = int(8 * fs)
    def loss_of(h):
        return band_ratio_loss(self_similarity_wave(self_similarity_map(h)), fs)

    periodic, out_of_band = loss_of(_rotating_tokens(1.25, fs, n)), loss_of(_rotating_tokens(6.0, fs, n))
    constant_h = torch.ones(1, n, 8, requires_grad=True)
    constant = band_ratio_loss(self_similarity_wave(self_similarity_map(constant_h)), fs)
    periodic, out_of_band = float(periodic), float(out_of_band)
    assert periodic < 1.0 < out_of_band < float(constant.detach())
    assert 1e3 < float(constant.detach()) < 1e5
    constant.backward()
    assert torch.isfinite(constant_h.grad).all()


def test_band_ratio_fraction_form_is_bounded():
    _, wave = _maps(4, 40, 3, seed=7)
    values = band_ratio_loss(torch.cat([wave, torch.ones(1, 40)]), 30.0, form="fraction", reduction="none")
    assert bool(((values >= 0) & (values <= 1)).all())
    assert float(values[-1]) > 0.99


def test_band_ratio_is_scale_free_and_zero_when_all_energy_is_in_band():
    _, wave = _maps(2, 60, 5, seed=3)
    torch.testing.assert_close(band_ratio(1e3 * wave, 30.0), band_ratio(wave, 30.0), atol=1e-4, rtol=1e-5)
    tone = torch.cos(2 * math.pi * 1.5 * torch.arange(60) / 30.0).unsqueeze(0)  # exactly on a bin
    assert float(band_ratio(tone, 30.0)) < 1e-4


def test_band_ratio_custom_total_band_counts_only_its_bins():
    x = torch.randn(1, 120, generator=torch.Generator().manual_seed(0))
    wide = band_ratio(x, 30.0, total_band=(0.0, 15.0), form="fraction")
    narrow = band_ratio(x, 30.0, total_band=(0.5, 3.0), form="fraction")
    assert float(narrow) < 1e-4 < float(wide)


def test_band_ratio_errors():
    wave = torch.randn(2, 50)
    with pytest.raises(ValueError, match="NaN"):
        band_ratio_loss(torch.full((2, 50), float("nan")), 30.0)
    with pytest.raises(ValueError, match="fs"):
        band_ratio_loss(wave, 0.0)
    with pytest.raises(ValueError, match="no frequency bin"):
        band_ratio_loss(torch.randn(2, 8), 30.0, band=(0.5, 1.0))
    with pytest.raises(ValueError, match="outside the total band"):
        band_ratio(wave, 30.0, band=(0.5, 3.0), total_band=(0.0, 2.0))
    with pytest.raises(ValueError, match="form"):
        band_ratio_loss(wave, 30.0, form="snr")
    with pytest.raises(ValueError, match="eps"):
        band_ratio(wave, 30.0, eps=0.0)
    with pytest.raises(ValueError, match=r"\(B, T'\)"):
        band_ratio_loss(torch.randn(50), 30.0)
