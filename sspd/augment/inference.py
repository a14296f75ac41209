"""The inference view and the label conventions that training and evaluation share.

At inference a network sees what SSPD's target view is without its randomness: the whole face box
resized to the input size, then the raw frame difference. A window of T + 1 frames gives T difference
frames; a label of T + 1 samples gives the (B, T) training target of a ``"pulse"`` or ``"diff"`` signal.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from sspd.augment.spatial import resize_clip
from sspd.augment.temporal import DIFFERENCE_MODES, frame_difference

__all__ = ["TARGETS", "LUMINANCE_MODES", "InferenceView", "remove_luminance", "prepare_view", "clip_target"]

LUMINANCE_MODES = ("keep", "remove")

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
    """

    difference: str = "raw"
    difference_eps: float = 1e-7
    luminance: str = "keep"

    def __post_init__(self) -> None:
        if self.difference not in DIFFERENCE_MODES:
            raise ValueError(f"view difference must be one of {DIFFERENCE_MODES}, got {self.difference!r}")
        if self.luminance not in LUMINANCE_MODES:
            raise ValueError(f"view luminance must be one of {LUMINANCE_MODES}, got {self.luminance!r}")

    @classmethod
    def from_dict(cls, values: dict | None) -> "InferenceView":
        """From a checkpoint's ``network["view"]`` (None or missing keys: the release's raw view)."""
        return cls(**(values or {}))


def remove_luminance(diff: Tensor) -> Tensor:
    """(B, C, T, h, w) difference frames minus their mean over the channels (each pixel's chrominance)."""
    return diff - diff.mean(dim=1, keepdim=True)


def prepare_view(clip: Tensor, input_size: int | tuple[int, int], view: InferenceView | None = None) -> Tensor:
    """A network's inference view: (B, C, T+1, S, S) raw frames (any dtype, 0-255) → resized to
    ``input_size`` → frame difference (B, C, T, h, w) float32, as ``view`` says (default: SSPD's raw
    difference). No flips, crops or masks."""
    if clip.ndim != 5 or clip.shape[1] != 3 or clip.shape[2] < 2:
        raise ValueError(f"prepare_view expects clips (B, 3, T+1, S, S) with T+1 >= 2, got "
                         f"{tuple(clip.shape)}")
    view = view or InferenceView()
    resized = resize_clip(clip.float(), input_size, antialias=True)  # (B, C, T+1, h, w)
    diff = frame_difference(resized, view.difference, view.difference_eps)  # (B, C, T, h, w)
    return remove_luminance(diff) if view.luminance == "remove" else diff


def clip_target(label: Tensor, target: str) -> Tensor:
    """The training target of a window's PPG (B, T+1) for a (B, T) difference-frame signal:
    ``"diff"`` → label[t+1] - label[t]; ``"pulse"`` → label[t+1] (aligned with difference t)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if label.ndim != 2 or label.shape[1] < 2:
        raise ValueError(f"clip_target expects labels (B, T+1) with T+1 >= 2, got {tuple(label.shape)}")
    return label[:, 1:] - label[:, :-1] if target == "diff" else label[:, 1:]  # (B, T)
