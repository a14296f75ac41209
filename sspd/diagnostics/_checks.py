"""Tensor checks of the collapse probes (the frame-rate and band rules are :mod:`sspd.signal.checks`).

Probes take torch tensors or numpy arrays, never modify them, and compute on detached float64 CPU
copies (they run every N steps on small tensors, so precision is cheaper than surprises).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["as_tensor", "check_same_shape"]


def as_tensor(x: Any, name: str, ndim: int, layout: str) -> Tensor:
    """``x`` as a detached float64 CPU tensor with ``ndim`` axes and only finite values.

    Args:
        x: torch tensor, numpy array or nested sequence.
        name: the argument's name, used in error messages.
        ndim: the number of axes expected.
        layout: the expected shape in symbols, e.g. ``"(B, D, T)"``, used in error messages.
    """
    if isinstance(x, Tensor):
        out = x.detach().to(device="cpu", dtype=torch.float64)
    else:
        out = torch.as_tensor(np.asarray(x, dtype=np.float64))
    if out.dim() != ndim:
        raise ValueError(f"{name} must be {layout}, got shape {tuple(out.shape)}")
    if out.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(out.shape)}): pass at least one clip")
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"{name} contains NaN or inf: the run has diverged (check the loss and the "
                         "learning rate) or the input is corrupt")
    return out


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    """Raise unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} must have the same "
                         "shape: pass the two outputs of the same batch")

