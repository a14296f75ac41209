"""Per-frame view motion: the two views' motions differ while the pulse they carry is the same."""
from __future__ import annotations

import math

import pytest
import torch

from sspd.augment import ViewOptions, make_views, random_motion, shift_frames
from sspd.augment.motion import motion_trajectories

FS = 30.0


def _dot_clip(frames: int = 60, size: int = 32) -> torch.Tensor:
    """(1, 3, T, S, S): a bright Gaussian dot at the centre of every frame, on grey."""
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    dot = 100 + 100 * torch.exp(-((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / 8.0)
    return dot[None, None, None].expand(1, 3, frames, size, size).contiguous()


def _centroid_x(clip: torch.Tensor) -> torch.Tensor:
    """(T,) x centroid of the bright part of channel 0."""
    img = (clip[0, 0] - 100).clamp_min(0)                                   # (T, H, W)
    xs = torch.arange(img.shape[-1], dtype=torch.float32)
    return (img.sum(dim=1) * xs).sum(dim=-1) / img.sum(dim=(1, 2))


def test_shift_moves_the_content_by_the_given_pixels():
    clip = _dot_clip(frames=3)
    shifts = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [-1.5, 0.0]]])
    moved = shift_frames(clip, shifts)
    torch.testing.assert_close(_centroid_x(moved) - _centroid_x(clip), torch.tensor([0.0, 2.0, -1.5]),
                               atol=0.05, rtol=0)


def test_trajectories_stay_within_the_amplitude_and_are_in_band():
    shifts = motion_trajectories(64, 300, torch.Generator().manual_seed(0), amplitude_px=3.0, rate_hz=(0.5, 3.0),
                                 fs=FS, device=torch.device("cpu"))
    assert shifts.shape == (64, 300, 2) and float(shifts.abs().max()) <= 3.0 * 1.5 + 1e-5
    detrended = shifts - shifts.mean(dim=1, keepdim=True)
    spectrum = torch.fft.rfft(detrended, dim=1).abs().square().sum(dim=(0, 2))  # (F,)
    freqs = torch.fft.rfftfreq(300, 1 / FS)
    assert float(spectrum[(freqs >= 0.4) & (freqs <= 3.1)].sum() / spectrum[1:].sum()) > 0.6


def test_views_differ_in_motion_and_share_the_pulse():
    frames, size = 90, 32
    t = torch.arange(frames) / FS
    pulse = 0.01 * torch.sin(2 * math.pi * 1.2 * t)                      # a 1 % pulse on the whole frame
    clip = _dot_clip(frames, size) * (1 + pulse)[None, None, :, None, None]
    clip = clip.expand(2, -1, -1, -1, -1).contiguous()
    options = ViewOptions(motion_px=3.0, keep_prob=1.0, p_horizontal=0.0, p_vertical=0.0, crop="center")
    online, target = make_views(clip, size - 4, torch.Generator().manual_seed(1), options, fs=FS)
    # motion: the dot's path in the two views is not the same (difference frames keep the moving edge)
    still_online, still_target = make_views(clip, size - 4, torch.Generator().manual_seed(1),
                                            ViewOptions(keep_prob=1.0, p_horizontal=0.0, p_vertical=0.0,
                                                        crop="center"), fs=FS)
    moved_o, moved_t = (online - still_online).abs().mean(), (target - still_target).abs().mean()
    assert float(moved_o) > 0.05 and float(moved_t) > 0.05
    assert float((online[:, :, :, 2:-2, 2:-2] - target[:, :, :, 2:-2, 2:-2]).abs().mean()) > 0.05
    # pulse: the mean of each view's difference frames over the frame follows the same pulse derivative
    background = (slice(None), 0, slice(None), slice(0, 4), slice(None))   # grey rows, away from the dot
    corr = torch.corrcoef(torch.stack([online[background].mean(dim=(-1, -2))[0],
                                       target[background].mean(dim=(-1, -2))[0]]))[0, 1]
    assert float(corr) > 0.95


def test_zero_amplitude_is_the_release_and_bad_options_raise():
    clip = _dot_clip(frames=4)
    assert random_motion(clip, torch.Generator(), amplitude_px=0.0) is clip
    with pytest.raises(ValueError, match="motion_px"):
        ViewOptions(motion_px=-1.0)
    with pytest.raises(ValueError, match="shifts must be"):
        shift_frames(clip, torch.zeros(1, 3, 2))
