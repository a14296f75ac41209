"""PhysNet (Yu et al., BMVC 2019): the padding 3-D CNN encoder–decoder with max-pooling.

The form used by the common rPPG toolboxes: 768,577 parameters at width 1.0 (se=False).
Initialisation: PyTorch's defaults, as in those toolboxes.
"""
from __future__ import annotations

from torch import Tensor, nn

from sspd.backbones.base import Backbone
from sspd.backbones.layers import SqueezeExcitation, conv_bn_act, scale_width
from sspd.backbones.registry import register_backbone

__all__ = ["PhysNet"]

_TIME_FACTOR = 4  # two (2, 2, 2) max-pools, undone by two ×2 temporal up-samplers
_SPACE_FACTOR = 16  # four spatial ×2 max-pools


def _upsampler(channels: int) -> nn.Sequential:
    """ConvTranspose3d k(4,1,1) s(2,1,1) p(1,0,0) + BN + ELU: (B, D, T, h, w) -> (B, D, 2T, h, w)."""
    return nn.Sequential(
        nn.ConvTranspose3d(channels, channels, (4, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0)),
        nn.BatchNorm3d(channels),
        nn.ELU(),
    )


@register_backbone("physnet")
class PhysNet(Backbone):
    """PhysNet encoder–decoder; feature map (B, 64·width, T, H/16, W/16), e.g. (B, 64, T, 8, 8) at 128².

    Five encoder stages of Conv3d (bias) + BN + ReLU, each followed by a max-pool (the last excepted):
    [3→16 k(1,5,5)] pool(1,2,2); [16→32, 32→64 k3] pool(2,2,2); [64→64 k3 ×2] pool(2,2,2);
    [64→64 k3 ×2] pool(1,2,2); [64→64 k3 ×2]. Then two temporal up-samplers back to T frames.
    forward: spatial mean, Conv3d 64→1 k1 -> (B, T).

    Args:
        frames, input_size: clip size the model is built for (T a multiple of 4, H and W >= 16).
        width: multiplier of every hidden width (16, 32, 64), rounded to a multiple of 4.
        se: add squeeze-excitation after each encoder stage (before its pool).
        se_reduction: SE reduction ratio.
    """

    def __init__(self, *, frames: int = 128, input_size: int | tuple[int, int] = 128, width: float = 1.0,
                 se: bool = False, se_reduction: int = 4) -> None:
        super().__init__(frames=frames, input_size=input_size)
        c16, c32, c64 = (scale_width(c, width) for c in (16, 32, 64))
        self.feature_dim = c64
        stage_convs = [
            [conv_bn_act(3, c16, (1, 5, 5), padding=(0, 2, 2))],
            [conv_bn_act(c16, c32, 3, padding=1), conv_bn_act(c32, c64, 3, padding=1)],
            [conv_bn_act(c64, c64, 3, padding=1), conv_bn_act(c64, c64, 3, padding=1)],
            [conv_bn_act(c64, c64, 3, padding=1), conv_bn_act(c64, c64, 3, padding=1)],
            [conv_bn_act(c64, c64, 3, padding=1), conv_bn_act(c64, c64, 3, padding=1)],
        ]
        pools = [(1, 2, 2), (2, 2, 2), (2, 2, 2), (1, 2, 2), None]
        stages = []
        for convs, pool in zip(stage_convs, pools):
            if se:
                convs.append(SqueezeExcitation(convs[-1][0].out_channels, reduction=se_reduction))
            if pool is not None:
                convs.append(nn.MaxPool3d(pool, stride=pool))
            stages.append(nn.Sequential(*convs))
        self.encoder = nn.Sequential(*stages)
        self.decoder = nn.Sequential(_upsampler(c64), _upsampler(c64))
        self.head = nn.Conv3d(c64, 1, 1)
        self.check_clip_size(self.frames, *self.input_size)

    def check_clip_size(self, frames: int, height: int, width: int) -> None:
        if frames < _TIME_FACTOR or frames % _TIME_FACTOR:
            lower = max(_TIME_FACTOR, frames // _TIME_FACTOR * _TIME_FACTOR)
            raise ValueError(f"PhysNet needs a frame count that is a multiple of {_TIME_FACTOR} (two "
                             f"temporal pools and up-samplers), got {frames}: use e.g. {lower} or "
                             f"{lower + _TIME_FACTOR} frames")
        if min(height, width) < _SPACE_FACTOR:
            raise ValueError(f"PhysNet needs frames of at least {_SPACE_FACTOR}×{_SPACE_FACTOR} pixels "
                             f"(four spatial ×2 pools), got {height}×{width}: resize the face crop")

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> (B, D, T, H/16, W/16)."""
        self.check_clip(x)
        x = self.encoder(x)  # (B, D, T/4, H/16, W/16)
        return self.decoder(x)  # (B, D, T, H/16, W/16)

    def forward_head(self, features: Tensor) -> Tensor:
        """Feature map (B, D, T, h, w) -> rPPG signal (B, T): spatial mean, then the Conv3d head."""
        pooled = features.mean(dim=(3, 4), keepdim=True)  # (B, D, T, 1, 1)
        return self.head(pooled).flatten(1)  # (B, T)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> rPPG signal (B, T)."""
        return self.forward_head(self.forward_features(x))
