"""Momentum schedules for the EMA target: pure functions of the optimiser step that validate their input.

:func:`cosine_interpolate` and :func:`check_step` are the cosine and the step rule of every schedule in
sspd: the learning-rate schedules of :mod:`sspd.engine.schedules` (a layer above) are built on them.
"""
from __future__ import annotations

import math
from numbers import Integral

__all__ = ["cosine_momentum", "cosine_interpolate", "check_step"]


def check_step(fn: str, step: int, total_steps: int) -> None:
    """Raise unless ``total_steps`` is a positive int and ``step`` an int in [0, total_steps]; ``fn``
    names the caller in the message."""
    if isinstance(total_steps, bool) or not isinstance(total_steps, Integral) or total_steps <= 0:
        raise ValueError(f"{fn}: total_steps must be a positive int, got {total_steps!r}")
    if isinstance(step, bool) or not isinstance(step, Integral) or not 0 <= step <= total_steps:
        raise ValueError(f"{fn}: step must be an int in [0, total_steps={total_steps}], got {step!r}")


def cosine_interpolate(start: float, end: float, fraction: float) -> float:
    """Half a cosine from ``start`` (fraction 0) to ``end`` (fraction 1):
    ``end - (end - start)·(1 + cos(π·fraction)) / 2``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"cosine_interpolate: fraction must lie in [0, 1], got {fraction!r}")
    return end - (end - start) * (1.0 + math.cos(math.pi * fraction)) / 2.0


def cosine_momentum(step: int, total_steps: int, start: float = 0.9, end: float = 1.0) -> float:
    """Cosine ramp of the EMA momentum from ``start`` (step 0) to ``end`` (step ``total_steps``).

    m(i) = end - (end - start)·(1 + cos(π·i / N)) / 2; with the SSPD defaults (0.9 → 1.0) this is
    m(i) = 1 - 0.05·(1 + cos(π·i / N)).

    Args:
        step: optimiser steps taken so far, 0 <= step <= total_steps.
        total_steps: N > 0, the optimiser steps of the whole run (epochs × steps per epoch, counting
            optimiser steps, not micro-batches of gradient accumulation).
        start, end: momenta in [0, 1].

    Returns:
        The momentum m in [min(start, end), max(start, end)].
    """
    check_step("cosine_momentum", step, total_steps)
    for name, value in (("start", start), ("end", end)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"cosine_momentum: {name} must lie in [0, 1], got {value}")
    return cosine_interpolate(start, end, step / total_steps)
