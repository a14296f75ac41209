import math

import numpy as np
import pytest
import torch

from sspd.diagnostics import (PROBE_DESCRIPTIONS, ProbeBuffer, compute_probes, cross_clip_correlation,
                              effective_rank, feature_std, hr_spread, in_band_fraction, toeplitz_score)
from sspd.ssm import self_similarity_map, self_similarity_wave

FS = 30.0


def _batch(b, seed, n_frames=300, d=16):
    g = torch.Generator().manual_seed(seed)
    bpm = 55 + 80 * torch.rand(b, generator=g)
    t = torch.arange(n_frames) / FS
    pred = torch.sin(2 * math.pi * bpm[:, None] / 60 * t[None] + 6 * torch.rand(b, 1, generator=g))
    pred = pred + 0.2 * torch.randn(b, n_frames, generator=g)
    pooled = torch.randn(b, d, n_frames, generator=g)
    return pooled, pred, bpm


def _green(clips):
    return clips[:, 1].mean(dim=(-1, -2))


def test_compute_probes_returns_every_described_probe_with_the_functions_values():
    buffer = ProbeBuffer(capacity=32)
    for seed in range(8):
        pooled, pred, bpm = _batch(4, seed)
        buffer.add(pooled=pooled, predictions=pred, labels_hr=bpm)
    g = torch.Generator().manual_seed(9)
    tokens = torch.randn(4, 282, 8, generator=g)
    ssm = self_similarity_map(tokens)
    ssw = self_similarity_wave(ssm)
    clips = 0.5 + 0.01 * torch.randn(4, 3, 300, 2, 2, generator=g)
    clips[:, 1] += 0.05 * pred[:, :, None, None]
    probes = compute_probes(fs=FS, pooled=pooled, predictions=pred, target_predictions=2 * pred + 1,
                            ssm=ssm, ssw=ssw, buffer=buffer, model_fn=_green, clips=clips,
                            generator=torch.Generator().manual_seed(0))
    assert set(probes) == set(PROBE_DESCRIPTIONS)
    assert all(isinstance(v, float) and math.isfinite(v) for v in probes.values())
    assert probes["collapse/agreement"] == pytest.approx(1.0)
    assert probes["collapse/cross_clip_corr"] == pytest.approx(cross_clip_correlation(buffer.predictions))
    assert probes["collapse/effective_rank"] == pytest.approx(effective_rank(buffer.features))
    assert probes["collapse/effective_rank_frac"] == pytest.approx(probes["collapse/effective_rank"] / 16)
    assert probes["collapse/feature_std_clips"] == pytest.approx(
        feature_std(buffer.features[:, :, None], over="clips", relative=True))
    assert probes["collapse/feature_std_time"] == pytest.approx(
        feature_std(pooled, over="time", relative=True))
    assert probes["collapse/ssw_in_band"] == pytest.approx(in_band_fraction(ssw, FS, (0.75, 2.5)))
    assert probes["collapse/ssm_toeplitz"] == pytest.approx(toeplitz_score(ssm, ignore_main_diagonal=True))
    spread = hr_spread(buffer.predictions, FS, (0.75, 2.5), buffer.labels_hr)
    assert probes["collapse/hr_pileup_excess"] == pytest.approx(spread.pileup_excess)
    assert probes["collapse/hr_std_ratio"] == pytest.approx(spread.std_ratio, rel=1e-6)


def test_per_clip_probes_wait_for_min_clips_and_use_the_batch_without_buffer():
    pooled, pred, bpm = _batch(2, 0)
    small = compute_probes(fs=FS, pooled=pooled, predictions=pred)
    assert "collapse/cross_clip_corr" not in small and "collapse/feature_std_clips" not in small
    assert {"collapse/pred_in_band", "collapse/pred_temporal_std", "collapse/feature_std_time"} <= set(small)
    pooled, pred, bpm = _batch(20, 1)
    batch = compute_probes(fs=FS, pooled=pooled, predictions=pred, labels_hr=bpm)
    assert batch["collapse/cross_clip_corr"] == pytest.approx(cross_clip_correlation(pred))
    assert "collapse/hr_pileup_excess" in batch
    assert "collapse/cross_clip_corr" not in compute_probes(fs=FS, predictions=pred, min_clips=21)


def test_undefined_probes_are_left_out():
    t = np.arange(100) / 5.0
    pred = np.sin(2 * np.pi * 1.5 * t)[None].repeat(2, 0)   # 2 x HR above the Nyquist frequency
    probes = compute_probes(fs=5.0, band=(0.75, 2.0), predictions=pred)
    assert "collapse/harmonic_ratio" not in probes and "collapse/pred_in_band" in probes
    flat = compute_probes(fs=FS, predictions=torch.ones(20, 300))
    assert "collapse/hr_pileup" not in flat and flat["collapse/pred_temporal_std"] == 0.0


def test_compute_probes_errors():
    pooled, pred, bpm = _batch(2, 0)
    with pytest.raises(ValueError, match="min_clips"):
        compute_probes(fs=FS, predictions=pred, min_clips=1)
    with pytest.raises(ValueError, match="model_fn and clips together"):
        compute_probes(fs=FS, predictions=pred, model_fn=_green)
    with pytest.raises(ValueError, match="without predictions"):
        compute_probes(fs=FS, target_predictions=pred)
    with pytest.raises(ValueError, match="one label each"):
        compute_probes(fs=FS, predictions=pred, labels_hr=bpm[:1])
    with pytest.raises(ValueError, match="fs must be"):
        compute_probes(fs=0, pooled=pooled)
    with pytest.raises(ValueError, match="Nyquist"):
        compute_probes(fs=4.0, pooled=pooled)
