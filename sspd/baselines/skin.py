"""From face frames to the mean skin-colour trace (3, T) that every baseline takes.

Frames are read one at a time, so a video given as an iterator (a reader that decodes as it goes) is
never held in memory; only the (3, T) means are kept.
"""
from __future__ import annotations

import logging
from typing import Iterable, Iterator

import cv2
import numpy as np

__all__ = ["mean_rgb_trace", "ycrcb_skin_mask", "YCRCB_SKIN_RANGE"]

log = logging.getLogger(__name__)

# A common explicit skin rule in YCrCb (Chai & Ngan, IEEE TCSVT 1999): 133 <= Cr <= 173, 77 <= Cb <= 127.
YCRCB_SKIN_RANGE = ((0, 133, 77), (255, 173, 127))
_SKIN_RULES = (None, "ycrcb")
_EMPTY_POLICIES = ("raise", "hold")


def ycrcb_skin_mask(frame: np.ndarray) -> np.ndarray:
    """(H, W) bool mask of skin-coloured pixels of one (H, W, 3) uint8 RGB frame (YCrCb threshold)."""
    ycrcb = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YCrCb)  # (H, W, 3)
    low, high = (np.array(v, dtype=np.uint8) for v in YCRCB_SKIN_RANGE)
    return cv2.inRange(ycrcb, low, high).astype(bool)


def _check_frame(frame, index: int, shape: tuple | None) -> np.ndarray:
    """The frame as a (H, W, 3) uint8 array, checked against the first frame's shape."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"mean_rgb_trace: frame {index} must be an (H, W, 3) uint8 RGB image, got "
                         f"shape {frame.shape} dtype {frame.dtype}; convert floats in [0, 1] with "
                         "(frame * 255).round().astype(np.uint8)")
    if shape is not None and frame.shape != shape:
        raise ValueError(f"mean_rgb_trace: frame {index} has shape {frame.shape} but frame 0 has "
                         f"{shape}; resize the face crops to one size first")
    return frame


def _frame_mask(mask: np.ndarray | None, index: int, frame_shape: tuple) -> np.ndarray | None:
    """The (H, W) region mask of frame ``index`` from a (H, W) or (T, H, W) mask, or None."""
    if mask is None:
        return None
    if mask.ndim == 3:
        if index >= mask.shape[0]:
            raise ValueError(f"mean_rgb_trace: the mask has {mask.shape[0]} frames but the video has "
                             f"more (frame {index}); pass one mask per frame or a single (H, W) mask")
        mask = mask[index]
    if mask.shape != frame_shape[:2]:
        raise ValueError(f"mean_rgb_trace: mask shape {mask.shape} does not match the frame size "
                         f"{frame_shape[:2]}")
    return mask


def _check_options(mask, skin: str | None, on_empty: str) -> np.ndarray | None:
    if skin not in _SKIN_RULES:
        raise ValueError(f"mean_rgb_trace: skin must be one of {_SKIN_RULES}, got {skin!r}")
    if on_empty not in _EMPTY_POLICIES:
        raise ValueError(f"mean_rgb_trace: on_empty must be one of {_EMPTY_POLICIES}, got {on_empty!r}")
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.ndim not in (2, 3):
        raise ValueError(f"mean_rgb_trace: mask must be a boolean (H, W) or (T, H, W) array, got "
                         f"shape {mask.shape} dtype {mask.dtype}")
    return mask


def _frame_means(frames: Iterable, mask: np.ndarray | None, skin: str | None) -> Iterator:
    """Yield (mean RGB (3,) or None when no pixel is selected) for every frame."""
    shape = None
    for index, frame in enumerate(frames):
        frame = _check_frame(frame, index, shape)
        shape = frame.shape
        keep = _frame_mask(mask, index, shape)
        if skin == "ycrcb":
            skin_mask = ycrcb_skin_mask(frame)
            keep = skin_mask if keep is None else keep & skin_mask
        pixels = frame.reshape(-1, 3) if keep is None else frame[keep]  # (P, 3) selected pixels
        yield pixels.mean(axis=0, dtype=np.float64) if len(pixels) else None


def _fill_empty(means: list, on_empty: str) -> np.ndarray:
    """(3, T) trace from per-frame means, applying the empty-frame policy to the None entries."""
    empty = [i for i, m in enumerate(means) if m is None]
    if len(empty) == len(means):
        raise ValueError("mean_rgb_trace: no frame has any selected skin pixel; check the mask or "
                         "the face crop, or pass skin=None")
    if empty and on_empty == "raise":
        raise ValueError(f"mean_rgb_trace: {len(empty)} frame(s) have no selected skin pixel (first: "
                         f"frame {empty[0]}); pass on_empty='hold' to repeat the nearest earlier mean")
    if empty:
        log.warning("mean_rgb_trace: %d of %d frames had no skin pixel; held the previous frame's "
                    "mean (first frames: the first valid mean)", len(empty), len(means))
    first = next(m for m in means if m is not None)
    filled, last = [], first
    for m in means:
        last = last if m is None else m
        filled.append(last)
    return np.stack(filled, axis=1)  # (3, T)


def mean_rgb_trace(frames, mask=None, skin: str | None = None, on_empty: str = "raise") -> np.ndarray:
    """Mean colour of the selected (skin) pixels of every frame.

    Args:
        frames: (T, H, W, 3) uint8 RGB array, or any iterable of (H, W, 3) uint8 RGB frames (read one
            at a time, never held together).
        mask: optional boolean region of interest, (H, W) for every frame or (T, H, W) per frame.
        skin: None (every pixel of the region) or "ycrcb" (also keep only pixels inside the YCrCb
            skin range :data:`YCRCB_SKIN_RANGE`).
        on_empty: what to do with a frame where no pixel is selected: "raise" (default), or "hold"
            the previous frame's mean (leading empty frames take the first valid mean), with a
            logged warning giving the count. A trace with no valid frame always raises.

    Returns:
        (3, T) float64 mean R, G, B in grey levels.
    """
    mask = _check_options(mask, skin, on_empty)
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise ValueError(f"mean_rgb_trace: a frames array must be (T, H, W, 3), got shape {frames.shape}"
                         "; wrap a single frame as frames[None]")
    means = list(_frame_means(frames, mask, skin))
    if not means:
        raise ValueError("mean_rgb_trace: frames is empty; pass at least one frame")
    if mask is not None and mask.ndim == 3 and mask.shape[0] != len(means):
        raise ValueError(f"mean_rgb_trace: the mask has {mask.shape[0]} frames but the video has "
                         f"{len(means)}; pass one mask per frame")
    return _fill_empty(means, on_empty)
