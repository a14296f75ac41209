"""Input checks shared by the augmentations."""
from __future__ import annotations

from torch import Tensor


def check_clip(clip: Tensor, name: str, min_frames: int = 1) -> None:
    """Raise unless ``clip`` is a floating-point (B, C, T, H, W) tensor with >= ``min_frames`` frames."""
    if clip.dim() != 5:
        raise ValueError(f"{name} expects a batch of clips (B, C, T, H, W), got shape {tuple(clip.shape)}")
    if not clip.is_floating_point():
        raise ValueError(
            f"{name} expects a floating-point clip, got {clip.dtype}: convert with clip.float()")
    if clip.shape[2] < min_frames:
        raise ValueError(f"{name} needs at least {min_frames} frames, got T={clip.shape[2]}")
