import math

import pytest
import torch

from sspd.augment import frame_difference, random_speed, resample_speed


def test_raw_and_normalized_differences_match_their_formulas():
    clip = torch.rand(2, 3, 6, 4, 5, generator=torch.Generator().manual_seed(0)) * 255
    raw, norm = frame_difference(clip), frame_difference(clip, mode="normalized", eps=1e-3)
    assert raw.shape == norm.shape == (2, 3, 5, 4, 5)
    for t in range(5):
        a, b = clip[:, :, t], clip[:, :, t + 1]
        torch.testing.assert_close(raw[:, :, t], b - a, atol=0, rtol=0)
        torch.testing.assert_close(norm[:, :, t], (b - a) / (b + a + 1e-3), atol=1e-6, rtol=1e-6)


def test_normalized_difference_ignores_brightness_and_handles_black_frames():
    clip = torch.rand(1, 3, 4, 2, 2, generator=torch.Generator().manual_seed(1)) + 0.5
    torch.testing.assert_close(frame_difference(7.0 * clip, mode="normalized"),
                               frame_difference(clip, mode="normalized"), atol=1e-5, rtol=1e-5)
    black = frame_difference(torch.zeros(1, 3, 3, 2, 2), mode="normalized")
    assert torch.equal(black, torch.zeros(1, 3, 2, 2, 2))


def _signal_clip(signal):
    """(B, T) → (B, 3, T, 2, 2) clip whose every pixel carries the signal."""
    return signal[:, None, :, None, None].expand(-1, 3, -1, 2, 2).contiguous()


def test_integer_and_half_speeds_pick_and_average_frames_exactly():
    frames = torch.arange(12, dtype=torch.float32)[None]  # frame t has value t
    doubled = resample_speed(_signal_clip(frames), torch.tensor([2.0]), 6)
    assert doubled.clip[0, 0, :, 0, 0].tolist() == [0, 2, 4, 6, 8, 10]
    halved = resample_speed(_signal_clip(frames), torch.tensor([0.5]), 5, label=frames,
                            hr=torch.tensor([70.0]))
    assert halved.clip[0, 2, :, 1, 1].tolist() == [0, 0.5, 1, 1.5, 2]
    assert halved.label.tolist() == [[0, 0.5, 1, 1.5, 2]] and halved.hr.tolist() == [35.0]


def test_speed_scales_the_pulse_frequency_and_the_heart_rate():
    fs, hz, n_in, n_out = 30.0, 1.2, 400, 300
    t = torch.arange(n_in) / fs
    pulse = torch.sin(2 * math.pi * hz * t).repeat(3, 1)           # (3, T_in)
    out = random_speed(_signal_clip(pulse), torch.Generator().manual_seed(0), n_out,
                       speed_range=(0.8, 1.3), label=pulse, hr=torch.full((3,), 72.0))
    assert out.clip.shape == (3, 3, n_out, 2, 2) and out.label.shape == (3, n_out)
    t_out = torch.arange(n_out) / fs
    for b in range(3):
        s = float(out.speeds[b])
        assert 0.8 <= s < 1.3 and math.isclose(float(out.hr[b]), 72.0 * s, rel_tol=1e-6)
        expected = torch.sin(2 * math.pi * hz * s * t_out)  # linear interpolation error < (ωΔ)²/8
        torch.testing.assert_close(out.label[b], expected, atol=0.01, rtol=0)
        torch.testing.assert_close(out.clip[b, 1, :, 0, 1], out.label[b], atol=1e-6, rtol=0)
    assert len(set(out.speeds.tolist())) == 3


def test_temporal_errors():
    clip = torch.zeros(2, 3, 10, 2, 2)
    with pytest.raises(ValueError, match="at least 2 frames"):
        frame_difference(clip[:, :, :1])
    with pytest.raises(ValueError, match="mode"):
        frame_difference(clip, mode="log")
    with pytest.raises(ValueError, match="input frames"):
        resample_speed(clip, torch.tensor([1.5, 1.0]), 8)
    with pytest.raises(ValueError, match="positive"):
        resample_speed(clip, torch.tensor([1.0, -1.0]), 5)
    with pytest.raises(ValueError, match="label"):
        resample_speed(clip, torch.tensor([1.0, 1.0]), 5, label=torch.zeros(2, 9))
    with pytest.raises(ValueError, match="speed_range"):
        random_speed(clip, torch.Generator(), 5, speed_range=(1.2, 0.8))
