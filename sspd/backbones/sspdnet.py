"""SSPD-Net (Zhang et al., IEEE TMM 2024): the paper's own backbone, 613,598 parameters at width 1.0.

Input BatchNorm3d(3) (a learned input normalisation of the difference frames), then four stages of
bias-free Conv3d + BN + tanh with temporal padding 1 and NO spatial padding ("valid"), spatial
AvgPool (1,2,2) after stages 1–3, no temporal downsampling (docs/method.md §2).
Initialisation: xavier-normal conv weights, norms weight 1 bias 0.
"""
from __future__ import annotations

from torch import Tensor, nn

from sspd.backbones.base import Backbone
from sspd.backbones.layers import SpatialAvgPool, SqueezeExcitation, conv_bn_act, init_xavier_, scale_width
from sspd.backbones.registry import register_backbone

__all__ = ["SSPDNet"]

# (out_channels, spatial kernel) of each conv, per stage; every kernel has 3 frames.
_STAGES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((8, 5), (16, 3)),
    ((16, 5), (32, 3)),
    ((32, 5), (64, 3)),
    ((256, 3),),
)
_POOLED_STAGES = 3  # stages 1..3 end with AvgPool (1, 2, 2)


def min_input_size() -> int:
    """Smallest input side giving a 1×1 feature map: the layers above inverted (66 pixels)."""
    size = 1
    for index in reversed(range(len(_STAGES))):
        if index < _POOLED_STAGES:
            size *= 2  # floor(s / 2) >= m  <=>  s >= 2m
        size += sum(k - 1 for _, k in _STAGES[index])  # s - k + 1 >= m  <=>  s >= m + k - 1
    return size


@register_backbone("sspdnet")
class SSPDNet(Backbone):
    """SSPD-Net backbone; feature map (B, 256·width, T, h, w), (B, 256, T, 8, 8) for 128×128 input.

    SSPD-Net has no supervised head of its own: in the paper its rPPG output comes from the separate
    :class:`sspd.models.heads.SSPDPredictor` (172,481 parameters; 786,079 together). ``forward`` here is a
    parameter-free read-out, the mean of the feature map over channels and space, (B, T): usable with
    a scale-invariant loss (negative Pearson), and keeping the 613,598 figure the backbone's alone.
    For the paper's inference network, feed ``forward_features`` to an ``SSPDPredictor``.

    Args:
        frames, input_size: clip size the model is built for (H and W >= 66, any T >= 1).
        width: multiplier of every hidden width (8 … 256), rounded to a multiple of 4.
        se: add squeeze-excitation after the convs of each stage (before its pool).
        se_reduction: SE reduction ratio.
    """

    def __init__(self, *, frames: int = 300, input_size: int | tuple[int, int] = 128, width: float = 1.0,
                 se: bool = False, se_reduction: int = 4) -> None:
        super().__init__(frames=frames, input_size=input_size)
        layers: list[nn.Module] = [nn.BatchNorm3d(3)]
        channels = 3
        for index, stage in enumerate(_STAGES):
            for out_channels, k in stage:
                out_channels = scale_width(out_channels, width)
                layers.append(conv_bn_act(channels, out_channels, (3, k, k), padding=(1, 0, 0), bias=False,
                                          activation=nn.Tanh))
                channels = out_channels
            if se:
                layers.append(SqueezeExcitation(channels, reduction=se_reduction))
            if index < _POOLED_STAGES:
                layers.append(SpatialAvgPool())  # AvgPool3d (1, 2, 2)
        self.layers = nn.Sequential(*layers)
        self.feature_dim = channels
        init_xavier_(self)
        self.check_clip_size(self.frames, *self.input_size)

    def check_clip_size(self, frames: int, height: int, width: int) -> None:
        smallest = min_input_size()
        if min(height, width) < smallest:
            raise ValueError(f"SSPD-Net's valid (unpadded) convolutions need frames of at least "
                             f"{smallest}×{smallest} pixels, got {height}×{width}: use a larger face crop "
                             f"(the paper uses 128×128)")

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> (B, D, T, h, w), h = 8 for H = 128 (valid convolutions and three 2× pools)."""
        self.check_clip(x)
        return self.layers(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """Feature map (B, D, T, h, w) -> parameter-free read-out (B, T): mean over channels and space."""
        return features.mean(dim=(1, 3, 4))  # (B, T)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> parameter-free read-out (B, T): mean over channels and space."""
        return self.forward_head(self.forward_features(x))
