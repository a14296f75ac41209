"""The inference view and the label conventions that training and evaluation share.

At inference a network sees what SSPD's target view is without its randomness: the whole face box
resized to the input size, then the raw frame difference. Networks trained with the rPPG-Toolbox's
"DiffNormalized" input (``InferenceView(difference="normalized", scale="std")``) see each frame resized
with area interpolation, the normalised difference, divided by its standard deviation over the whole
video (:func:`prepare_video`; over the clip where only a clip is at hand). A window of T + 1 frames gives T difference
frames; a label of T + 1 samples gives the (B, T) training target of a ``"pulse"`` or ``"diff"`` signal
(:func:`raw_frames` states that rule once, for every reader of clips).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch
from torch import Tensor

from sspd.augment.spatial import resize_clip
from sspd.augment.temporal import DIFFERENCE_MODES, frame_difference
from sspd.signal import zscore

__all__ = ["VIEW_EXTRA_FRAMES", "raw_frames", "TARGETS", "LUMINANCE_MODES", "SCALE_MODES", "InferenceView",
           "remove_luminance", "scale_by_std", "prepare_view", "prepare_video", "clip_target", "window_starts",
           "stitch_windows", "predict_frames"]

LUMINANCE_MODES = ("keep", "remove")
#: how difference frames are scaled: as they are, or divided by their standard deviation
SCALE_MODES = ("none", "std")

#: raw frames a view reads beyond its T frames: every view is a difference of consecutive frames
VIEW_EXTRA_FRAMES = 1


def raw_frames(frames: int) -> int:
    """The raw frames (T + 1) a clip must hold for a view of ``frames`` (T) difference frames."""
    return int(frames) + VIEW_EXTRA_FRAMES


#: what a (B, T) difference-frame signal is meant to follow: the PPG's first difference, or the PPG
TARGETS = ("diff", "pulse")


@dataclass(frozen=True)
class InferenceView:
    """The deterministic part of a network's input view, which training and inference must share.

    Attributes:
        difference: ``"raw"`` (SSPD release: F[t+1] - F[t]) or ``"normalized"`` ((F[t+1] - F[t]) /
            (F[t+1] + F[t] + eps), DeepPhys: each pixel's change relative to its brightness).
        difference_eps: guard of the normalised difference.
        luminance: ``"keep"`` or ``"remove"``: subtract each pixel's mean over the colour channels from the
            difference frame, leaving its chrominance (a colour prior: with the normalised difference, a
            light change scales every channel alike and is removed, while the blood-volume pulse, which
            differs between channels, stays; the plane POS projects onto, Wang et al. 2017).
        scale: ``"none"`` or ``"std"``: divide the difference frames by their standard deviation (over
            every value of the video where the whole video is at hand, :func:`prepare_video`, else over
            the clip): with ``difference="normalized"`` the rPPG-Toolbox's "DiffNormalized" input.
    """

    difference: str = "raw"
    difference_eps: float = 1e-7
    luminance: str = "keep"
    scale: str = "none"

    def __post_init__(self) -> None:
        if self.difference not in DIFFERENCE_MODES:
            raise ValueError(f"view difference must be one of {DIFFERENCE_MODES}, got {self.difference!r}")
        if self.luminance not in LUMINANCE_MODES:
            raise ValueError(f"view luminance must be one of {LUMINANCE_MODES}, got {self.luminance!r}")
        if self.scale not in SCALE_MODES:
            raise ValueError(f"view scale must be one of {SCALE_MODES}, got {self.scale!r}")

    @classmethod
    def from_dict(cls, values: dict | None) -> "InferenceView":
        """From a checkpoint's ``network["view"]`` (None or missing keys: the release's raw view)."""
        return cls(**(values or {}))


def remove_luminance(diff: Tensor) -> Tensor:
    """(B, C, T, h, w) difference frames minus their mean over the channels (each pixel's chrominance)."""
    return diff - diff.mean(dim=1, keepdim=True)


def scale_by_std(diff: Tensor) -> Tensor:
    """(B, C, T, h, w) difference frames, each clip divided by its standard deviation over (C, T, h, w)
    (population std; a clip with none is left at zero)."""
    std = diff.std(dim=(1, 2, 3, 4), correction=0, keepdim=True)  # (B, 1, 1, 1, 1)
    return torch.where(std > 0, diff / std.clamp_min(1e-30), torch.zeros_like(diff))


def prepare_view(clip: Tensor, input_size: int | tuple[int, int], view: InferenceView | None = None) -> Tensor:
    """A network's inference view: (B, C, T+1, S, S) raw frames (any dtype, 0-255) → resized to
    ``input_size`` → frame difference (B, C, T, h, w) float32, as ``view`` says (default: SSPD's raw
    difference; ``scale="std"``: each clip divided by its own standard deviation). No flips, crops or
    masks."""
    if clip.ndim != 5 or clip.shape[1] != 3 or clip.shape[2] < 2:
        raise ValueError(f"prepare_view expects clips (B, 3, T+1, S, S) with T+1 >= 2, got "
                         f"{tuple(clip.shape)}")
    view = view or InferenceView()
    resized = resize_clip(clip.float(), input_size, antialias=True)  # (B, C, T+1, h, w)
    diff = frame_difference(resized, view.difference, view.difference_eps)  # (B, C, T, h, w)
    diff = remove_luminance(diff) if view.luminance == "remove" else diff
    return scale_by_std(diff) if view.scale == "std" else diff


def prepare_video(frames: np.ndarray, input_size: int | tuple[int, int],
                  view: InferenceView | None = None) -> np.ndarray:
    """The inference view of a whole video at once, for views that scale by the video's statistics
    (``scale="std"``): (N, S, S', 3) RGB frames (uint8 or float, 0-255) → (3, N-1, h, w) float32.

    Each frame resized to ``input_size`` (h, w) with area interpolation (in the frames' own dtype, as
    ``cv2.resize`` does), the frame difference of ``view`` in float64, the luminance option, then
    divided by the standard deviation of every value of the video (population std; NaN set to 0), as the
    rPPG-Toolbox's "DiffNormalized" preprocessing does. Difference t follows frame t + 1.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 2:
        raise ValueError(f"prepare_video expects frames (N, H, W, 3) with N >= 2, got {frames.shape}")
    view = view or InferenceView()
    height, width = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    resized = np.stack([cv2.resize(np.ascontiguousarray(f), (width, height), interpolation=cv2.INTER_AREA)
                        for f in frames]).astype(np.float64)  # (N, h, w, 3)
    later, earlier = resized[1:], resized[:-1]
    diff = later - earlier if view.difference == "raw" else (later - earlier) / (later + earlier +
                                                                                  view.difference_eps)
    if view.luminance == "remove":
        diff = diff - diff.mean(axis=-1, keepdims=True)
    if view.scale == "std":
        std = float(np.std(diff))
        diff = diff / std if std > 0 else np.zeros_like(diff)
    diff[np.isnan(diff)] = 0.0
    return np.ascontiguousarray(diff.transpose(3, 0, 1, 2), dtype=np.float32)  # (3, N-1, h, w)


def clip_target(label: Tensor, target: str) -> Tensor:
    """The training target of a window's PPG (B, T+1) for a (B, T) difference-frame signal:
    ``"diff"`` → label[t+1] - label[t]; ``"pulse"`` → label[t+1] (aligned with difference t)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if label.ndim != 2 or label.shape[1] < 2:
        raise ValueError(f"clip_target expects labels (B, T+1) with T+1 >= 2, got {tuple(label.shape)}")
    return label[:, 1:] - label[:, :-1] if target == "diff" else label[:, 1:]  # (B, T)


def window_starts(n_frames: int, clip_length: int, stride: int) -> np.ndarray:
    """Starts 0, stride, ... of ``clip_length``-frame windows, plus one ending at the last frame (every
    frame covered); ``n_frames >= clip_length``."""
    last = n_frames - clip_length
    starts = np.arange(0, last + 1, stride, dtype=np.int64)
    return starts if starts[-1] == last else np.append(starts, last)


def stitch_windows(n_samples: int, starts: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """One (N,) signal from (K, L) window signals starting at ``starts`` (K,): each window z-scored,
    overlaps averaged. Raises if a window runs past ``n_samples`` or a sample is covered by none."""
    windows = np.asarray(windows, dtype=np.float64)
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    if windows.ndim != 2 or windows.shape[0] != starts.size:
        raise ValueError(f"stitch_windows needs (K, L) windows for K starts, got {windows.shape} for "
                         f"{starts.size} starts")
    length = windows.shape[1]
    if starts.size == 0 or starts.min() < 0 or starts.max() + length > n_samples:
        raise ValueError(f"stitch_windows: windows of {length} samples at starts {starts.tolist()} do "
                         f"not fit a {n_samples}-sample signal")
    total, count = np.zeros(n_samples), np.zeros(n_samples)
    for start, row in zip(starts, zscore(windows, axis=1)):
        total[start:start + length] += row
        count[start:start + length] += 1
    if np.any(count == 0):
        raise ValueError(f"stitch_windows: samples {np.flatnonzero(count == 0)[:5].tolist()}... are in no "
                         "window; use a stride no longer than the window and the 'last' tail")
    return total / count


@torch.no_grad()
def predict_frames(predict_fn: Callable[[Tensor], Tensor], frames: np.ndarray, *, window: int,
                   input_size: int | tuple[int, int], view: InferenceView | None = None,
                   stride: int | None = None, batch_size: int = 4) -> np.ndarray:
    """One stitched (N-1,) signal of a network over sliding windows of a video's frames.

    Args:
        predict_fn: prepared view (B, C, T, h, w) -> (B, T), e.g. ``network.predict`` in eval mode.
        frames: (N, S, S, 3) RGB frames (uint8 or float, 0-255), N >= window + 1.
        window: difference frames T per window (each window reads T + 1 frames).
        view: the network's inference view; stride: frames between windows (default ``window``).

    Returns:
        (N-1,) float64: the window signals z-scored and overlaps averaged (frames 1..N-1).

    A view with ``scale="std"`` is prepared for the whole video first (:func:`prepare_video`), so every
    window is scaled by the video's standard deviation.
    """
    n_frames = len(frames)
    if window < 2 or n_frames < raw_frames(window) or (stride is not None and not 1 <= stride <= window):
        raise ValueError(f"predict_frames needs window >= 2, at least window + 1 frames and a stride in "
                         f"[1, window]; got window {window}, {n_frames} frames, stride {stride}")
    starts = window_starts(n_frames, raw_frames(window), stride or window)
    video = prepare_video(frames, input_size, view) if view is not None and view.scale == "std" else None
    out = []
    for i in range(0, starts.size, batch_size):
        if video is not None:   # (b, C, T, h, w) windows of the prepared video
            batch = torch.from_numpy(np.stack([video[:, s:s + window] for s in starts[i:i + batch_size]]))
        else:
            clips = np.stack([frames[s:s + raw_frames(window)] for s in starts[i:i + batch_size]])  # (b, T+1, S, S, C)
            batch = prepare_view(torch.from_numpy(clips).permute(0, 4, 1, 2, 3), input_size, view)
        out.append(predict_fn(batch).float().cpu().numpy())  # (b, T)
    return stitch_windows(n_frames - 1, starts, np.concatenate(out))
