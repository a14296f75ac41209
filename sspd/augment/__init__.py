"""View construction on batched clips (B, C, T, H, W), on the model's device, driven by a torch.Generator.

The entry point is :func:`make_views` (SSPD's online and target views); the operations it is made of
(resize, crop, flips, frame differences, pixel masks, illumination, sensor noise, speed resampling)
are usable alone.
"""
from sspd.augment.inference import LUMINANCE_MODES, TARGETS, InferenceView, clip_target, prepare_view, remove_luminance
from sspd.augment.motion import random_motion, shift_frames
from sspd.augment.photometric import add_sensor_noise, random_illumination, random_pixel_mask
from sspd.augment.spatial import CROP_MODES, crop_clip, random_flip, resize_clip
from sspd.augment.temporal import (DIFFERENCE_MODES, SpeedResampled, frame_difference, random_speed,
                                   resample_speed)
from sspd.augment.views import ViewOptions, make_single_view, make_views

__all__ = [
    "ViewOptions",
    "make_views",
    "make_single_view",
    "random_motion",
    "shift_frames",
    "resize_clip",
    "crop_clip",
    "random_flip",
    "frame_difference",
    "random_pixel_mask",
    "random_illumination",
    "add_sensor_noise",
    "resample_speed",
    "random_speed",
    "SpeedResampled",
    "prepare_view",
    "InferenceView",
    "remove_luminance",
    "LUMINANCE_MODES",
    "clip_target",
    "TARGETS",
    "CROP_MODES",
    "DIFFERENCE_MODES",
]
