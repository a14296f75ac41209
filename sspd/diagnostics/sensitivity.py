"""Input sensitivity: does the output change when the input does?

A collapsed network gives the same output whatever it sees. Two perturbations expose it:
- temporal shuffle: the frames of every clip are permuted in time, which destroys the pulse; a network
  that reads the pulse from the frames then outputs something unrelated to its output on the real clip,
  one that outputs a fixed wave outputs the same wave;
- clip swap: every sample gets another sample's clip (the batch rolled by one); a network that reads
  its input then outputs another clip's signal.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from sspd.diagnostics._checks import as_tensor
from sspd.diagnostics.signal_probes import standardise_rows

__all__ = ["output_change", "input_sensitivity"]


def output_change(before: Tensor, after: Tensor) -> float:
    """Mean over rows of |z_after - z_before|² / 2, with z the standardised rows (zero mean, unit norm).

    For two varying rows this is 1 - r (Pearson): 0 when the output keeps its shape (whatever its
    scale or offset), 1 when the new output is uncorrelated with the old, 2 when it is inverted. Two
    flat rows count as unchanged (0); a flat row against a varying one as 0.5.

    Args:
        before, after: (B, T) outputs for the original and the perturbed input.
    """
    z0, z1 = standardise_rows(before), standardise_rows(after)           # (B, T) each
    return float(0.5 * (z1 - z0).square().sum(dim=-1).mean())


def _time_permutation(n: int, generator: torch.Generator | None) -> Tensor:
    """A random permutation of ``n`` frames that moves at least one frame (for n >= 2)."""
    perm = torch.randperm(n, generator=generator)
    if n >= 2 and bool((perm == torch.arange(n)).all()):
        perm = perm.roll(1)
    return perm


def _run(model_fn: Callable[[Tensor], Tensor], clips: Tensor, shape: tuple[int, int] | None) -> Tensor:
    """``model_fn(clips)`` as a detached float64 (B, T) tensor; raises on a wrong shape."""
    out = as_tensor(model_fn(clips), "model_fn output", 2, "(B, T)")      # (B, T)
    if out.shape[0] != clips.shape[0] or (shape is not None and tuple(out.shape) != shape):
        raise ValueError(f"model_fn returned {tuple(out.shape)} for {clips.shape[0]} clips: it must map "
                         "clips to one (B, T) signal per clip, the same shape every call")
    return out


@torch.no_grad()
def input_sensitivity(model_fn: Callable[[Tensor], Tensor], clips: Tensor,
                      generator: torch.Generator | None = None, time_dim: int = 2) -> dict[str, float]:
    """How much the output changes (:func:`output_change`) under a temporal shuffle and a clip swap.

    Costs three forward passes without gradients. Run the model in a deterministic state (eval mode, or
    at least no dropout): random layers change the output by themselves. With BatchNorm in train mode
    both perturbations keep the input's batch statistics (the same frames, the same clips), but every
    pass also moves the running statistics: give a model_fn that uses eval mode, or a copy, when the
    running statistics matter later.

    Healthy range: about 1 for both (the perturbed output is unrelated to the original: shuffled frames
    carry no pulse, another clip carries another pulse); 0 for a network that ignores its input.

    Args:
        model_fn: any callable mapping clips to (B, T) signals (e.g. a backbone or backbone + predictor).
        clips: (B, C, T, H, W) input clips (any layout with time on ``time_dim`` and clips on dim 0).
        generator: torch generator for the frame permutation (seed it for reproducible probes).
        time_dim: the time axis of ``clips``.

    Returns:
        ``{"shuffle": ..., "swap": ...}``; ``"swap"`` is absent when B < 2 (nothing to swap with).
    """
    if not isinstance(clips, Tensor) or clips.dim() < 2:
        raise ValueError("clips must be a tensor (B, C, T, H, W) with clips on dim 0 and time on time_dim")
    if not -clips.dim() <= time_dim < clips.dim() or time_dim % clips.dim() == 0:
        raise ValueError(f"time_dim={time_dim} is not a time axis of clips {tuple(clips.shape)}")
    base = _run(model_fn, clips, None)                                   # (B, T)
    perm = _time_permutation(clips.shape[time_dim], generator).to(clips.device)
    shuffled = _run(model_fn, clips.index_select(time_dim, perm), tuple(base.shape))
    out = {"shuffle": output_change(base, shuffled)}
    if clips.shape[0] >= 2:
        swapped = _run(model_fn, clips.roll(1, dims=0), tuple(base.shape))  # sample i gets clip i-1
        out["swap"] = output_change(base, swapped)
    return out
