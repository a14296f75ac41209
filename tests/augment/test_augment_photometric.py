import pytest
import torch

from sspd.augment import add_sensor_noise, random_illumination, random_pixel_mask


def test_pixel_mask_is_shared_across_channels_and_keeps_the_right_fraction():
    clip = torch.rand(4, 3, 10, 16, 16, generator=torch.Generator().manual_seed(0)) + 1.0  # no zeros
    out = random_pixel_mask(clip, torch.Generator().manual_seed(1), keep_prob=0.7)
    kept = out != 0
    assert torch.equal(kept[:, 0], kept[:, 1]) and torch.equal(kept[:, 0], kept[:, 2])
    torch.testing.assert_close(out[kept], clip[kept], atol=0, rtol=0)
    fraction = float(kept[:, 0].float().mean())  # 10,240 Bernoulli(0.7) draws: sd 0.0045
    assert abs(fraction - 0.7) < 0.025
    assert torch.equal(random_pixel_mask(clip, torch.Generator(), keep_prob=1.0), clip)


def test_illumination_is_a_per_sample_gain_with_a_linear_drift():
    clip = torch.rand(6, 3, 9, 4, 4, generator=torch.Generator().manual_seed(0)) + 0.5
    out = random_illumination(clip, torch.Generator().manual_seed(2), gain_range=(0.8, 1.2),
                              drift_range=(-0.2, 0.2))
    factor = out / clip                                      # (B, C, T, H, W)
    per_frame = factor[:, 0, :, 0, 0]                        # (B, T)
    torch.testing.assert_close(factor, per_frame[:, None, :, None, None].expand_as(factor),
                               atol=1e-5, rtol=1e-5)
    for b in range(6):
        gain, drift = float(per_frame[b, 0]), float(per_frame[b, -1] / per_frame[b, 0] - 1)
        assert 0.8 <= gain < 1.2 and -0.2 <= drift < 0.2
        expected = gain * (1 + drift * torch.arange(9) / 8)
        torch.testing.assert_close(per_frame[b], expected, atol=1e-5, rtol=1e-5)
    assert len({round(float(g), 6) for g in per_frame[:, 0]}) == 6


def test_sensor_noise_has_the_requested_spread():
    clip = torch.zeros(2, 3, 20, 32, 32)
    noise = add_sensor_noise(clip, torch.Generator().manual_seed(0), std=2.0)
    assert abs(float(noise.mean())) < 0.05 and abs(float(noise.std()) - 2.0) < 0.05  # 122,880 samples
    assert add_sensor_noise(clip, torch.Generator(), std=0.0) is clip


def test_photometric_errors():
    clip = torch.ones(1, 3, 4, 2, 2)
    with pytest.raises(ValueError, match="keep_prob"):
        random_pixel_mask(clip, torch.Generator(), keep_prob=1.2)
    with pytest.raises(ValueError, match="low <= high"):
        random_illumination(clip, torch.Generator(), gain_range=(1.2, 0.8))
    with pytest.raises(ValueError, match="gains must be > 0"):
        random_illumination(clip, torch.Generator(), gain_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="std"):
        add_sensor_noise(clip, torch.Generator(), std=-1.0)
