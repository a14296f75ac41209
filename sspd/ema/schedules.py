"""Momentum schedules for the EMA target: pure functions of the optimiser step that validate their input."""
from __future__ import annotations

import math
from numbers import Integral

__all__ = ["cosine_momentum"]


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
    if isinstance(total_steps, bool) or not isinstance(total_steps, Integral) or total_steps <= 0:
        raise ValueError(f"cosine_momentum: total_steps must be a positive int, got {total_steps!r}")
    if isinstance(step, bool) or not isinstance(step, Integral) or not 0 <= step <= total_steps:
        raise ValueError(
            f"cosine_momentum: step must be an int in [0, total_steps={total_steps}], got {step!r}")
    for name, value in (("start", start), ("end", end)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"cosine_momentum: {name} must lie in [0, 1], got {value}")
    return end - (end - start) * (1.0 + math.cos(math.pi * step / total_steps)) / 2.0
