"""Photometric view operations on batched clips (B, C, T, H, W): pixel masks, illumination, sensor noise."""
from __future__ import annotations

import torch
from torch import Tensor

from sspd.augment._checks import check_clip
from sspd.augment._draws import bernoulli, uniform

__all__ = ["random_pixel_mask", "random_illumination", "add_sensor_noise"]


def random_pixel_mask(clip: Tensor, generator: torch.Generator, keep_prob: float = 0.7) -> Tensor:
    """Zero each (t, y, x) of each sample with probability 1 - ``keep_prob``, the same for all channels.

    (B, C, T, H, W) in and out. Kept pixels are not rescaled (as in SSPD's online view): the masked
    clip has ``keep_prob`` times the energy of the input.
    """
    check_clip(clip, "random_pixel_mask")
    if not 0.0 <= keep_prob <= 1.0:
        raise ValueError(f"random_pixel_mask: keep_prob must lie in [0, 1], got {keep_prob}")
    b, _, t, h, w = clip.shape
    keep = bernoulli((b, 1, t, h, w), keep_prob, generator, clip.device)  # (B, 1, T, H, W)
    return clip * keep.to(clip.dtype)


def random_illumination(clip: Tensor, generator: torch.Generator,
                        gain_range: tuple[float, float] = (0.8, 1.2),
                        drift_range: tuple[float, float] = (-0.1, 0.1)) -> Tensor:
    """Multiply each sample by a global gain and a linear brightness drift over time.

    factor[b, t] = g_b · (1 + δ_b · t / (T - 1)), with g_b ~ U(gain_range) and δ_b ~ U(drift_range),
    the same for every channel and pixel (a white light source getting brighter or dimmer). Apply it
    to raw intensities, before the frame difference. (B, C, T, H, W) in and out.
    """
    check_clip(clip, "random_illumination")
    for name, (low, high) in (("gain_range", gain_range), ("drift_range", drift_range)):
        if not low <= high:
            raise ValueError(f"random_illumination: {name} must satisfy low <= high, got {(low, high)}")
    if gain_range[0] <= 0 or drift_range[0] <= -1:
        raise ValueError("random_illumination: gains must be > 0 and drifts > -1 (the light cannot go "
                         f"negative), got gain_range={gain_range}, drift_range={drift_range}")
    b, t = clip.shape[0], clip.shape[2]
    gains = uniform((b, 1), *gain_range, generator, clip.device)            # (B, 1)
    drifts = uniform((b, 1), *drift_range, generator, clip.device)          # (B, 1)
    ramp = torch.linspace(0.0, 1.0, t, device=clip.device)[None, :]         # (1, T)
    factor = gains * (1.0 + drifts * ramp)                                  # (B, T)
    return clip * factor.to(clip.dtype)[:, None, :, None, None]


def add_sensor_noise(clip: Tensor, generator: torch.Generator, std: float) -> Tensor:
    """Add independent Gaussian noise of standard deviation ``std`` (in the clip's intensity units)
    to every value: (B, C, T, H, W) in and out."""
    check_clip(clip, "add_sensor_noise")
    if std < 0:
        raise ValueError(f"add_sensor_noise: std must be >= 0, got {std}")
    if std == 0:
        return clip
    noise = torch.randn(clip.shape, generator=generator, device=generator.device)
    return clip + std * noise.to(clip.device, clip.dtype)
