"""The backbone contract, shared by every registered model, and small helpers.

Contract (docs/architecture.md): ``forward_features(x: (B, 3, T, H, W)) -> (B, D, T, h, w)`` at the input
frame rate; ``forward(x) -> (B, T)``, the backbone's own supervised rPPG output (``forward_head`` of the feature map); ``feature_dim`` = D;
pooled features = spatial mean (B, D, T). Every backbone checks the clip size it is given BEFORE any
layer runs and raises a ValueError that names the valid sizes.
"""
from __future__ import annotations

from torch import Tensor, nn

__all__ = ["Backbone", "count_parameters", "pool_features", "to_size_pair"]


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``module`` (shared parameters counted once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def pool_features(feature_map: Tensor) -> Tensor:
    """Spatial mean of a feature map: (B, D, T, h, w) -> (B, D, T)."""
    if feature_map.ndim != 5:
        raise ValueError(f"expected a feature map (B, D, T, h, w), got shape {tuple(feature_map.shape)}")
    return feature_map.mean(dim=(3, 4))


def to_size_pair(size: int | tuple[int, int], *, name: str = "input_size") -> tuple[int, int]:
    """An int or (H, W) pair as a (H, W) tuple of positive ints."""
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or any(not isinstance(s, int) or s < 1 for s in pair):
        raise ValueError(f"{name} must be a positive int or an (H, W) pair of them, got {size!r}")
    return pair


class Backbone(nn.Module):
    """Base class: the clip-size knobs, input checks and the pooled-feature view.

    Args:
        frames: clip length T the model is built for (checked at construction; benchmarks use it).
        input_size: frame size H or (H, W) the model is built for.
    The models are fully convolutional: ``forward`` accepts any clip that passes
    :meth:`check_clip_size`, not only (frames, input_size).
    """

    feature_dim: int

    def __init__(self, *, frames: int, input_size: int | tuple[int, int]) -> None:
        super().__init__()
        if not isinstance(frames, int) or frames < 1:
            raise ValueError(f"frames must be a positive int, got {frames!r}")
        self.frames = frames
        self.input_size = to_size_pair(input_size)

    def check_clip_size(self, frames: int, height: int, width: int) -> None:
        """Raise ValueError if a clip of this size cannot go through the model; subclasses override."""

    def check_clip(self, x: Tensor) -> None:
        """Check a clip (B, 3, T, H, W): rank, colour channels, then the model's size limits."""
        name = type(self).__name__
        if x.ndim != 5:
            raise ValueError(f"{name} expects a clip (B, 3, T, H, W), got shape {tuple(x.shape)}")
        if x.shape[1] != 3:
            raise ValueError(f"{name} expects 3 colour channels in dim 1 of (B, 3, T, H, W), got "
                             f"shape {tuple(x.shape)}: put channels before frames")
        self.check_clip_size(*x.shape[2:])

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> feature map (B, D, T, h, w)."""
        raise NotImplementedError

    def forward_head(self, features: Tensor) -> Tensor:
        """Feature map (B, D, T, h, w) -> the backbone's own rPPG output (B, T); ``forward`` is
        ``forward_head(forward_features(x))``."""
        raise NotImplementedError

    def forward_pooled(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> pooled features (B, D, T)."""
        return pool_features(self.forward_features(x))
