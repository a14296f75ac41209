"""The NaN/inf guard: skip an optimiser step whose loss or gradients are not finite, count it, and stop
the run with a clear message after too many in a row.

    guard = NonFiniteGuard(max_consecutive=5)
    terms = objective(...)                                   # dict of named scalar tensors
    loss.backward(); scaler.unscale_(optimizer)              # unscale first under fp16
    if guard.check(terms, step=step, grads_of=model):        # raises after 5 bad steps in a row
        optimizer.step()
    optimizer.zero_grad()

Under fp16 a step can have a finite loss but inf gradients; ``grads_of`` catches those (a grad scaler
skips such steps by itself, but bf16 and fp32 runs have no scaler). Under DDP every rank must take
the same decision: combine with :func:`sspd.engine.distributed.all_ranks_true`.
"""
from __future__ import annotations

import logging
import math
from collections import defaultdict
from numbers import Real
from typing import Any, Mapping, Union

import torch
from torch import Tensor, nn

__all__ = ["NonFiniteLossError", "NonFiniteGuard", "find_nonfinite_grads", "find_nonfinite_terms"]

log = logging.getLogger(__name__)

#: What the guard checks: one loss, or a dict of named scalars (tensors of any shape, or floats).
Values = Union[Tensor, float, Mapping[str, Union[Tensor, float]]]

_NAMES_SHOWN = 6  # names listed in a message before "and N more"


class NonFiniteLossError(RuntimeError):
    """Raised by :class:`NonFiniteGuard` after too many consecutive non-finite steps."""


def find_nonfinite_terms(values: Values) -> list[str]:
    """Names of the entries of ``values`` that hold a NaN or an infinity (``"loss"`` for a bare value)."""
    items = values.items() if isinstance(values, Mapping) else [("loss", values)]
    bad = []
    for name, value in items:
        if isinstance(value, Tensor):
            finite = bool(torch.isfinite(value.detach()).all())
        elif isinstance(value, Real) and not isinstance(value, bool):
            finite = math.isfinite(value)
        else:
            raise ValueError(f"find_nonfinite_terms: {name!r} must be a tensor or a real number, "
                             f"got {type(value).__name__}")
        if not finite:
            bad.append(name)
    return bad


def find_nonfinite_grads(module: nn.Module) -> list[str]:
    """Names of ``module``'s parameters whose gradient holds a NaN or an infinity.

    Parameters without a gradient are skipped. One host synchronisation per device, not per parameter.
    """
    by_device: dict[torch.device, list[tuple[str, Tensor]]] = defaultdict(list)
    for name, param in module.named_parameters():
        if param.grad is not None:
            by_device[param.grad.device].append((name, param.grad))
    bad = []
    for named in by_device.values():
        flags = torch.stack([torch.isfinite(grad).all() for _, grad in named]).tolist()  # (P,) bools
        bad += [name for (name, _), finite in zip(named, flags) if not finite]
    return bad


class NonFiniteGuard:
    """Counts optimiser steps skipped for non-finite values; raises after ``max_consecutive`` in a row.

    Call :meth:`check` once per optimiser step (after backward, before ``optimizer.step()``); skip the
    step when it returns False. A finite step resets the consecutive count.

    Args:
        max_consecutive: K >= 1; the K-th non-finite step in a row raises :class:`NonFiniteLossError`.

    Attributes:
        skipped_total: non-finite steps since the start of the run.
        consecutive: non-finite steps since the last finite one.
    """

    def __init__(self, max_consecutive: int = 5) -> None:
        if isinstance(max_consecutive, bool) or not isinstance(max_consecutive, int) or max_consecutive < 1:
            raise ValueError(f"NonFiniteGuard: max_consecutive must be an int >= 1, got {max_consecutive!r}")
        self.max_consecutive = max_consecutive
        self.skipped_total = 0
        self.consecutive = 0
        self.first_bad_step: int | None = None  # first step of the current run of bad steps

    def check(self, values: Values, step: int | None = None, grads_of: nn.Module | None = None) -> bool:
        """True if every value (and every gradient of ``grads_of``) is finite; else count a skipped step.

        Args:
            values: the loss, or the step's named loss terms.
            step: the optimiser step, for the messages.
            grads_of: also check this module's parameter gradients (call after backward).

        Raises:
            NonFiniteLossError: on the ``max_consecutive``-th non-finite step in a row.
        """
        bad = find_nonfinite_terms(values)
        if grads_of is not None:
            bad += [f"grad of {name}" for name in find_nonfinite_grads(grads_of)]
        if not bad:
            self.consecutive, self.first_bad_step = 0, None
            return True
        self.skipped_total += 1
        self.consecutive += 1
        if self.consecutive == 1:
            self.first_bad_step = step
        at = "" if step is None else f" at step {step}"
        log.warning("non-finite %s%s: step skipped (%d in a row, %d in total)", _list_names(bad), at,
                    self.consecutive, self.skipped_total)
        if self.consecutive >= self.max_consecutive:
            raise NonFiniteLossError(self._message(bad, step))
        return False

    def _message(self, bad: list[str], step: int | None) -> str:
        steps = "" if step is None else f" (steps {self.first_bad_step}-{step})"
        return (f"{self.consecutive} optimiser steps in a row had non-finite values{steps}; the last had "
                f"NaN/inf in {_list_names(bad)}. {self.skipped_total} step(s) were skipped in total. "
                "Lower the learning rate, enable gradient clipping, use bf16 instead of fp16, or check the "
                "input data for NaN; resume from the last checkpoint after the change.")

    def state_dict(self) -> dict[str, Any]:
        """The counters, for checkpoints (``max_consecutive`` comes from the configuration)."""
        return {"skipped_total": self.skipped_total, "consecutive": self.consecutive,
                "first_bad_step": self.first_bad_step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the counters saved by :meth:`state_dict`."""
        missing = {"skipped_total", "consecutive", "first_bad_step"} - set(state)
        if missing:
            raise ValueError(f"NonFiniteGuard.load_state_dict: state lacks {sorted(missing)}")
        self.skipped_total = int(state["skipped_total"])
        self.consecutive = int(state["consecutive"])
        self.first_bad_step = state["first_bad_step"]


def _list_names(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")
