"""Scaling of signals to a common level before they are compared, stitched or drawn."""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["zscore"]


def zscore(x: Any, axis: int = -1) -> np.ndarray:
    """``x`` at zero mean and unit (population) std along ``axis``; a constant slice becomes zeros.

    Args:
        x: array of any shape, e.g. (T,) or (B, T); integer input is computed in float64, floating input
            keeps its dtype.
        axis: the time axis.

    Returns:
        An array of ``x``'s shape: ``(x - mean) / std``, or 0 where ``std == 0`` (never NaN).
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    centred = x - x.mean(axis=axis, keepdims=True)
    std = centred.std(axis=axis, keepdims=True)
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)
