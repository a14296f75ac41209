"""PhysFormer (Yu et al., CVPR 2022): a video transformer with temporal-difference attention.

At 160 frames, 128×128 and width 1.0: 7,380,865 parameters. Layout (docs/method.md §2): a 3-D conv
stem (3 spatial ×2 max-pools), a 4×4×4 tube embedding, 12 pre-norm blocks (three stages of four, all
of one structure) of temporal-difference multi-head self-attention and a spatio-temporal feed-forward,
two temporal up-samplers back to T frames, spatial mean and a Conv1d head.
The token grid is derived from the input size (H/32 × W/32), never hard-coded.
Initialisation: PyTorch's defaults (LayerNorm weight 1, bias 0).
"""
from __future__ import annotations

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from sspd.backbones.base import Backbone
from sspd.backbones.layers import TemporalDifferenceConv3d, conv_bn_act, scale_width
from sspd.backbones.registry import register_backbone

__all__ = ["PhysFormer", "TDCAttention", "STFeedForward", "PhysFormerBlock"]

_TUBE = 4  # tube embedding kernel = stride, in time and space
_STEM_POOL = 8  # three spatial ×2 max-pools in the stem
Grid = tuple[int, int, int]  # token grid (T/4, h, w)


def _to_grid(tokens: Tensor, grid: Grid) -> Tensor:
    """(B, N, D) -> (B, D, t, h, w) with N = t·h·w (t-major)."""
    t, h, w = grid
    return rearrange(tokens, "b (t h w) d -> b d t h w", t=t, h=h, w=w)


def _to_tokens(volume: Tensor) -> Tensor:
    """(B, D, t, h, w) -> (B, N, D), N = t·h·w (t-major)."""
    return rearrange(volume, "b d t h w -> b (t h w) d")


class TDCAttention(nn.Module):
    """Multi-head self-attention whose query and key are temporal-difference convs on the token grid.

    q = BN(TDC(x)), k = BN(TDC(x)) (3×3×3, no bias, θ), v = 1×1×1 conv (no bias); per head
    softmax(q·kᵀ / sharpness)·v; output Linear. ``sharpness`` replaces √d ("gradient sharpness").
    """

    def __init__(self, dim: int, *, num_heads: int = 4, theta: float = 0.7, sharpness: float = 2.0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention width {dim} is not divisible by num_heads={num_heads}")
        if not sharpness > 0:
            raise ValueError(f"attention sharpness must be > 0, got {sharpness}")
        self.num_heads, self.sharpness, self.dropout = num_heads, sharpness, dropout
        self.q = nn.Sequential(TemporalDifferenceConv3d(dim, dim, theta=theta), nn.BatchNorm3d(dim))
        self.k = nn.Sequential(TemporalDifferenceConv3d(dim, dim, theta=theta), nn.BatchNorm3d(dim))
        self.v = nn.Conv3d(dim, dim, 1, bias=False)
        self.proj = nn.Linear(dim, dim)

    def _split_heads(self, volume: Tensor) -> Tensor:
        """(B, D, t, h, w) -> (B, nh, N, D/nh): tokens t-major, head j takes channels j·hs .. (j+1)·hs - 1."""
        tokens = _to_tokens(volume)  # (B, N, D)
        return rearrange(tokens, "b n (nh hs) -> b nh n hs", nh=self.num_heads)

    def forward(self, x: Tensor, grid: Grid) -> Tensor:
        """(B, N, D) tokens on ``grid`` -> (B, N, D)."""
        volume = _to_grid(x, grid)  # (B, D, t, h, w)
        q, k, v = (self._split_heads(f(volume)) for f in (self.q, self.k, self.v))  # (B, nh, N, hs)
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, scale=1.0 / self.sharpness)
        out = rearrange(out, "b nh n hs -> b n (nh hs)")  # (B, N, D)
        return self.proj(out)


class STFeedForward(nn.Module):
    """Spatio-temporal feed-forward on the token grid: 1×1×1 conv D→F + BN + ELU, depth-wise 3×3×3
    conv + BN + ELU, 1×1×1 conv F→D + BN (all convs bias-free)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            conv_bn_act(dim, hidden, 1, bias=False, activation=nn.ELU),
            nn.Conv3d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
            nn.BatchNorm3d(hidden),
            nn.ELU(),
            nn.Conv3d(hidden, dim, 1, bias=False),
            nn.BatchNorm3d(dim),
        )

    def forward(self, x: Tensor, grid: Grid) -> Tensor:
        """(B, N, D) tokens on ``grid`` -> (B, N, D)."""
        return _to_tokens(self.layers(_to_grid(x, grid)))


class PhysFormerBlock(nn.Module):
    """Pre-norm block: x + drop(attn(LN(x))), then x + drop(ffn(LN(x))); LayerNorm eps 1e-6."""

    def __init__(self, dim: int, *, hidden: int, num_heads: int, theta: float, sharpness: float,
                 dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = TDCAttention(dim, num_heads=num_heads, theta=theta, sharpness=sharpness,
                                 dropout=dropout)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = STFeedForward(dim, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, grid: Grid) -> Tensor:
        """(B, N, D) -> (B, N, D)."""
        x = x + self.drop(self.attn(self.norm1(x), grid))
        return x + self.drop(self.ffn(self.norm2(x), grid))


def _temporal_upsampler(in_channels: int, out_channels: int) -> nn.Sequential:
    """Nearest ×2 in time, Conv3d k(3,1,1) + BN + ELU: (B, C, t, h, w) -> (B, C', 2t, h, w)."""
    return nn.Sequential(
        nn.Upsample(scale_factor=(2.0, 1.0, 1.0), mode="nearest"),
        conv_bn_act(in_channels, out_channels, (3, 1, 1), padding=(1, 0, 0), activation=nn.ELU),
    )


@register_backbone("physformer")
class PhysFormer(Backbone):
    """PhysFormer; feature map (B, 48·width, T, H/32, W/32), (B, 48, T, 4, 4) for 128×128 input.

    Args:
        frames, input_size: clip size the model is built for (T a multiple of 4, H and W >= 32).
        width: multiplier of every hidden width (stem 24/48/96, embedding 96, feed-forward 144,
            up-samplers 96/48); the embedding width is rounded to a multiple of ``num_heads``.
        depth: number of transformer blocks (12: the paper's three stages of four).
        num_heads: attention heads.
        theta: temporal-difference weight of the q/k convolutions.
        sharpness: attention temperature (scores divided by it instead of √d).
        dropout: attention-weight and residual-branch dropout (ViT's customary 0.1; 0 for none).
    """

    def __init__(self, *, frames: int = 160, input_size: int | tuple[int, int] = 128, width: float = 1.0,
                 depth: int = 12, num_heads: int = 4, theta: float = 0.7, sharpness: float = 2.0,
                 dropout: float = 0.1) -> None:
        super().__init__(frames=frames, input_size=input_size)
        if depth < 1 or num_heads < 1:
            raise ValueError(f"PhysFormer needs depth >= 1 and num_heads >= 1, got {depth}, {num_heads}")
        dim = scale_width(96, width, divisor=num_heads)
        c24, c48, hidden = (scale_width(c, width) for c in (24, 48, 144))
        self.stem = nn.Sequential(
            conv_bn_act(3, c24, (1, 5, 5), padding=(0, 2, 2)), nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2)),
            conv_bn_act(c24, c48, 3, padding=1), nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2)),
            conv_bn_act(c48, dim, 3, padding=1), nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2)),
        )
        self.tube_embed = nn.Conv3d(dim, dim, _TUBE, stride=_TUBE)
        self.blocks = nn.ModuleList(
            PhysFormerBlock(dim, hidden=hidden, num_heads=num_heads, theta=theta, sharpness=sharpness,
                            dropout=dropout)
            for _ in range(depth)
        )
        self.upsample = nn.Sequential(_temporal_upsampler(dim, dim), _temporal_upsampler(dim, c48))
        self.head = nn.Conv1d(c48, 1, 1)
        self.feature_dim = c48
        self.check_clip_size(self.frames, *self.input_size)

    def check_clip_size(self, frames: int, height: int, width: int) -> None:
        if frames < _TUBE or frames % _TUBE:
            lower = max(_TUBE, frames // _TUBE * _TUBE)
            raise ValueError(f"PhysFormer needs a frame count that is a multiple of the tube size {_TUBE}, "
                             f"got {frames}: use e.g. {lower} or {lower + _TUBE} frames")
        smallest = _STEM_POOL * _TUBE
        if min(height, width) < smallest:
            raise ValueError(f"PhysFormer needs frames of at least {smallest}×{smallest} pixels (stem pools "
                             f"×{_STEM_POOL}, tubes of {_TUBE}), got {height}×{width}: resize the face crop")

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> (B, D, T, H/32, W/32)."""
        self.check_clip(x)
        volume = self.tube_embed(self.stem(x))  # (B, dim, T/4, H/32, W/32)
        grid = tuple(volume.shape[2:])
        tokens = _to_tokens(volume)  # (B, N, dim), N = T/4 · H/32 · W/32
        for block in self.blocks:
            tokens = block(tokens, grid)
        return self.upsample(_to_grid(tokens, grid))  # (B, D, T, H/32, W/32)

    def forward_head(self, features: Tensor) -> Tensor:
        """Feature map (B, D, T, h, w) -> rPPG signal (B, T): spatial mean, then the Conv1d head."""
        return self.head(features.mean(dim=(3, 4))).squeeze(1)  # (B, D, T) -> (B, T)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> rPPG signal (B, T)."""
        return self.forward_head(self.forward_features(x))
