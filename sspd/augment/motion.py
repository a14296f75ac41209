"""Per-frame motion of a view: each sample's frames shifted along its own random trajectory.

Drawn independently for SSPD's two views, it makes their motion differ while their pulse (the skin's
colour change, which a small shift barely alters when averaged over the face) stays shared, so agreement
between the views can come from the pulse and not from the head's movement.

    moved = random_motion(clip, generator, amplitude_px=3.0)      # (B, C, T, H, W) -> same shape

Trajectory of sample b, per axis: a sinusoid of amplitude A·u (u ~ U(0, 1)) at a rate drawn from
``rate_hz`` (inside the pulse band on purpose: in-band motion is what the network must learn to ignore)
with a random phase, plus a slow drift of up to A/2 across the clip. Shifts are sub-pixel (bilinear),
with the border repeated.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from sspd.augment._checks import check_clip
from sspd.augment._draws import uniform

__all__ = ["motion_trajectories", "shift_frames", "random_motion"]


def motion_trajectories(batch: int, frames: int, generator: torch.Generator, *, amplitude_px: float,
                        rate_hz: tuple[float, float], fs: float, device: torch.device) -> Tensor:
    """(B, T, 2) per-frame (dx, dy) shifts in pixels, see the module docstring."""
    t = torch.arange(frames, device=device, dtype=torch.float32) / fs                # (T,)
    amp = amplitude_px * uniform((batch, 1, 2), 0.0, 1.0, generator, device)       # (B, 1, 2)
    rate = uniform((batch, 1, 2), rate_hz[0], rate_hz[1], generator, device)
    phase = uniform((batch, 1, 2), 0.0, 2 * math.pi, generator, device)
    drift = uniform((batch, 1, 2), -0.5, 0.5, generator, device) * amplitude_px
    ramp = (t / t[-1].clamp_min(1e-6) - 0.5)[None, :, None]                          # (1, T, 1)
    return amp * torch.sin(2 * math.pi * rate * t[None, :, None] + phase) + drift * ramp  # (B, T, 2)


def shift_frames(clip: Tensor, shifts: Tensor) -> Tensor:
    """Shift every frame of (B, C, T, H, W) by ``shifts`` (B, T, 2) pixels (dx, dy), bilinear, border kept."""
    check_clip(clip, "shift_frames")
    b, c, t, h, w = clip.shape
    if shifts.shape != (b, t, 2):
        raise ValueError(f"shift_frames: shifts must be (B, T, 2) = ({b}, {t}, 2), got {tuple(shifts.shape)}")
    theta = torch.zeros(b * t, 2, 3, device=clip.device, dtype=clip.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    scale = torch.tensor([2.0 / w, 2.0 / h], device=clip.device, dtype=clip.dtype)  # pixels -> [-1, 1] units
    theta[:, :, 2] = -(shifts.reshape(b * t, 2).to(clip.dtype) * scale)            # content moves by +shift
    frames = clip.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)                   # (B·T, C, H, W)
    grid = F.affine_grid(theta, [b * t, c, h, w], align_corners=False)
    moved = F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return moved.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)                     # (B, C, T, H, W)


def random_motion(clip: Tensor, generator: torch.Generator, *, amplitude_px: float,
                  rate_hz: tuple[float, float] = (0.5, 3.0), fs: float = 30.0) -> Tensor:
    """``clip`` (B, C, T, H, W) with each sample moved along its own random trajectory (0 px: unchanged)."""
    if amplitude_px < 0 or not 0 < rate_hz[0] <= rate_hz[1]:
        raise ValueError(f"random_motion: amplitude_px must be >= 0 and 0 < rate low <= high, got "
                         f"{amplitude_px}, {rate_hz}")
    if amplitude_px == 0:
        return clip
    b, _, t = clip.shape[:3]
    shifts = motion_trajectories(b, t, generator, amplitude_px=amplitude_px, rate_hz=rate_hz, fs=fs,
                                 device=clip.device)
    return shift_frames(clip, shifts)
