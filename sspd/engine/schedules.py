"""Learning-rate schedules: pure functions of the optimiser step that validate their input, plus the
adapter that writes a step's learning rate into an optimiser.

    for step in range(total_steps):
        lr = lr_at(step, total_steps, base_lr=1e-3, schedule="cosine", warmup_steps=100)
        set_lr(optimizer, lr)        # each param group gets lr × group.get("lr_scale", 1.0)
        ...

``step`` counts optimiser steps taken before this one (0 for the first), not micro-batches of gradient
accumulation; ``step == total_steps`` is allowed and gives the value after the last step (the end
point of the curve). The SSPD release trains with a constant 1e-3 (docs/method.md §5).
"""
from __future__ import annotations

import math
from numbers import Integral, Real

import torch

from sspd.ema.schedules import check_step, cosine_interpolate  # the one cosine and step rule

__all__ = ["SCHEDULES", "constant_lr", "cosine_lr", "onecycle_lr", "lr_at", "set_lr"]

SCHEDULES = ("constant", "cosine", "onecycle")


def _check_positive(fn: str, name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{fn}: {name} must be a finite number > 0, got {value!r}")


def _check_warmup(fn: str, warmup_steps: int, total_steps: int) -> None:
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, Integral) or \
            not 0 <= warmup_steps < total_steps:
        raise ValueError(f"{fn}: warmup_steps must be an int in [0, total_steps={total_steps}), "
                         f"got {warmup_steps!r}")


def _warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warm-up: (step + 1) / warmup_steps below ``warmup_steps`` (so no step runs at lr 0), else 1."""
    return (step + 1) / warmup_steps if step < warmup_steps else 1.0


def constant_lr(step: int, total_steps: int, base_lr: float, warmup_steps: int = 0) -> float:
    """``base_lr`` after a linear warm-up of ``warmup_steps`` steps (base_lr·(step+1)/warmup_steps)."""
    check_step("constant_lr", step, total_steps)
    _check_positive("constant_lr", "base_lr", base_lr)
    _check_warmup("constant_lr", warmup_steps, total_steps)
    return base_lr * _warmup_factor(step, warmup_steps)


def cosine_lr(step: int, total_steps: int, base_lr: float, warmup_steps: int = 0, min_lr: float = 0.0) -> float:
    """Linear warm-up to ``base_lr``, then half a cosine down to ``min_lr`` at ``total_steps``.

    After warm-up, with p = (step - warmup_steps) / (total_steps - warmup_steps):
    lr = min_lr + (base_lr - min_lr)·(1 + cos(π·p)) / 2, i.e. torch's ``CosineAnnealingLR`` shifted
    by the warm-up.

    Args:
        step, total_steps: see the module docstring.
        base_lr: the peak learning rate, > 0.
        warmup_steps: steps of linear warm-up, in [0, total_steps).
        min_lr: the final learning rate, in [0, base_lr].
    """
    check_step("cosine_lr", step, total_steps)
    _check_positive("cosine_lr", "base_lr", base_lr)
    _check_warmup("cosine_lr", warmup_steps, total_steps)
    if isinstance(min_lr, bool) or not isinstance(min_lr, Real) or not 0.0 <= min_lr <= base_lr:
        raise ValueError(f"cosine_lr: min_lr must be a number in [0, base_lr={base_lr}], got {min_lr!r}")
    if step < warmup_steps:
        return base_lr * _warmup_factor(step, warmup_steps)
    fraction = (step - warmup_steps) / (total_steps - warmup_steps)
    return cosine_interpolate(base_lr, min_lr, fraction)


def onecycle_lr(step: int, total_steps: int, base_lr: float, pct_start: float = 0.3, div_factor: float = 25.0,
                final_div_factor: float = 1e4) -> float:
    """The one-cycle policy (Smith & Topin 2019) with cosine annealing, peaking at ``base_lr``.

    Rises from base_lr / div_factor (step 0) to base_lr at step pct_start·total_steps, then falls to
    base_lr / (div_factor·final_div_factor) at ``total_steps``; both halves are half cosines. This is
    torch's ``OneCycleLR`` (two phases, ``anneal_strategy="cos"``) with its phase ends at pct_start·N
    and N instead of pct_start·N - 1 and N - 1.

    Args:
        step, total_steps: see the module docstring.
        base_lr: the peak learning rate, > 0.
        pct_start: fraction of the run spent rising, in (0, 1).
        div_factor: initial lr = base_lr / div_factor, >= 1.
        final_div_factor: final lr = initial lr / final_div_factor, >= 1.
    """
    check_step("onecycle_lr", step, total_steps)
    _check_positive("onecycle_lr", "base_lr", base_lr)
    if isinstance(pct_start, bool) or not isinstance(pct_start, Real) or not 0.0 < pct_start < 1.0:
        raise ValueError(f"onecycle_lr: pct_start must be a number in (0, 1), got {pct_start!r}")
    for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
        _check_positive("onecycle_lr", name, value)
        if value < 1:
            raise ValueError(f"onecycle_lr: {name} must be >= 1, got {value!r}")
    initial = base_lr / div_factor
    peak_step = pct_start * total_steps
    if step <= peak_step:
        return cosine_interpolate(initial, base_lr, step / peak_step)
    return cosine_interpolate(base_lr, initial / final_div_factor, (step - peak_step) / (total_steps - peak_step))


def lr_at(step: int, total_steps: int, base_lr: float, schedule: str = "constant", warmup_steps: int = 0,
          min_lr: float = 0.0, pct_start: float = 0.3, div_factor: float = 25.0,
          final_div_factor: float = 1e4) -> float:
    """The learning rate of optimiser step ``step`` under the named ``schedule``.

    Args:
        schedule: ``"constant"`` (:func:`constant_lr`, the SSPD release), ``"cosine"``
            (:func:`cosine_lr`) or ``"onecycle"`` (:func:`onecycle_lr`).
        warmup_steps: linear warm-up of constant and cosine; must be 0 for onecycle, whose rise is its
            warm-up (set ``pct_start`` instead).
        min_lr: the end of the cosine (not used by the other schedules).
        pct_start, div_factor, final_div_factor: the one-cycle shape (not used by the others).
    """
    if schedule == "constant":
        return constant_lr(step, total_steps, base_lr, warmup_steps=warmup_steps)
    if schedule == "cosine":
        return cosine_lr(step, total_steps, base_lr, warmup_steps=warmup_steps, min_lr=min_lr)
    if schedule == "onecycle":
        if warmup_steps:
            raise ValueError(f"lr_at: schedule 'onecycle' rises by itself, so warmup_steps must be 0 (got "
                             f"{warmup_steps!r}); set pct_start for the length of the rise instead")
        return onecycle_lr(step, total_steps, base_lr, pct_start=pct_start, div_factor=div_factor,
                           final_div_factor=final_div_factor)
    raise ValueError(f"lr_at: unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> list[float]:
    """Set every param group's learning rate to ``lr × group["lr_scale"]`` (scale 1 when absent).

    Store a multiplier in a group to train it at a fraction of the schedule, e.g. a backbone at 0.1×
    the head's rate when fine-tuning: ``Adam([{"params": backbone, "lr_scale": 0.1}, {"params": head}])``.

    Returns:
        The learning rate of each param group, in order.
    """
    if isinstance(lr, bool) or not isinstance(lr, Real) or not math.isfinite(lr) or lr < 0:
        raise ValueError(f"set_lr: lr must be a finite number >= 0, got {lr!r}")
    for index, group in enumerate(optimizer.param_groups):
        scale = group.get("lr_scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, Real) or not math.isfinite(scale) or scale < 0:
            raise ValueError(f"set_lr: param group {index} has lr_scale {scale!r}; it must be a finite "
                             "number >= 0")
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    return [group["lr"] for group in optimizer.param_groups]
