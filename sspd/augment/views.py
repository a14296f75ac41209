"""SSPD's two input views of one batch of face clips ("physical-prior embedded augmentation", §1).

Target view (global): the whole face box resized to the input size, random flips, frame difference.
Online view (local, masked): a random crop of the input size from the box, its own flips, frame
difference, and a random pixel mask shared across colour channels. Both views of a sample come from
the same time window. Options add illumination changes and sensor noise to each view independently.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sspd.augment._checks import check_clip
from sspd.augment.photometric import add_sensor_noise, random_illumination, random_pixel_mask
from sspd.augment.spatial import CROP_MODES, crop_clip, random_flip, resize_clip
from sspd.augment.temporal import DIFFERENCE_MODES, frame_difference

__all__ = ["ViewOptions", "make_views"]


@dataclass(frozen=True)
class ViewOptions:
    """How the two views are made; the defaults are the SSPD release's, except the crop.

    Attributes:
        crop: online crop: ``"random"`` (per sample; ours), ``"corner"`` (top-left, what the release
            actually does through a default-argument bug: reproduction only) or ``"center"``.
        p_horizontal, p_vertical: flip probabilities, one decision per sample and view.
        keep_prob: pixel-mask keep probability of the online view (1.0 = no mask).
        difference: ``"raw"`` (release) or ``"normalized"`` frame difference.
        difference_eps: guard of the normalised difference.
        antialias: antialiased bilinear resize of the target view.
        gain_range, drift_range: illumination gain and linear drift of each view (None = off).
        noise_std: Gaussian sensor noise of each view, in the clip's intensity units (0 = off).
    """

    crop: str = "random"
    p_horizontal: float = 0.5
    p_vertical: float = 0.5
    keep_prob: float = 0.7
    difference: str = "raw"
    difference_eps: float = 1e-7
    antialias: bool = True
    gain_range: tuple[float, float] | None = None
    drift_range: tuple[float, float] | None = None
    noise_std: float = 0.0

    def __post_init__(self) -> None:
        if self.crop not in CROP_MODES:
            raise ValueError(f"ViewOptions.crop must be one of {CROP_MODES}, got {self.crop!r}")
        if self.difference not in DIFFERENCE_MODES:
            raise ValueError(
                f"ViewOptions.difference must be one of {DIFFERENCE_MODES}, got {self.difference!r}")
        for name in ("p_horizontal", "p_vertical", "keep_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"ViewOptions.{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.noise_std < 0:
            raise ValueError(f"ViewOptions.noise_std must be >= 0, got {self.noise_std}")


def _photometric(clip: Tensor, generator: torch.Generator, options: ViewOptions) -> Tensor:
    """Illumination and sensor noise on raw frames, when the options switch them on."""
    if options.gain_range is not None or options.drift_range is not None:
        clip = random_illumination(clip, generator, gain_range=options.gain_range or (1.0, 1.0),
                                   drift_range=options.drift_range or (0.0, 0.0))
    return add_sensor_noise(clip, generator, options.noise_std)


def make_views(clip: Tensor, input_size: int | tuple[int, int], generator: torch.Generator,
               options: ViewOptions = ViewOptions()) -> tuple[Tensor, Tensor]:
    """The online and target views of a batch of face-box clips.

    Args:
        clip: (B, C, T+1, H, W) float raw frames of the face box (e.g. 151×151), on the model's device;
            T+1 frames give T difference frames.
        input_size: the network's input size h (square) or (h, w), at most the box size.
        generator: drives every random choice; a generator on the clip's device is fastest, a CPU
            generator gives the same views on every device.
        options: see :class:`ViewOptions`.

    Returns:
        (online_view, target_view), each (B, C, T, h, w), contiguous.

    Speed resampling changes the label, so it is not done here: apply
    :func:`sspd.augment.random_speed` to the window (and its label) first.
    """
    check_clip(clip, "make_views", min_frames=2)
    target = random_flip(resize_clip(clip, input_size, antialias=options.antialias), generator,
                         options.p_horizontal, options.p_vertical)             # (B, C, T+1, h, w)
    online = random_flip(crop_clip(clip, input_size, generator, mode=options.crop), generator,
                         options.p_horizontal, options.p_vertical)             # (B, C, T+1, h, w)
    target = frame_difference(_photometric(target, generator, options), options.difference,
                              options.difference_eps)                          # (B, C, T, h, w)
    online = frame_difference(_photometric(online, generator, options), options.difference,
                              options.difference_eps)                          # (B, C, T, h, w)
    if options.keep_prob < 1.0:
        online = random_pixel_mask(online, generator, options.keep_prob)
    return online.contiguous(), target.contiguous()
