"""Temporal view operations on batched clips (B, C, T, H, W): frame differences, speed resampling."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from sspd.augment._checks import check_clip
from sspd.augment._draws import uniform

__all__ = ["frame_difference", "resample_speed", "random_speed", "SpeedResampled", "DIFFERENCE_MODES"]

DIFFERENCE_MODES = ("raw", "normalized")


def frame_difference(clip: Tensor, mode: str = "raw", eps: float = 1e-7) -> Tensor:
    """Differences of consecutive frames: (B, C, T+1, H, W) → (B, C, T, H, W).

    ``mode="raw"`` (the SSPD release): D[t] = F[t+1] - F[t] on the intensities as given.
    ``mode="normalized"`` (DeepPhys): D[t] = (F[t+1] - F[t]) / (F[t+1] + F[t] + eps), which removes
    the skin's brightness; it expects non-negative intensities (raw pixel values, not standardised).
    """
    check_clip(clip, "frame_difference", min_frames=2)
    if mode not in DIFFERENCE_MODES:
        raise ValueError(f"frame_difference: mode must be one of {DIFFERENCE_MODES}, got {mode!r}")
    later, earlier = clip[:, :, 1:], clip[:, :, :-1]  # (B, C, T, H, W) each
    if mode == "raw":
        return later - earlier
    if eps <= 0:
        raise ValueError(f"frame_difference: eps must be > 0, got {eps}")
    return (later - earlier) / (later + earlier + eps)


class SpeedResampled(NamedTuple):
    """What :func:`resample_speed` returns; ``label`` and ``hr`` are None when none was given."""

    clip: Tensor          # (B, C, T_out, H, W)
    speeds: Tensor        # (B,) speed factor of each sample
    label: Tensor | None  # (B, T_out) label signal resampled like the clip
    hr: Tensor | None     # (B,) heart rate times the speed factor


def _interpolation(speeds: Tensor, num_frames: int, in_frames: int) -> tuple[Tensor, Tensor, Tensor]:
    """Indices (B, T_out) of the frames around t·s and the weight (B, T_out) of the later one."""
    steps = torch.arange(num_frames, device=speeds.device, dtype=torch.float64)
    positions = steps[None, :] * speeds.double()[:, None]             # (B, T_out)
    before = positions.floor().long().clamp_max(in_frames - 1)         # (B, T_out)
    after = (before + 1).clamp_max(in_frames - 1)
    return before, after, (positions - before).float()


def resample_speed(clip: Tensor, speeds: Tensor, num_frames: int, label: Tensor | None = None,
                   hr: Tensor | None = None) -> SpeedResampled:
    """Play each sample at ``speeds[b]`` times its speed, by linear interpolation between frames.

    Output frame t is input time t·s (frames), so a pulse of f Hz becomes s·f Hz: the heart rate is
    multiplied by s and the label signal is resampled at the same positions.

    Args:
        clip: (B, C, T_in, H, W), with (num_frames - 1)·max(speeds) <= T_in - 1.
        speeds: (B,) positive speed factors (> 1: faster, higher HR).
        num_frames: T_out, the output length.
        label: optional (B, T_in) signal aligned with the frames (e.g. the PPG).
        hr: optional (B,) heart rates (any unit).
    """
    check_clip(clip, "resample_speed")
    b, _, in_frames = clip.shape[:3]
    if speeds.shape != (b,) or not bool((speeds > 0).all()):
        raise ValueError(
            f"resample_speed: speeds must be (B={b},) positive factors, got {tuple(speeds.shape)}")
    if num_frames < 1 or (num_frames - 1) * float(speeds.max()) > in_frames - 1 + 1e-6:
        raise ValueError(
            f"resample_speed: {num_frames} frames at speed {float(speeds.max()):.3g} need "
            f"{(num_frames - 1) * float(speeds.max()) + 1:.1f} input frames, the clip has {in_frames}: "
            "read longer windows or lower the speed range")
    before, after, weight = _interpolation(speeds.to(clip.device), num_frames, in_frames)
    batch = torch.arange(b, device=clip.device)[:, None]                                # (B, 1)
    w = weight.to(clip.dtype)[:, :, None, None, None]                                  # (B, T_out, 1, 1, 1)
    frames = torch.lerp(clip[batch, :, before], clip[batch, :, after], w)              # (B, T_out, C, H, W)
    new_label = None
    if label is not None:
        if label.shape != (b, in_frames):
            raise ValueError(
                f"resample_speed: label must be (B, T_in)=({b}, {in_frames}), got {tuple(label.shape)}")
        before_l, after_l = before.to(label.device), after.to(label.device)
        new_label = torch.lerp(label.gather(1, before_l), label.gather(1, after_l),
                               weight.to(label.device, label.dtype))                  # (B, T_out)
    new_hr = None if hr is None else hr * speeds.to(hr.device, hr.dtype)
    return SpeedResampled(frames.permute(0, 2, 1, 3, 4), speeds, new_label, new_hr)


def random_speed(clip: Tensor, generator: torch.Generator, num_frames: int,
                 speed_range: tuple[float, float] = (0.8, 1.2), label: Tensor | None = None,
                 hr: Tensor | None = None) -> SpeedResampled:
    """:func:`resample_speed` with one speed per sample drawn uniformly from ``speed_range``.

    Both views of a sample must come from the same resampled clip: call this before
    :func:`sspd.augment.make_views`, on windows long enough for the fastest speed.
    """
    low, high = speed_range
    if not 0 < low <= high:
        raise ValueError(f"random_speed: speed_range must satisfy 0 < low <= high, got {speed_range}")
    speeds = uniform((clip.shape[0],), low, high, generator, clip.device)  # (B,)
    return resample_speed(clip, speeds, num_frames, label=label, hr=hr)
