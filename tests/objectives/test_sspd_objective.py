"""The SSPD objective: predictor loss against a slow numpy reference, properties, the weighted total,
mixed frame rates, and the error paths."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sspd.engine import (SSPDLossWeights, SSPDObjectiveConfig, SSPDOutputs, frame_rates, predictor_loss,
                         predictor_loss_terms, sspd_objective)
from sspd.ssm import (band_ratio_loss, diagonal_std_loss, pyramid_loss, self_similarity_map,
                      self_similarity_wave)



def _signals(batch: int = 3, length: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / 30.0
    pulse = torch.sin(2 * math.pi * 1.3 * t)
    y_o = pulse + 0.5 * torch.randn(batch, length, generator=gen)
    y_t = pulse + 0.5 * torch.randn(batch, length, generator=gen)
    return y_o, y_t


def _pearson_loss(a: np.ndarray, b: np.ndarray) -> float:
    return 1.0 - float(np.corrcoef(a, b)[0, 1])


def _reference_rpd(y_o: np.ndarray, y_t: np.ndarray, fs: float, form: str) -> list[float]:
    """One clip at a time with numpy: the three parts of L_rpd, summed."""
    out = []
    for a, b in zip(y_o, y_t):
        freqs = np.fft.rfftfreq(len(a), 1 / fs)
        keep = freqs <= min(15.0, fs / 2)
        mag_a, mag_b = np.abs(np.fft.rfft(a))[keep], np.abs(np.fft.rfft(b))[keep]
        if form == "psd-mse":
            pa, pb = mag_a ** 2 / np.max(mag_a ** 2), mag_b ** 2 / np.max(mag_b ** 2)
            spectral = float(np.mean((pa - pb) ** 2))
        else:
            spectral = _pearson_loss(mag_a, mag_b)
        norm = mag_a / mag_a.max()
        in_band = (freqs[keep] >= 0.5) & (freqs[keep] <= 3.0)
        ratio = (norm.sum() + 1e-4) / (norm[in_band].sum() + 1e-4) - 1
        out.append(_pearson_loss(a, b) + spectral + ratio)
    return out


@pytest.mark.parametrize("form", ["spectral-pearson", "psd-mse"])
@pytest.mark.parametrize("fs", [60.0, 30.0, 25.0, 12.0])
def test_predictor_loss_matches_numpy_reference(form, fs):
    y_o, y_t = _signals(length=75)
    ours = predictor_loss(y_o, y_t, fs, form=form, reduction="none")
    reference = _reference_rpd(y_o.double().numpy(), y_t.double().numpy(), fs, form)
    torch.testing.assert_close(ours, torch.tensor(reference, dtype=torch.float32), rtol=1e-4, atol=1e-4)


def test_predictor_band_stops_at_nyquist_below_30_fps():
    # At 20 fps the spectra end at fs/2 = 10 Hz: moving energy above 10 Hz is impossible, and a 9 Hz
    # component (inside 0..10 Hz, outside 0.5-3 Hz) must raise the ratio term.
    t = torch.arange(200) / 20.0
    clean = torch.sin(2 * math.pi * 1.5 * t)[None]
    noisy = clean + torch.sin(2 * math.pi * 9.0 * t)[None]
    low = predictor_loss_terms(clean, clean, 20.0).ratio
    high = predictor_loss_terms(noisy, clean, 20.0).ratio
    assert float(high) > float(low) + 0.5


def test_identical_signals_give_zero_distillation_terms():
    y, _ = _signals()
    for form in ("spectral-pearson", "psd-mse"):
        terms = predictor_loss_terms(y, y.clone(), 30.0, form=form)
        torch.testing.assert_close(terms.time, torch.zeros(3), atol=1e-6, rtol=0)
        torch.testing.assert_close(terms.spectrum, torch.zeros(3), atol=1e-6, rtol=0)


def test_predictor_loss_invariant_to_positive_scaling():
    y_o, y_t = _signals()
    for form in ("spectral-pearson", "psd-mse"):
        base = predictor_loss(y_o, y_t, 30.0, form=form, reduction="none")
        scaled = predictor_loss(3.7 * y_o, 0.2 * y_t, 30.0, form=form, reduction="none")
        torch.testing.assert_close(scaled, base, rtol=1e-4, atol=1e-5)


def test_np_invariant_to_affine_maps_and_demeaned_loss_too():
    y_o, y_t = _signals()
    affine_o, affine_t = 2.5 * y_o - 40.0, 0.3 * y_t + 7.0
    terms = predictor_loss_terms(y_o, y_t, 30.0)
    moved = predictor_loss_terms(affine_o, affine_t, 30.0)
    torch.testing.assert_close(moved.time, terms.time, rtol=1e-4, atol=1e-5)
    # the release's spectra keep the DC bin, so an offset changes them; demeaned, nothing changes
    assert not torch.allclose(moved.ratio, terms.ratio, rtol=1e-3)
    base = predictor_loss(y_o, y_t, 30.0, demean=True, reduction="none")
    torch.testing.assert_close(predictor_loss(affine_o, affine_t, 30.0, demean=True, reduction="none"),
                               base, rtol=1e-4, atol=1e-5)


def test_predictor_loss_detaches_the_target_and_reaches_the_online_signal():
    y_o, y_t = _signals()
    y_o.requires_grad_(True)
    y_t.requires_grad_(True)
    predictor_loss(y_o, y_t, 30.0).backward()
    assert y_t.grad is None
    assert y_o.grad is not None and float(y_o.grad.abs().sum()) > 0


def test_predictor_loss_rejects_nan_and_bad_shapes():
    y_o, y_t = _signals()
    y_o[1, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        predictor_loss(y_o, y_t, 30.0)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        predictor_loss(y_t[0], y_t[0], 30.0)
    with pytest.raises(ValueError, match="form"):
        predictor_loss(y_t, y_t, 30.0, form="l1")


def _outputs(seed: int, batch: int = 2, frames: int = 48, dim: int = 8) -> SSPDOutputs:
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(frames) / 30.0
    pulse = torch.sin(2 * math.pi * 1.2 * t)  # (T,)
    hs = [torch.randn(batch, frames - k, dim, generator=gen) + pulse[:frames - k, None] for k in (8, 14, 18)]
    return SSPDOutputs(hs=hs, rppg=torch.randn(batch, frames, generator=gen))


def test_objective_terms_match_the_building_blocks_and_total_weights():
    online, target = _outputs(0), _outputs(1)
    total, scalars = sspd_objective(online, target, fs=30.0)
    for i, (h_o, h_t) in enumerate(zip(online.hs, target.hs)):
        ssm_o, ssm_t = self_similarity_map(h_o), self_similarity_map(h_t)
        ssw_o, ssw_t = self_similarity_wave(ssm_o), self_similarity_wave(ssm_t)
        torch.testing.assert_close(scalars[f"pyr/l{i}"], pyramid_loss(ssm_o, ssm_t, ssw_o, ssw_t))
        torch.testing.assert_close(scalars[f"sd/l{i}"], diagonal_std_loss(ssm_o))
        torch.testing.assert_close(scalars[f"snr/l{i}"], band_ratio_loss(ssw_o, 30.0))
    rpd = predictor_loss(online.rppg, target.rppg, 30.0)
    torch.testing.assert_close(scalars["rpd"], rpd)
    expected = (0.5 * rpd + 0.5 * sum(scalars[f"pyr/l{i}"] for i in range(3))
                + 0.5 * sum(scalars[f"sd/l{i}"] for i in range(3)) / 3
                + 0.2 * sum(scalars[f"snr/l{i}"] for i in range(3)) / 3)
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(scalars["total"], expected)
    assert all(not v.requires_grad and v.ndim == 0 for v in scalars.values())


def test_objective_weights_and_forms_are_applied():
    online, target = _outputs(0), _outputs(1)
    _, base = sspd_objective(online, target, fs=30.0)
    weights = SSPDLossWeights(rpd=1.0, pyr=0.0, sd=2.0, snr=0.0)
    total, _ = sspd_objective(online, target, 30.0, SSPDObjectiveConfig(weights=weights))
    torch.testing.assert_close(total, base["rpd"] + 2.0 * base["sd"])
    _, mse = sspd_objective(online, target, 30.0, SSPDObjectiveConfig(predictor_loss="psd-mse"))
    torch.testing.assert_close(mse["rpd/time"], base["rpd/time"])
    assert not torch.allclose(mse["rpd/spectrum"], base["rpd/spectrum"])


def test_mixed_frame_rates_equal_per_clip_computation():
    online, target = _outputs(0, batch=3), _outputs(1, batch=3)
    fs = torch.tensor([30.0, 20.0, 30.0])
    _, mixed = sspd_objective(online, target, fs)

    def clip(o: SSPDOutputs, i: int) -> SSPDOutputs:
        return SSPDOutputs(hs=[h[i:i + 1] for h in o.hs], rppg=o.rppg[i:i + 1])

    singles = [sspd_objective(clip(online, i), clip(target, i), float(fs[i]))[1] for i in range(3)]
    for name in ("rpd", "rpd/ratio", "snr/l0", "snr/l2", "pyr/l1", "sd/l2"):
        torch.testing.assert_close(mixed[name], torch.stack([s[name] for s in singles]).mean())


def test_objective_routes_gradients_to_online_only():
    online, target = _outputs(0), _outputs(1)
    online = SSPDOutputs(hs=[h.requires_grad_(True) for h in online.hs],
                         rppg=online.rppg.requires_grad_(True))
    target = SSPDOutputs(hs=[h.requires_grad_(True) for h in target.hs],
                         rppg=target.rppg.requires_grad_(True))
    sspd_objective(online, target, 30.0)[0].backward()
    assert all(h.grad is None for h in target.hs) and target.rppg.grad is None
    assert all(float(h.grad.abs().sum()) > 0 for h in online.hs)


def test_frame_rates_and_configuration_errors():
    torch.testing.assert_close(frame_rates(25.0, 3), torch.full((3,), 25.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="one per clip"):
        frame_rates([30.0, 25.0], 3)
    with pytest.raises(ValueError, match="> 0"):
        frame_rates(torch.tensor([30.0, 0.0]), 2)
    with pytest.raises(ValueError, match="> 0"):
        frame_rates(float("nan"), 2)
    with pytest.raises(ValueError, match="every weight is 0"):
        SSPDLossWeights(0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="SSPDLossWeights.sd"):
        SSPDLossWeights(sd=-1.0)
    with pytest.raises(ValueError, match="predictor_loss"):
        SSPDObjectiveConfig(predictor_loss="mse")
    with pytest.raises(ValueError, match="band"):
        SSPDObjectiveConfig(band=(3.0, 0.5))
    with pytest.raises(ValueError, match="ratio_eps"):
        SSPDObjectiveConfig(ratio_eps=0.0)
    online, target = _outputs(0), _outputs(1)
    with pytest.raises(ValueError, match="TS levels"):
        sspd_objective(online, SSPDOutputs(hs=target.hs[:2], rppg=target.rppg), 30.0)


def test_predictor_priors_add_sincs_terms_of_the_online_prediction_to_the_total():
    from sspd.objectives import NetworkOutputs, SiNCConfig, SSPDObjectiveConfig, sinc_objective, sspd_objective

    gen = torch.Generator().manual_seed(5)
    hs = [torch.randn(4, 20, 8, generator=gen)]
    online = NetworkOutputs(hs, torch.randn(4, 64, generator=gen))
    target = NetworkOutputs([h + 0.1 for h in hs], torch.randn(4, 64, generator=gen))
    plain, plain_scalars = sspd_objective(online, target, 30.0, SSPDObjectiveConfig())
    with_priors, scalars = sspd_objective(online, target, 30.0, SSPDObjectiveConfig(predictor_priors=0.5))
    _, sinc = sinc_objective(online, None, torch.full((4,), 30.0), {}, SiNCConfig())
    expected = float(plain) + 0.5 * (float(sinc["bandwidth"]) + float(sinc["sparsity"]) + float(sinc["variance"]))
    assert float(with_priors) == pytest.approx(expected, rel=1e-5)
    assert float(scalars["priors/sparsity"]) == pytest.approx(float(sinc["sparsity"]), rel=1e-5)
    assert "priors/bandwidth" not in plain_scalars
