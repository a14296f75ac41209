"""Heads on a backbone's feature map: the SSPD predictor, Contrast-Phys's ST-rPPG block and a linear-probe
head.

Shape symbols as in :mod:`sspd`: B batch, D feature width, T frames, h×w feature-map size.
"""
from __future__ import annotations

import math

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from sspd.backbones.layers import conv_bn_act, init_xavier_

__all__ = ["SSPDPredictor", "STRPPGHead", "LinearProbeHead", "halve_mean", "pad_to_min_size"]

_VALID_KERNEL = 3  # the predictor's spatially valid 3×3 conv


def halve_mean(x: Tensor) -> Tensor:
    """AvgPool (2,2,2) that never drops a frame or pixel: (B, C, T, h, w) -> (B, C, ⌈T/2⌉, ⌈h/2⌉, ⌈w/2⌉).

    An odd trailing frame/row/column is averaged alone (ceil mode: a partial window averages only the
    samples it holds), and a size-1 axis is kept as is. On even sizes this is exactly AvgPool(2, 2, 2).
    """
    kernel = tuple(min(2, s) for s in x.shape[2:])
    return F.avg_pool3d(x, kernel, stride=kernel, ceil_mode=True)


def pad_to_min_size(x: Tensor, min_size: int) -> Tensor:
    """Zero-pad h and w symmetrically up to at least ``min_size``: (B, C, T, h, w) -> (B, C, T, h', w').

    Maps already large enough pass unchanged. Zero is the resting value of the tanh before it.
    """
    pad_h, pad_w = (max(0, math.ceil((min_size - s) / 2)) for s in x.shape[3:])
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (pad_w, pad_w, pad_h, pad_h))


def _check_feature_map(name: str, features: Tensor, in_channels: int) -> None:
    if features.ndim != 5 or features.shape[1] != in_channels:
        raise ValueError(f"{name} expects a feature map (B, {in_channels}, T, h, w), got shape "
                         f"{tuple(features.shape)}: build it with in_channels=backbone.feature_dim")


class SSPDPredictor(nn.Module):
    """The SSPD rPPG predictor (docs/method.md §2): feature map (B, D, T, h, w) -> signal (B, T).

    Conv3d D→64 k(3,1,1) + BN + tanh; AvgPool (2,2,2); Conv3d 64→64 k3 (temporal pad 1, spatially
    valid) + BN + tanh; nearest upsample in time back to exactly T; Conv3d 64→64 k(3,1,1) + BN + tanh;
    spatial mean; Conv3d 64→1 k1 with bias. 172,481 parameters for D = 256; xavier-normal init.

    General where the release is fixed to 128×128 inputs: any T (odd T: the pool keeps the last frame,
    the upsample returns to size T), any map from 1×1 up (a map too small for the valid 3×3 conv after
    pooling is zero-padded to 3×3 first), and a spatial mean in place of the release's AvgPool(1,2,2)
    on its 2×2 map (the same value there). The parameter count does not depend on these.

    The input is NOT detached here: in SSPD the engine detaches the feature map before calling the
    predictor, so the backbone gets no gradient from the predictor's loss. Called directly, gradients
    flow back into whatever produced ``features``.
    """

    def __init__(self, in_channels: int, *, hidden: int = 64) -> None:
        super().__init__()
        if in_channels < 1 or hidden < 1:
            raise ValueError(f"SSPDPredictor needs in_channels, hidden >= 1, got {in_channels}, {hidden}")
        self.in_channels = in_channels
        self.reduce = conv_bn_act(in_channels, hidden, (3, 1, 1), padding=(1, 0, 0), bias=False,
                                  activation=nn.Tanh)
        self.mix = conv_bn_act(hidden, hidden, 3, padding=(1, 0, 0), bias=False, activation=nn.Tanh)
        self.refine = conv_bn_act(hidden, hidden, (3, 1, 1), padding=(1, 0, 0), bias=False,
                                  activation=nn.Tanh)
        self.out = nn.Conv3d(hidden, 1, 1)
        init_xavier_(self)

    def forward(self, features: Tensor) -> Tensor:
        """(B, D, T, h, w) -> (B, T)."""
        _check_feature_map("SSPDPredictor", features, self.in_channels)
        frames = features.shape[2]
        x = halve_mean(self.reduce(features))  # (B, 64, ⌈T/2⌉, ⌈h/2⌉, ⌈w/2⌉)
        x = self.mix(pad_to_min_size(x, _VALID_KERNEL))  # (B, 64, ⌈T/2⌉, h', w')
        x = F.interpolate(x, size=(frames, *x.shape[3:]), mode="nearest")  # (B, 64, T, h', w')
        x = self.refine(x).mean(dim=(3, 4), keepdim=True)  # (B, 64, T, 1, 1)
        return rearrange(self.out(x), "b 1 t 1 1 -> b t")  # (B, 1, T, 1, 1) -> (B, T)


class STRPPGHead(nn.Module):
    """Contrast-Phys's spatiotemporal rPPG block: feature map (B, D, T, h, w) -> S×S spatial signals.

    The map is average-pooled to T × S × S (S = 2: four spatial signals, one per quadrant of the face
    box), then a Conv3d D→1 k1 with bias gives one signal per cell. :meth:`spatial` returns them all
    (B, S², T); :meth:`forward` returns their mean (B, T), the rPPG signal used at inference (the same as
    the conv of the spatial mean, since the conv is linear). D + 1 parameters; xavier-normal init.

    Maps smaller than S×S are upsampled to it by the adaptive pooling (each cell then repeats a pixel).
    """

    def __init__(self, in_channels: int, *, grid: int = 2) -> None:
        super().__init__()
        if in_channels < 1 or grid < 1:
            raise ValueError(f"STRPPGHead needs in_channels, grid >= 1, got {in_channels}, {grid}")
        self.in_channels, self.grid = in_channels, grid
        self.out = nn.Conv3d(in_channels, 1, 1)
        init_xavier_(self)

    def spatial(self, features: Tensor) -> Tensor:
        """(B, D, T, h, w) -> (B, S², T), the cells in row-major order."""
        _check_feature_map("STRPPGHead", features, self.in_channels)
        pooled = F.adaptive_avg_pool3d(features, (features.shape[2], self.grid, self.grid))  # (B, D, T, S, S)
        return rearrange(self.out(pooled), "b 1 t s r -> b (s r) t")  # (B, S², T)

    def forward(self, features: Tensor) -> Tensor:
        """(B, D, T, h, w) -> (B, T), the mean of the spatial signals."""
        return self.spatial(features).mean(dim=1)


class LinearProbeHead(nn.Module):
    """Linear probe: a per-frame linear map of pooled features, (B, D, T) -> (B, T).

    A 1×1 temporal conv with bias (D + 1 parameters). A feature map (B, D, T, h, w) is accepted too and
    averaged over space first. Train it on a frozen (detached) backbone for the linear-probe protocol.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"LinearProbeHead needs in_channels >= 1, got {in_channels}")
        self.in_channels = in_channels
        self.linear = nn.Conv1d(in_channels, 1, 1)
        init_xavier_(self)

    def forward(self, features: Tensor) -> Tensor:
        """(B, D, T) or (B, D, T, h, w) -> (B, T)."""
        if features.ndim == 5:
            features = features.mean(dim=(3, 4))  # (B, D, T)
        if features.ndim != 3 or features.shape[1] != self.in_channels:
            raise ValueError(f"LinearProbeHead expects pooled features (B, {self.in_channels}, T) or a "
                             f"feature map (B, {self.in_channels}, T, h, w), got shape "
                             f"{tuple(features.shape)}")
        return self.linear(features).squeeze(1)  # (B, T)
