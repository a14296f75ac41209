"""SiNC's three losses against a numpy reference written here from docs/method.md, and their edge cases."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sspd.objectives import (NetworkOutputs, SiNCConfig, bandwidth_loss, clip_bands, sinc_objective, sinc_psd,
                             sparsity_loss, variance_loss)

FS = 30.0


def _reference(y: np.ndarray, fs: float, bands: list[tuple[float, float]], n_fft: int, width: float,
               eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-clip bandwidth and sparsity, and the batch variance loss, by plain loops over clips and bins."""
    n = max(n_fft, y.shape[1])
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    l_b, l_s, p_rows, u_rows = [], [], [], []
    for row, (low, high) in zip(y, bands):
        power = np.abs(np.fft.rfft(row - row.mean(), n)) ** 2
        inside = [(low <= f <= high) for f in freqs]
        l_b.append(sum(p for p, i in zip(power, inside) if not i) / (power.sum() + eps))
        in_idx = [k for k, i in enumerate(inside) if i]
        peak = max(in_idx, key=lambda k: power[k])
        in_sum = sum(power[k] for k in in_idx)
        step = freqs[1] - freqs[0]  # |f - f*| > width, with a bin exactly at the width counted as near
        l_s.append(sum(power[k] for k in in_idx if abs(k - peak) * step > width * (1 + 1e-6)) / (in_sum + eps))
        p_rows.append([power[k] / (in_sum + eps) if inside[k] else 0.0 for k in range(len(freqs))])
        u_rows.append([1.0 / len(in_idx) if inside[k] else 0.0 for k in range(len(freqs))])
    q, u = np.mean(p_rows, axis=0), np.mean(u_rows, axis=0)
    union = np.array(u_rows).max(axis=0) > 0
    emd = np.mean(((np.cumsum(q) - np.cumsum(u)) ** 2)[union])
    return np.array(l_b), np.array(l_s), float(emd)


def _batch(seed: int = 0, b: int = 4, t: int = 96) -> torch.Tensor:
    gen = np.random.default_rng(seed)
    time = np.arange(t) / FS
    rates = gen.uniform(0.8, 2.5, size=b)
    rows = [np.sin(2 * np.pi * r * time + gen.uniform(0, 6)) + 0.4 * gen.standard_normal(t) for r in rates]
    return torch.tensor(np.array(rows), dtype=torch.float64)


@pytest.mark.parametrize("speeds", [None, (0.7, 1.0, 1.2, 1.4)])
def test_the_three_losses_equal_the_numpy_reference(speeds):
    y = _batch()
    config = SiNCConfig(n_fft=600)
    speed = None if speeds is None else torch.tensor(speeds)
    low, high = clip_bands(config.band, 4, speed)
    freqs, psd = sinc_psd(y, FS, config.n_fft)
    bands = [(float(lo), float(hi)) for lo, hi in zip(low, high)]
    ref_b, ref_s, ref_v = _reference(y.numpy(), FS, bands, config.n_fft, config.sparsity_width_hz)
    np.testing.assert_allclose(bandwidth_loss(freqs, psd, low, high).numpy(), ref_b, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(sparsity_loss(freqs, psd, low, high, 0.1).numpy(), ref_s, rtol=1e-4, atol=1e-7)
    assert float(variance_loss(freqs, psd, low, high)) == pytest.approx(ref_v, rel=1e-4, abs=1e-9)
    total, scalars = sinc_objective(NetworkOutputs([], y.float()), None, torch.full((4,), FS), {"speed": speed},
                                    config)
    assert float(total) == pytest.approx(ref_b.mean() + ref_s.mean() + ref_v, rel=1e-4)
    assert set(scalars) == {"total", "bandwidth", "sparsity", "variance"}


def test_speed_scales_each_clips_band():
    low, high = clip_bands((0.5, 3.0), 3, torch.tensor([0.6, 1.0, 1.4]))
    torch.testing.assert_close(low, torch.tensor([0.3, 0.5, 0.7]))
    torch.testing.assert_close(high, torch.tensor([1.8, 3.0, 4.2]))
    # a 3.5 Hz tone is outside the band at speed 1 and inside it at speed 1.4
    time = torch.arange(300) / FS
    y = torch.sin(2 * np.pi * 3.5 * time).repeat(2, 1)
    freqs, psd = sinc_psd(y, FS, 1200)
    lo, hi = clip_bands((0.5, 3.0), 2, torch.tensor([1.0, 1.4]))
    losses = bandwidth_loss(freqs, psd, lo, hi)
    assert float(losses[0]) > 0.95 and float(losses[1]) < 0.05


def test_a_pure_in_band_tone_has_no_bandwidth_or_sparsity_loss_and_piled_up_rates_a_large_variance():
    time = torch.arange(300) / FS
    same = torch.sin(2 * np.pi * 1.2 * time).repeat(8, 1)
    spread = torch.stack([torch.sin(2 * np.pi * f * time) for f in np.linspace(0.8, 2.9, 8)])
    freqs, psd_same = sinc_psd(same, FS)
    _, psd_spread = sinc_psd(spread, FS)
    low, high = clip_bands((0.667, 3.0), 8)
    assert float(bandwidth_loss(freqs, psd_same, low, high).max()) < 0.02  # the unwindowed sidelobes leak 1.3 %
    assert float(sparsity_loss(freqs, psd_same, low, high).max()) < 0.1  # sidelobes beyond the 0.1 Hz main lobe
    assert float(variance_loss(freqs, psd_same, low, high)) > 10 * float(variance_loss(freqs, psd_spread, low, high))


def test_variance_refuses_batch_size_one_and_constant_outputs_stay_finite():
    freqs, psd = sinc_psd(torch.randn(1, 64), FS)
    low, high = clip_bands((0.667, 3.0), 1)
    with pytest.raises(ValueError, match="at least 2 clips.*loop.batch_size.*variance_weight=0"):
        variance_loss(freqs, psd, low, high)
    constant = NetworkOutputs([], torch.full((3, 64), 5.0, requires_grad=True))
    total, scalars = sinc_objective(constant, None, torch.full((3,), FS), {})
    assert torch.isfinite(total) and all(torch.isfinite(v) for v in scalars.values())
    total.backward()
    assert torch.isfinite(constant.rppg.grad).all()


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="one frame rate"):
        sinc_objective(NetworkOutputs([], torch.randn(2, 64)), None, torch.tensor([30.0, 25.0]), {})
    with pytest.raises(ValueError, match="NaN or inf"):
        sinc_psd(torch.tensor([[0.0, float("nan"), 1.0]]), FS)
    with pytest.raises(ValueError, match="band"):
        SiNCConfig(band=(3.0, 1.0))
