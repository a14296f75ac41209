"""Layers shared by the backbones: conv blocks, squeeze-excitation, temporal-difference convolution.

Shape symbols as in :mod:`sspd`: B batch, C channels, T frames, H×W pixels, D feature width.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "scale_width",
    "conv_bn_act",
    "init_xavier_",
    "SqueezeExcitation",
    "SpatialAvgPool",
    "TemporalDifferenceConv3d",
]

Triple = tuple[int, int, int]


def scale_width(width: int, multiplier: float, divisor: int = 4) -> int:
    """Scale a hidden width by ``multiplier``, rounded to a multiple of ``divisor`` (at least ``divisor``).

    ``divisor`` is the smallest sensible group: 4 by default, the number of attention heads for a
    transformer width (so every head keeps at least one channel). Widths that are already multiples of
    ``divisor`` come back unchanged at ``multiplier=1.0``, so the reference parameter counts hold.
    """
    if not multiplier > 0:
        raise ValueError(f"width multiplier must be > 0, got {multiplier}: use 1.0 for the reference size")
    if divisor < 1:
        raise ValueError(f"divisor must be >= 1, got {divisor}")
    return max(divisor, int(round(width * multiplier / divisor)) * divisor)


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int | Triple,
    *,
    padding: int | Triple = 0,
    bias: bool = True,
    activation: type[nn.Module] = nn.ReLU,
) -> nn.Sequential:
    """Conv3d + BatchNorm3d + activation, the unit every 3-D CNN backbone here is made of."""
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, kernel_size, padding=padding, bias=bias),
        nn.BatchNorm3d(out_channels),
        activation(),
    )


def init_xavier_(module: nn.Module) -> nn.Module:
    """SSPD's init (SSPD_METHOD §2): xavier-normal Conv/Linear weights, zero biases, norms weight 1 bias 0.

    Works in place on every submodule and returns ``module``.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose3d, nn.Linear)):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, TemporalDifferenceConv3d):
            nn.init.xavier_normal_(m.weight)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
    return module


class SpatialAvgPool(nn.Module):
    """AvgPool3d with kernel and stride (1, 2, 2): (B, C, T, H, W) -> (B, C, T, ⌊H/2⌋, ⌊W/2⌋).

    The same values as ``nn.AvgPool3d((1, 2, 2))``, and no parameters. On a ``channels_last_3d`` input
    it pools every frame as a channels-last 2-D image through a view (no copy) and returns a
    channels-last result: on CPU, ``avg_pool3d`` in that format is several times slower and hands a
    contiguous gradient to the layers before it, which sends their backward down slow mixed-format paths.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 5 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last_3d):
            b, c, t, h, w = x.shape
            frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # (B·T, C, H, W), a channels-last view
            pooled = F.avg_pool2d(frames, 2, stride=2)                 # (B·T, C, H/2, W/2)
            return pooled.view(b, t, c, *pooled.shape[2:]).permute(0, 2, 1, 3, 4)  # (B, C, T, H/2, W/2)
        return F.avg_pool3d(x, (1, 2, 2), stride=(1, 2, 2))


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation channel attention (Hu et al., CVPR 2018) on a video feature map.

    Squeeze: global average over (T, h, w); excite: Linear C→C/r, ReLU, Linear C/r→C, sigmoid; the
    feature map is rescaled per channel by the gate in (0, 1). The hidden width is at least 1.
    """

    def __init__(self, channels: int, *, reduction: int = 4) -> None:
        super().__init__()
        if reduction < 1:
            raise ValueError(f"SE reduction ratio must be >= 1, got {reduction}")
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, T, h, w) -> (B, C, T, h, w)."""
        squeezed = x.mean(dim=(2, 3, 4))  # (B, C)
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(squeezed))))  # (B, C)
        return x * gate[:, :, None, None, None]


class TemporalDifferenceConv3d(nn.Module):
    """Temporal-difference convolution (PhysFormer, Yu et al. CVPR 2022), bias-free, "same" padding.

    y = conv(x, w) − θ · conv(x, w_d), where w_d is the 1×1×1 kernel made of the first and last
    temporal slices of w summed over space and over the two slices. Because the 1×1×1 conv reads the
    same voxel as the centre tap of the padded k×k×k conv, both fold into ONE convolution whose
    centre tap is reduced by θ·w_d: one conv instead of two, with the same result.
    """

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int | Triple = 3,
                 theta: float = 0.7) -> None:
        super().__init__()
        kernel = (kernel_size,) * 3 if isinstance(kernel_size, int) else tuple(kernel_size)
        if len(kernel) != 3 or any(k < 1 or k % 2 == 0 for k in kernel) or kernel[0] < 2:
            raise ValueError(f"TemporalDifferenceConv3d needs odd kernel sizes with >= 3 frames, got {kernel}")
        self.theta = theta
        self.padding = tuple(k // 2 for k in kernel)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *kernel))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)  # nn.Conv3d's default

    def folded_weight(self) -> Tensor:
        """The single equivalent kernel (out, in, kt, kh, kw)."""
        w = self.weight
        diff = w[:, :, 0].sum(dim=(-2, -1)) + w[:, :, -1].sum(dim=(-2, -1))  # (out, in)
        pt, ph, pw = self.padding
        centre = F.pad(diff[:, :, None, None, None], (pw, pw, ph, ph, pt, pt))  # (out, in, kt, kh, kw)
        return w - self.theta * centre

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, T, h, w) -> (B, C_out, T, h, w)."""
        return F.conv3d(x, self.folded_weight(), padding=self.padding)
