"""Temporal self-similarity (TS) blocks: the token sequences SSPD builds its self-similarity maps from.

A TS block turns pooled backbone features (B, D, T) into a shorter token sequence h (B, T', D) by a
valid temporal convolution and one attention layer, and passes a residual (B, D, T') to the next block.
SSPD chains three of them (kernels 9, 7, 5) and builds one self-similarity map per level from h. The
stack is a training auxiliary: it is dropped at inference.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

from einops import rearrange
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TSBlock", "TSBlockOutput", "TSStack", "TSStackOutput"]

_ATTENTIONS = ("tokens", "softmax")
_RESAMPLES = ("nearest", "center")


class TSBlockOutput(NamedTuple):
    """What a :class:`TSBlock` returns."""

    out: Tensor  # (B, D, T') residual output, the next block's input
    h: Tensor    # (B, T', D) token features, from which the self-similarity map is built


class TSStackOutput(NamedTuple):
    """What a :class:`TSStack` returns."""

    hs: list[Tensor]  # one (B, T'_l, D) token tensor per level, shallowest first
    out: Tensor       # (B, D, T'_last) residual output of the last block


class TSBlock(nn.Module):
    """One temporal self-similarity block (SSPD §2).

    tokens = LayerNorm(Conv1d(D→D, k, no padding)(x)) → (B, T', D), T' = T - k + 1;
    q, k, v = Linear(D→D) with bias, split into ``num_heads`` heads;
    ``attention="tokens"`` (faithful): scores = q·kᵀ / T', with no softmax and no positional encoding,
    so each token receives the average of the values weighted by raw similarities;
    ``attention="softmax"``: the usual softmax(q·kᵀ / √(D / num_heads)), offered as an option;
    h = tanh(Linear(merge_heads(scores·v)));
    out = resample(x, T') + hᵀ, with ``resample="nearest"`` (faithful: nearest interpolation of the
    whole sequence to T' frames, which shifts frames by up to (k-1)/2) or ``"center"`` (drop
    (k-1)//2 frames at the start and the rest at the end, keeping frames aligned with the tokens).

    Weights are initialised xavier-normal with zero biases, as in the rest of the SSPD networks.
    """

    def __init__(self, dim: int, kernel_size: int, num_heads: int, attention: str = "tokens",
                 resample: str = "nearest") -> None:
        super().__init__()
        _check_block_args(dim, kernel_size, num_heads, attention, resample)
        self.dim, self.kernel_size, self.num_heads = dim, kernel_size, num_heads
        self.attention, self.resample = attention, resample
        self.conv = nn.Conv1d(dim, dim, kernel_size)
        self.norm = nn.LayerNorm(dim)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal weights and zero biases for the convolution and the linear layers."""
        for layer in (self.conv, self.query, self.key, self.value, self.proj):
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.norm.reset_parameters()

    def forward(self, x: Tensor) -> TSBlockOutput:
        """x: (B, D, T) → :class:`TSBlockOutput` (out (B, D, T'), h (B, T', D)), T' = T - k + 1."""
        self._check_input(x)
        tokens = self.norm(self.conv(x).transpose(1, 2))            # (B, T', D)
        q, k, v = (self._split_heads(layer(tokens)) for layer in (self.query, self.key, self.value))
        mixed = self._attend(q, k, v)                                # (B, nh, T', hs)
        merged = rearrange(mixed, "b nh t hs -> b t (nh hs)")        # (B, T', D), heads side by side
        h = torch.tanh(self.proj(merged))                            # (B, T', D)
        out = self._resample(x, h.shape[1]) + h.transpose(1, 2)      # (B, D, T')
        return TSBlockOutput(out=out, h=h)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, T', D) → (B, nh, T', D / nh): head j takes channels j·hs .. (j+1)·hs - 1."""
        return rearrange(x, "b t (nh hs) -> b nh t hs", nh=self.num_heads)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Mix the values (B, nh, T', hs) by the token scores; see the class docstring."""
        if self.attention == "softmax":
            scores = (q @ k.transpose(-2, -1)) / q.shape[-1] ** 0.5  # (B, nh, T', T')
            return scores.softmax(dim=-1) @ v
        scores = (q @ k.transpose(-2, -1)) / q.shape[-2]              # (B, nh, T', T'), / T'
        return scores @ v

    def _resample(self, x: Tensor, length: int) -> Tensor:
        """Shorten x (B, D, T) to (B, D, T') for the residual."""
        if self.resample == "center":
            start = (self.kernel_size - 1) // 2
            return x[..., start:start + length]
        return F.interpolate(x, size=length, mode="nearest")

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != self.dim:
            raise ValueError(
                f"TSBlock expects pooled features (B, D={self.dim}, T), got {tuple(x.shape)}: "
                "average the backbone's feature map over space first")
        if x.shape[2] < self.kernel_size:
            raise ValueError(
                f"TSBlock(kernel_size={self.kernel_size}) needs at least {self.kernel_size} frames, "
                f"got T={x.shape[2]}: use longer clips or smaller kernels")


class TSStack(nn.Module):
    """TS blocks chained on their residual outputs (SSPD: kernels 9, 7, 5, 2 heads, width = backbone D).

    With T = 300 input frames the levels have T' = 292, 286 and 282 tokens.
    """

    def __init__(self, dim: int, kernel_sizes: Sequence[int] = (9, 7, 5), num_heads: int = 2,
                 attention: str = "tokens", resample: str = "nearest") -> None:
        super().__init__()
        if len(kernel_sizes) == 0:
            raise ValueError("TSStack needs at least one kernel size, got an empty sequence")
        self.blocks = nn.ModuleList(
            TSBlock(dim, kernel_size=k, num_heads=num_heads, attention=attention, resample=resample)
            for k in kernel_sizes)

    @property
    def min_frames(self) -> int:
        """The fewest input frames the stack accepts (every level keeps at least one token)."""
        return 1 + sum(block.kernel_size - 1 for block in self.blocks)

    def forward(self, x: Tensor) -> TSStackOutput:
        """x: (B, D, T) pooled features → :class:`TSStackOutput` (hs, one (B, T'_l, D) per level; out)."""
        hs = []
        for block in self.blocks:
            x, h = block(x)  # x: (B, D, T'_l), h: (B, T'_l, D)
            hs.append(h)
        return TSStackOutput(hs=hs, out=x)


def _check_block_args(dim: int, kernel_size: int, num_heads: int, attention: str, resample: str) -> None:
    if dim <= 0 or kernel_size <= 0 or num_heads <= 0:
        raise ValueError(
            f"TSBlock: dim, kernel_size and num_heads must be > 0, got {dim}, {kernel_size}, {num_heads}")
    if dim % num_heads:
        raise ValueError(f"TSBlock: dim={dim} is not divisible by num_heads={num_heads}")
    if attention not in _ATTENTIONS:
        raise ValueError(f"TSBlock: attention must be one of {_ATTENTIONS}, got {attention!r}")
    if resample not in _RESAMPLES:
        raise ValueError(f"TSBlock: resample must be one of {_RESAMPLES}, got {resample!r}")
