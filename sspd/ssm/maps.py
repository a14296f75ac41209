"""Self-similarity maps (SSM) and waves (SSW), vectorised.

SSM[i, j] = cos(h_i, h_j) over the tokens of one clip; SSW[d] = mean over i of SSM[i, i + d]. The SSPD
release builds the wave and the diagonal statistics with Python double loops over (i, j); here every
upper diagonal is read at once through one strided view of the zero-padded map (a "skewed" map,
skewed[i, d] = SSM[i, i + d]).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["self_similarity_map", "self_similarity_wave", "upper_diagonals", "diagonal_counts"]


def _check_map(ssm: Tensor, name: str) -> int:
    if ssm.dim() != 3 or ssm.shape[1] != ssm.shape[2]:
        raise ValueError(f"{name} expects self-similarity maps (B, T', T'), got {tuple(ssm.shape)}")
    return ssm.shape[-1]


def self_similarity_map(h: Tensor, eps: float = 1e-8) -> Tensor:
    """Cosine self-similarity of a token sequence.

    Args:
        h: (B, T', D) tokens (a TS block's h).
        eps: lower bound of each token's norm (the release has none): an all-zero token gives a zero
            row and column instead of NaN. The diagonal is 1 for every token with norm >= eps.

    Returns:
        (B, T', T') float32 map in [-1, 1]. Computed in float32 with autocast off: the differences
        between near-parallel unit vectors are what the SSM losses look at, and half precision
        loses them.
    """
    if h.dim() != 3:
        raise ValueError(f"self_similarity_map expects tokens (B, T', D), got {tuple(h.shape)}")
    with torch.autocast(device_type=h.device.type, enabled=False):
        unit = F.normalize(h.float(), dim=-1, eps=eps)  # (B, T', D)
        return unit @ unit.transpose(1, 2)              # (B, T', T')


def upper_diagonals(ssm: Tensor) -> tuple[Tensor, Tensor]:
    """All upper diagonals of a batch of square maps, side by side, as one strided view.

    Args:
        ssm: (B, T', T').

    Returns:
        skewed (B, T', T') with skewed[b, i, d] = ssm[b, i, i + d] where i + d < T' and 0 elsewhere, so
        column d holds lag d's diagonal (T' - d valid entries, from the top); and the (T', T') boolean
        mask ``valid`` of those entries.
    """
    b, n = ssm.shape[0], _check_map(ssm, "upper_diagonals")
    # Zero-pad each row to 2T' and read the padded rows with a row stride of 2T' + 1: entry (i, d)
    # lands on padded[i, i + d], which is ssm[i, i + d] for i + d < T' and a padding zero otherwise.
    # One copy (the padding), no index tensor, and a backward that only slices.
    padded = F.pad(ssm, (0, n)).contiguous()                           # (B, T', 2T')
    skewed = padded.as_strided((b, n, n), (2 * n * n, 2 * n + 1, 1))   # (B, T', T')
    steps = torch.arange(n, device=ssm.device)
    return skewed, steps[:, None] + steps[None, :] < n                 # valid: (T', T')


def diagonal_counts(n: int, device: torch.device | None = None) -> Tensor:
    """(T',) number of entries on each upper diagonal d = 0 … T'-1 of a T'×T' map: T' - d."""
    return torch.arange(n, 0, -1, device=device)


def self_similarity_wave(ssm: Tensor) -> Tensor:
    """SSW[d] = mean over i of SSM[i, i + d], for lags d = 0 … T'-1.

    Args:
        ssm: (B, T', T') self-similarity maps.

    Returns:
        (B, T') waves, autocorrelation-like: SSW[0] = 1 for a cosine map of non-zero tokens, and a
        feature sequence with period P gives a wave that peaks again at lag P.
    """
    skewed, _ = upper_diagonals(ssm)                                     # (B, T', T')
    return skewed.sum(dim=1) / diagonal_counts(ssm.shape[-1], ssm.device)  # (B, T')
