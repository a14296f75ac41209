"""SSPD's two input views of one batch of face clips ("physical-prior embedded augmentation", §1).

Target view (global): the whole face box resized to the input size, random flips, frame difference.
Online view (local, masked): a random crop of the input size from the box, its own flips, frame
difference, and a random pixel mask shared across colour channels. Both views of a sample come from
the same time window. Options add illumination changes and sensor noise to each view independently.

Objectives without a target (SiNC, the supervised control) take one view, :func:`make_single_view`: the
target view's recipe (whole box, flips, frame difference) with the same photometric options.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sspd.augment._checks import check_clip
from sspd.augment.motion import random_motion
from sspd.augment.inference import LUMINANCE_MODES, SCALE_MODES, InferenceView, remove_luminance, scale_by_std
from sspd.augment.photometric import add_sensor_noise, random_illumination, random_pixel_mask
from sspd.augment.spatial import CROP_MODES, crop_clip, random_flip, resize_clip
from sspd.augment.temporal import DIFFERENCE_MODES, frame_difference

__all__ = ["ViewOptions", "make_views", "make_single_view"]


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
        luminance: ``"keep"`` or ``"remove"`` (each pixel's mean over the channels is subtracted from the
            difference frames of both views and at inference: a colour prior, see
            :class:`sspd.augment.InferenceView`; use it with ``difference: normalized``).
        motion_px: amplitude (pixels of the face box) of a per-frame random motion applied to each view
            independently (:func:`sspd.augment.random_motion`): the views then differ in motion and share
            the pulse. 0 = off (the release).
        motion_hz: rate range of that motion (inside the pulse band on purpose).
        speed_range: play every clip at a random speed in this range before the views are made
            (SiNC's speed augmentation: (0.6, 1.4)); the training step applies it, with the labels.
            None = off (SSPD).
        scale: ``"none"`` or ``"std"``: each view divided by its standard deviation after the difference
            (with ``difference: normalized``, the rPPG-Toolbox's "DiffNormalized" input, per clip).
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
    luminance: str = "keep"
    motion_px: float = 0.0
    motion_hz: tuple[float, float] = (0.5, 3.0)
    speed_range: tuple[float, float] | None = None
    scale: str = "none"

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
        if self.motion_px < 0 or not 0 < self.motion_hz[0] <= self.motion_hz[1]:
            raise ValueError(f"ViewOptions.motion_px must be >= 0 and motion_hz 0 < low <= high, got "
                             f"{self.motion_px}, {self.motion_hz}")
        if self.luminance not in LUMINANCE_MODES:
            raise ValueError(f"ViewOptions.luminance must be one of {LUMINANCE_MODES}, got {self.luminance!r}")
        if self.speed_range is not None and not 0 < self.speed_range[0] <= self.speed_range[1]:
            raise ValueError(f"ViewOptions.speed_range must satisfy 0 < low <= high, got {self.speed_range}")
        if self.scale not in SCALE_MODES:
            raise ValueError(f"ViewOptions.scale must be one of {SCALE_MODES}, got {self.scale!r}")


    def inference_view(self) -> InferenceView:
        """The deterministic part of these views, which inference must apply too."""
        return InferenceView(difference=self.difference, difference_eps=self.difference_eps,
                             luminance=self.luminance, scale=self.scale)


def _difference(clip: Tensor, options: ViewOptions) -> Tensor:
    """Frame difference of (B, C, T+1, h, w), then the luminance and scale options: (B, C, T, h, w)."""
    diff = frame_difference(clip, options.difference, options.difference_eps)
    diff = remove_luminance(diff) if options.luminance == "remove" else diff
    return scale_by_std(diff) if options.scale == "std" else diff


def _moved(clip: Tensor, generator: torch.Generator, options: ViewOptions, fs: float) -> Tensor:
    """The clip with its own per-frame random motion when ``options.motion_px`` > 0 (else unchanged)."""
    if options.motion_px == 0:
        return clip
    return random_motion(clip, generator, amplitude_px=options.motion_px, rate_hz=options.motion_hz, fs=fs)


def _photometric(clip: Tensor, generator: torch.Generator, options: ViewOptions) -> Tensor:
    """Illumination and sensor noise on raw frames, when the options switch them on."""
    if options.gain_range is not None or options.drift_range is not None:
        clip = random_illumination(clip, generator, gain_range=options.gain_range or (1.0, 1.0),
                                   drift_range=options.drift_range or (0.0, 0.0))
    return add_sensor_noise(clip, generator, options.noise_std)


def make_views(clip: Tensor, input_size: int | tuple[int, int], generator: torch.Generator,
               options: ViewOptions = ViewOptions(), fs: float = 30.0) -> tuple[Tensor, Tensor]:
    """The online and target views of a batch of face-box clips.

    Args:
        clip: (B, C, T+1, H, W) float raw frames of the face box (e.g. 151×151), on the model's device;
            T+1 frames give T difference frames.
        input_size: the network's input size h (square) or (h, w), at most the box size.
        generator: drives every random choice; a generator on the clip's device is fastest, a CPU
            generator gives the same views on every device.
        options: see :class:`ViewOptions`.
        fs: the clips' frame rate in Hz (sets the rate of the per-frame motion option).

    Returns:
        (online_view, target_view), each (B, C, T, h, w), contiguous.

    Speed resampling changes the label, so it is not done here: apply
    :func:`sspd.augment.random_speed` to the window (and its label) first.
    """
    check_clip(clip, "make_views", min_frames=2)
    online_clip, clip = _moved(clip, generator, options, fs), _moved(clip, generator, options, fs)  # own motions
    target = random_flip(resize_clip(clip, input_size, antialias=options.antialias), generator,
                         options.p_horizontal, options.p_vertical)             # (B, C, T+1, h, w)
    online = random_flip(crop_clip(online_clip, input_size, generator, mode=options.crop), generator,
                         options.p_horizontal, options.p_vertical)             # (B, C, T+1, h, w)
    target = _difference(_photometric(target, generator, options), options)    # (B, C, T, h, w)
    online = _difference(_photometric(online, generator, options), options)    # (B, C, T, h, w)
    if options.keep_prob < 1.0:
        online = random_pixel_mask(online, generator, options.keep_prob)
    return online.contiguous(), target.contiguous()


def make_single_view(clip: Tensor, input_size: int | tuple[int, int], generator: torch.Generator,
                     options: ViewOptions = ViewOptions()) -> Tensor:
    """One training view of a batch of face-box clips, for objectives without a target network.

    The whole box resized to ``input_size``, random flips, the photometric options, frame difference:
    (B, C, T+1, H, W) → (B, C, T, h, w), contiguous. No crop and no pixel mask (those make SSPD's two
    views differ; one view has nothing to differ from).
    """
    check_clip(clip, "make_single_view", min_frames=2)
    view = random_flip(resize_clip(clip, input_size, antialias=options.antialias), generator,
                       options.p_horizontal, options.p_vertical)               # (B, C, T+1, h, w)
    view = _difference(_photometric(view, generator, options), options)        # (B, C, T, h, w)
    return view.contiguous()
