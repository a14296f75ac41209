"""How Toeplitz a self-similarity map is: the share of its variance that depends on the lag alone.

A stationary periodic token sequence gives a map whose entry (i, j) depends on j - i only (a Toeplitz
map); SSPD's diagonal-std term pushes the online maps that way. Unstructured tokens give a map whose
diagonals are noise. The score is informative, not a collapse alarm on its own: a constant map (the
end point of collapse) is trivially Toeplitz and scores 1, which is why it is read next to the SSW's
in-band fraction.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sspd.diagnostics._checks import as_tensor

__all__ = ["toeplitz_score"]


def _diagonal_index(n: int, device: torch.device) -> Tensor:
    """(T', T') index of the diagonal each entry lies on: (j - i) + T' - 1, in [0, 2T' - 2]."""
    steps = torch.arange(n, device=device)
    return steps[None, :] - steps[:, None] + (n - 1)


def _diagonal_means(maps: Tensor, index: Tensor, weight: Tensor) -> Tensor:
    """(B, 2T'-1) weighted mean of each diagonal of ``maps`` (B, T', T'), by one scatter-add."""
    flat_index = index.reshape(1, -1).expand(maps.shape[0], -1)          # (B, T'*T')
    n_diag = 2 * maps.shape[-1] - 1
    sums = maps.new_zeros(maps.shape[0], n_diag).scatter_add_(1, flat_index, (maps * weight).flatten(1))
    counts = maps.new_zeros(n_diag).scatter_add_(0, index.flatten(), weight.flatten())  # (2T'-1,)
    return sums / counts.clamp_min(1.0)


def toeplitz_score(ssm: Any, ignore_main_diagonal: bool = False, eps: float = 1e-12) -> float:
    """Fraction of each map's variance explained by its diagonal means, averaged over the batch.

    The map is approximated by the Toeplitz map A[i, j] = mean of the diagonal j - i (every diagonal,
    upper and lower, so non-symmetric maps are handled); the score is 1 - SS_res / (SS_tot + eps) with
    SS_res = sum (S - A)^2 and SS_tot = sum (S - mean S)^2. Vectorised: each entry's diagonal index
    j - i + T' - 1 drives one scatter-add, no loop over diagonals.

    Healthy range: near 1 for the maps of a stationary periodic sequence; about 2/T' for a map of
    independent random entries (each diagonal mean explains only its own entries' mean). A constant
    map gives 1 (nothing is left unexplained).

    Args:
        ssm: (B, T', T') self-similarity maps.
        ignore_main_diagonal: leave the main diagonal out of both sums; use it for cosine maps, whose
            main diagonal is 1 by construction and says nothing about the sequence.
        eps: guard of the division for constant maps.

    Returns:
        The mean score over the batch, <= 1.
    """
    maps = as_tensor(ssm, "ssm", 3, "(B, T', T')")                    # (B, T', T')
    n = maps.shape[-1]
    if maps.shape[1] != n or n < 2:
        raise ValueError(f"ssm must be square maps (B, T', T') with T' >= 2, got {tuple(maps.shape)}")
    weight = torch.ones(n, n, dtype=maps.dtype)                       # (T', T')
    if ignore_main_diagonal:
        weight.fill_diagonal_(0.0)
    index = _diagonal_index(n, maps.device)
    toeplitz = _diagonal_means(maps, index, weight)[:, index]          # (B, T', T')
    mean = (maps * weight).sum(dim=(1, 2), keepdim=True) / weight.sum()  # (B, 1, 1)
    ss_res = (((maps - toeplitz) ** 2) * weight).sum(dim=(1, 2))       # (B,)
    ss_tot = (((maps - mean) ** 2) * weight).sum(dim=(1, 2))           # (B,)
    return float((1.0 - ss_res / (ss_tot + eps)).mean())
