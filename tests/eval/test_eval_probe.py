"""The linear probe: subject selection, feature caching, training, the online form, and that a probe reads
the pulse from features that carry it and not from features that do not."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from sspd.eval.baseline_eval import evaluate_methods
from sspd.eval.model_eval import network_signals, synthetic_videos
from sspd.eval.probe import (FeatureSet, OnlineProbe, ProbeConfig, extract_features, probe_loss, probe_predictor,
                             select_subjects, train_probe)


class MeanColour(nn.Module):
    """Features that carry the pulse: the view itself, so pooled features are the mean colour difference."""

    feature_dim = 3

    def forward_features(self, x):
        return x  # (B, 3, T, h, w)


class Noise(nn.Module):
    """Features of pure noise, the same shape and scale, seeded."""

    feature_dim = 3

    def __init__(self):
        super().__init__()
        self.generator = torch.Generator().manual_seed(0)

    def forward_features(self, x):
        return torch.randn(x.shape[0], 3, x.shape[2], 1, 1, generator=self.generator)


@pytest.fixture(scope="module")
def videos():
    return (synthetic_videos(6, seconds=9.0, size=24, seed=11),
            synthetic_videos(3, seconds=20.5, size=24, seed=12))


def _probe_mae(backbone, train, test, fraction=1.0):
    features = extract_features(backbone, train, window=64, input_size=16, target="diff")
    head, losses = train_probe(features, config=ProbeConfig(steps=150, lr=0.05),
                               subjects=select_subjects(features.subjects, fraction, seed=0))
    signals = network_signals(probe_predictor(backbone, head), test, window=64, input_size=16, target="diff")
    return evaluate_methods(signals, window_s=10.0)["model"]["summary"]["metrics"]["mae"], losses


def test_probe_reads_the_pulse_from_mean_colour_but_not_from_noise(videos):
    train, test = videos
    mae_colour, losses = _probe_mae(MeanColour(), train, test)
    mae_noise, _ = _probe_mae(Noise(), train, test)
    assert losses[-1] < losses[0]
    assert mae_colour < 10.0 < mae_noise


def test_extract_features_shapes_targets_and_cache(videos, tmp_path):
    train, _ = videos
    cache = tmp_path / "features.pt"
    features = extract_features(MeanColour(), train[:2], window=64, input_size=16, cache_file=cache)
    per_video = (270 - 65) // 64 + 1  # non-overlapping windows of 65 frames in 270
    assert features.features.shape == (2 * per_video, 3, 64) and features.targets.shape == (2 * per_video, 64)
    np.testing.assert_allclose(features.targets[0].numpy(), np.diff(train[0].label[:65]), rtol=1e-5, atol=1e-6)
    assert features.subjects == [train[0].subject] * per_video + [train[1].subject] * per_video
    again = extract_features(MeanColour(), train[:2], window=64, input_size=16, cache_file=cache)  # read back
    torch.testing.assert_close(again.features, features.features)
    with pytest.raises(ValueError, match="features.pt.*another network"):   # never another backbone's features
        extract_features(Noise(), train[:2], window=64, input_size=16, cache_file=cache)
    with pytest.raises(ValueError, match="features.pt.*other .*window"):
        extract_features(MeanColour(), train[:2], window=32, input_size=16, cache_file=cache)
    with pytest.raises(ValueError, match="no video has"):
        extract_features(MeanColour(), train[:1], window=400, input_size=16)


def test_select_subjects_is_seeded_nested_and_checked():
    subjects = [f"s{i}" for i in range(10)] * 3
    quarter, half = select_subjects(subjects, 0.25, seed=5), select_subjects(subjects, 0.5, seed=5)
    assert len(quarter) == 2 and len(half) == 5 and set(quarter) <= set(half)
    assert select_subjects(subjects, 0.5, seed=5) == half != select_subjects(subjects, 0.5, seed=6)
    assert len(select_subjects(subjects, 0.01)) == 1
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="label fraction"):
            select_subjects(subjects, bad)


def test_probe_loss_band_term_penalises_out_of_band_energy():
    t = torch.arange(300) / 30.0
    in_band = torch.sin(2 * math.pi * 1.2 * t)[None]
    out_band = torch.sin(2 * math.pi * 6.0 * t)[None]
    assert probe_loss(in_band, in_band, 30.0).item() == pytest.approx(0.0, abs=1e-6)
    with_term = probe_loss(in_band + out_band, in_band, 30.0, band_weight=1.0)
    without = probe_loss(in_band + out_band, in_band, 30.0)
    assert with_term.item() - without.item() == pytest.approx(0.5, abs=0.05)  # half the energy is out of band


def test_train_probe_recovers_a_linear_readout():
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(12, 50, generator=gen)
    features = torch.randn(12, 4, 50, generator=gen) * 0.1
    features[:, 2] += 3.0 * target  # channel 2 carries the target
    head, _ = train_probe(FeatureSet(features, target, ["a"] * 12, [30.0] * 12, "diff"),
                          config=ProbeConfig(steps=200, lr=0.05))
    weights = head.linear.weight.detach().flatten().abs()
    assert int(weights.argmax()) == 2 and weights[2] > 5 * weights[[0, 1, 3]].max()
    with pytest.raises(ValueError, match="several frame rates"):
        train_probe(FeatureSet(features, target, ["a"] * 12, [30.0] * 6 + [25.0] * 6, "diff"))
    with pytest.raises(ValueError, match="ProbeConfig"):
        ProbeConfig(steps=0)


def test_online_probe_test_then_train():
    fs, t = 30.0, torch.arange(65) / 30.0
    probe = OnlineProbe(feature_dim=3, fs=fs, lr=0.05, steps_per_update=10)
    assert math.isnan(probe.evaluate()["probe/r"])
    gen = torch.Generator().manual_seed(1)
    for _ in range(6):
        hz = 1.0 + torch.rand(4, 1, generator=gen)
        ppg = torch.sin(2 * math.pi * hz * t + torch.rand(4, 1, generator=gen) * 6)  # (B, T+1)
        features = torch.randn(4, 3, 64, generator=gen) * 0.05
        features[:, 1] += ppg[:, 1:] - ppg[:, :-1]  # the pulse's difference, as frame-difference features carry
        probe.update(features, ppg)
    first = probe.evaluate()
    assert first["probe/batches"] == 6.0 and probe.evaluate()["probe/batches"] == 0.0
    probe.update(features, ppg)
    late = probe.evaluate()
    assert late["probe/r"] > 0.95 and late["probe/hr_mae_bpm"] < 5.0 and late["probe/r"] > first["probe/r"]
    with pytest.raises(ValueError, match=r"ppg \(B, T\+1\)"):
        probe.update(features, ppg[:, 1:])


def test_online_probe_hr_score_ignores_a_constant_bias_of_the_head():
    # A head that reproduces the PPG's difference exactly up to a constant offset: r = 1, and the HR
    # score must agree. Integrating without removing the mean first turns the offset into a ramp.
    from sspd.eval.probe import OnlineProbe

    fs, hr = 30.0, 72.0
    t = torch.arange(49, dtype=torch.float64) / fs  # 1.6 s clips, where a ramp dominates the spectrum
    ppg = torch.stack([torch.sin(2 * torch.pi * (hr / 60) * t + phase) for phase in (0.0, 1.0)])  # (2, T+1)
    diff = ppg.diff(dim=-1).float()  # (2, T)
    probe = OnlineProbe(feature_dim=1, fs=fs, target="diff")
    with torch.no_grad():
        probe.head.linear.weight.fill_(1.0)
        probe.head.linear.bias.fill_(0.2)  # comparable to the difference signal's amplitude
    scores = probe._score(diff[:, None, :], diff)
    assert scores["r"] == pytest.approx(1.0, abs=1e-5)
    assert scores["hr_mae_bpm"] < 4.0  # 1.6 s windows resolve HR coarsely; the ramp gave 45 bpm (27 off)


def test_online_probe_leaves_the_global_rng_alone():
    from sspd.eval.probe import OnlineProbe

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    OnlineProbe(feature_dim=4, fs=30.0, seed=7)
    torch.testing.assert_close(torch.rand(3), expected)


def test_the_feature_cache_key_holds_the_weights_not_only_the_architecture(videos, tmp_path):
    """A random-init probe must not read the pretrained network's cached features (same class, new weights)."""
    train, _ = videos
    cache = tmp_path / "features.pt"
    torch.manual_seed(0)
    trained = nn.Conv3d(3, 3, 1)
    extract_features(_Features(trained), train[:1], window=64, input_size=16, cache_file=cache)
    torch.manual_seed(1)
    with pytest.raises(ValueError, match="another network"):
        extract_features(_Features(nn.Conv3d(3, 3, 1)), train[:1], window=64, input_size=16, cache_file=cache)
    extract_features(_Features(trained), train[:1], window=64, input_size=16, cache_file=cache)  # its own: read


@pytest.mark.parametrize("content", [b"not a torch file at all", b"\x80\x04\x95garbage", b"PK\x03\x04broken"])
def test_a_foreign_feature_cache_is_one_clear_error(videos, tmp_path, content):
    cache = tmp_path / "features.pt"
    cache.write_bytes(content)
    with pytest.raises(ValueError, match=r"features\.pt.*not a feature cache"):
        extract_features(MeanColour(), videos[0][:1], window=64, input_size=16, cache_file=cache)
    assert cache.read_bytes() == content


class _Features(nn.Module):
    """A 1x1x1 convolution as the backbone: features = conv(view)."""

    feature_dim = 3

    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward_features(self, x):
        return self.conv(x)
