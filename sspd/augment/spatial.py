"""Spatial view operations on batched clips (B, C, T, H, W): resize, crop, flips."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sspd.augment._checks import check_clip
from sspd.augment._draws import bernoulli, offsets

__all__ = ["resize_clip", "crop_clip", "random_flip", "CROP_MODES"]

CROP_MODES = ("random", "corner", "center")


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if height <= 0 or width <= 0:
        raise ValueError(f"size must be positive, got {size}")
    return height, width


def resize_clip(clip: Tensor, size: int | tuple[int, int], antialias: bool = True) -> Tensor:
    """Resize every frame to ``size`` (an int for a square, or (h, w)): (B, C, T, H, W) → (B, C, T, h, w).

    Bilinear interpolation (``align_corners=False``) with ``antialias=True`` by default, which low-pass
    filters before shrinking (PyTorch supports it for bilinear on CPU and CUDA; pass False elsewhere).
    Returns the clip itself when it already has that size.
    """
    check_clip(clip, "resize_clip")
    height, width = _pair(size)
    b, c, t, h, w = clip.shape
    if (h, w) == (height, width):
        return clip
    frames = clip.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)               # (B·T, C, H, W)
    frames = F.interpolate(frames, size=(height, width), mode="bilinear", align_corners=False,
                           antialias=antialias)                                # (B·T, C, h, w)
    return frames.reshape(b, t, c, height, width).permute(0, 2, 1, 3, 4)       # (B, C, T, h, w)


def crop_clip(clip: Tensor, size: int | tuple[int, int], generator: torch.Generator | None = None,
              mode: str = "random") -> Tensor:
    """Crop an (h, w) window from every frame: (B, C, T, H, W) → (B, C, T, h, w).

    ``mode="random"``: one offset per sample, uniform over every position the window fits in, drawn
    from ``generator`` (required) and kept over the sample's frames. ``"corner"``: the top-left
    window, which is what the SSPD release always takes (reproduction only). ``"center"``: centred.
    """
    check_clip(clip, "crop_clip")
    height, width = _pair(size)
    b, _, _, h, w = clip.shape
    if height > h or width > w:
        raise ValueError(f"crop_clip: crop {height}×{width} does not fit in frames of {h}×{w}; "
                         "use a larger face box or a smaller input size")
    if mode not in CROP_MODES:
        raise ValueError(f"crop_clip: mode must be one of {CROP_MODES}, got {mode!r}")
    if mode == "corner":
        return clip[..., :height, :width]
    if mode == "center":
        top, left = (h - height) // 2, (w - width) // 2
        return clip[..., top:top + height, left:left + width]
    if generator is None:
        raise ValueError("crop_clip(mode='random') needs a torch.Generator: pass generator=...")
    tops = offsets(b, h - height, generator, clip.device)                      # (B,)
    lefts = offsets(b, w - width, generator, clip.device)                      # (B,)
    return _gather_windows(clip, tops, lefts, height, width)


def _gather_windows(clip: Tensor, tops: Tensor, lefts: Tensor, height: int, width: int) -> Tensor:
    """Per-sample windows at (tops[b], lefts[b]) in one advanced-indexing gather."""
    rows = tops[:, None, None] + torch.arange(height, device=clip.device)[None, :, None]  # (B, h, 1)
    cols = lefts[:, None, None] + torch.arange(width, device=clip.device)[None, None, :]  # (B, 1, w)
    batch = torch.arange(clip.shape[0], device=clip.device)[:, None, None]                # (B, 1, 1)
    windows = clip.permute(0, 3, 4, 1, 2)[batch, rows, cols]                               # (B, h, w, C, T)
    return windows.permute(0, 3, 4, 1, 2)                                                  # (B, C, T, h, w)


def random_flip(clip: Tensor, generator: torch.Generator, p_horizontal: float = 0.5,
                p_vertical: float = 0.5) -> Tensor:
    """Flip each sample left-right with probability ``p_horizontal`` and up-down with ``p_vertical``.

    One decision per sample and direction, kept over all of the sample's frames: (B, C, T, H, W) in
    and out. Two calls (one per view) flip independently.
    """
    check_clip(clip, "random_flip")
    for name, p in (("p_horizontal", p_horizontal), ("p_vertical", p_vertical)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"random_flip: {name} must lie in [0, 1], got {p}")
    shape = (clip.shape[0], 1, 1, 1, 1)
    flip_x = bernoulli(shape, p_horizontal, generator, clip.device)             # (B, 1, 1, 1, 1)
    flip_y = bernoulli(shape, p_vertical, generator, clip.device)
    clip = torch.where(flip_x, clip.flip(-1), clip)
    return torch.where(flip_y, clip.flip(-2), clip)
