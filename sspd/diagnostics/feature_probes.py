"""Collapse probes on pooled backbone features: their spread (std of unit vectors) and effective rank.

Two kinds of collapse show in the features. Every clip maps to the same vector ("clips": the backbone
ignores its input) or every frame of a clip maps to the same vector ("time": temporal collapse, which
leaves nothing periodic for the self-similarity maps to find). :func:`feature_std` measures either;
:func:`effective_rank` measures how many directions the clips' features span.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from sspd.diagnostics._checks import as_tensor

__all__ = ["FEATURE_STD_AXES", "feature_std", "effective_rank"]

FEATURE_STD_AXES = ("clips", "time")


def _unit_rows(x: Tensor) -> Tensor:
    """Rows of ``x`` (..., D) scaled to unit L2 norm; an all-zero row stays zero."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


def feature_std(pooled: Any, over: str = "clips", relative: bool = False) -> float:
    """Std of L2-normalised feature vectors, per dimension, averaged over the D dimensions.

    Which vectors, and the std over what:
        ``over="clips"``: each clip's time-mean feature vector (B, D); std over the B clips. Goes to 0
        when every clip gets the same features. Needs B >= 2 (use the rolling buffer with batch 2).
        ``over="time"``: each frame's feature vector (B, T, D); std over the T frames of each clip,
        averaged over the clips. Goes to 0 under temporal collapse (features constant in time).

    Healthy range: the coordinates of unit vectors spread evenly over D dimensions have variance 1/D,
    so the std is about 1/sqrt(D) (solo-learn's ``z_std``); features that share a large common
    direction, or span few dimensions, score lower; identical vectors score 0. The std is unbiased
    (divides by n - 1), so that isotropic unit vectors give 1/D variance at any sample count.

    Args:
        pooled: (B, D, T) pooled features (the spatial mean of a backbone's feature map).
        over: ``"clips"`` or ``"time"``, see above.
        relative: return ``std * sqrt(D)`` instead, in units of the isotropic value (healthy about 1).

    Returns:
        The mean per-dimension std, >= 0.
    """
    if over not in FEATURE_STD_AXES:
        raise ValueError(f"feature_std: over must be one of {FEATURE_STD_AXES}, got {over!r}")
    x = as_tensor(pooled, "pooled", 3, "(B, D, T)")                # (B, D, T)
    if over == "clips":
        if x.shape[0] < 2:
            raise ValueError(f"feature_std over clips needs at least 2 clips, got B={x.shape[0]}: use "
                             "ProbeBuffer to gather clips across steps")
        std = _unit_rows(x.mean(dim=2)).std(dim=0)                 # (D,)
    else:
        if x.shape[2] < 2:
            raise ValueError(f"feature_std over time needs at least 2 frames, got T={x.shape[2]}")
        std = _unit_rows(x.transpose(1, 2)).std(dim=1).mean(dim=0)  # (B, T, D) -> (D,)
    value = float(std.mean())
    return value * math.sqrt(x.shape[1]) if relative else value


def effective_rank(features: Any, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al., ICML 2023): exp of the entropy of the normalised singular values.

    With singular values s_k of the (N, D) feature matrix (not centred, as in RankMe),
    p_k = s_k / sum(s) + eps and rank = exp(-sum p_k log p_k).

    Healthy range: up to min(N, D); N orthogonal vectors of equal norm give exactly min(N, D), features
    identical for every clip give 1 (one direction). A large mean shared by every clip also pulls the
    value towards 1, since the features are not centred. All-zero features (collapse to the origin)
    give 0.

    Args:
        features: (N, D) feature vectors, one per clip (e.g. the time-mean pooled features).
        eps: added to each p_k against log(0), as in RankMe.

    Returns:
        The effective rank, in [1, min(N, D)] (0 for all-zero features).
    """
    x = as_tensor(features, "features", 2, "(N, D)")               # (N, D)
    s = torch.linalg.svdvals(x)                                    # (min(N, D),)
    total = float(s.sum())
    if total <= 0.0:
        return 0.0
    p = s / total + eps
    return float(torch.exp(-(p * p.log()).sum()))
