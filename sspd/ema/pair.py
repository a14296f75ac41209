"""The online/target pair: an online module trained by gradients and its EMA copy, declared in one place."""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any, Iterator, Literal

import torch
from torch import nn

from sspd.ema.update import BUFFER_POLICIES, update_ema

__all__ = ["EMAConfig", "OnlineTargetPair", "optimizer_step"]

log = logging.getLogger(__name__)


@dataclass
class EMAConfig:
    """The target network's EMA: per-step cosine momentum, buffer policy, mode (release: none, train)."""

    momentum_start: float = 0.9
    momentum_end: float = 1.0
    buffers: Literal["none", "copy", "ema"] = "none"
    target_mode: Literal["train", "eval"] = "train"

_TARGET_MODES = ("train", "eval")


def optimizer_step(optimizer: torch.optim.Optimizer, scaler: "torch.amp.GradScaler | None" = None) -> bool:
    """One optimiser step, through the mixed-precision ``scaler`` when given; False when the scaler
    skipped it (inf/NaN gradients: the scale went down in ``scaler.update()``)."""
    if scaler is None:
        optimizer.step()
        return True
    scale = scaler.get_scale()
    scaler.step(optimizer)
    scaler.update()
    return scaler.get_scale() >= scale


class OnlineTargetPair:
    """An online module and a frozen deep copy of it, the target, moved only by EMA.

    The target is built eagerly at construction (same weights, ``requires_grad=False`` on every
    parameter) and is never seen by the optimiser: :meth:`parameters` yields the online parameters only.
    Not an ``nn.Module`` on purpose, so that neither an optimiser nor DDP can pick up the target.

    Args:
        online: the module trained by gradients (kept, not copied).
        buffers: EMA buffer policy, see :func:`sspd.ema.update_ema` (``"none"``: the release).
        target_mode: ``"train"`` (default, the release: the target follows the online module's mode,
            so during training its BatchNorm layers use batch statistics) or ``"eval"`` (the target
            always uses its running statistics).
    """

    def __init__(self, online: nn.Module, buffers: str = "none", target_mode: str = "train") -> None:
        if buffers not in BUFFER_POLICIES:
            raise ValueError(f"OnlineTargetPair: buffers must be one of {BUFFER_POLICIES}, got {buffers!r}")
        if target_mode not in _TARGET_MODES:
            raise ValueError(
                f"OnlineTargetPair: target_mode must be one of {_TARGET_MODES}, got {target_mode!r}")
        self.online = online
        self.target = copy.deepcopy(online)
        self.target.requires_grad_(False)
        self.buffers, self.target_mode = buffers, target_mode
        self.num_updates = 0
        self.train(online.training)

    def parameters(self) -> Iterator[nn.Parameter]:
        """The online parameters: what the optimiser gets."""
        return self.online.parameters()

    def train(self, mode: bool = True) -> "OnlineTargetPair":
        """Set the online module's mode; the target follows unless ``target_mode="eval"``."""
        self.online.train(mode)
        self.target.train(mode and self.target_mode == "train")
        return self

    def eval(self) -> "OnlineTargetPair":
        return self.train(False)

    def to(self, *args: Any, **kwargs: Any) -> "OnlineTargetPair":
        """``nn.Module.to`` on both modules."""
        self.online.to(*args, **kwargs)
        self.target.to(*args, **kwargs)
        return self

    def update(self, momentum: float) -> None:
        """One EMA step of the target towards the online module. Call once per real optimiser step."""
        update_ema(self.online, self.target, momentum, buffers=self.buffers)
        self.num_updates += 1

    def step(self, optimizer: torch.optim.Optimizer, momentum: float,
             scaler: "torch.amp.GradScaler | None" = None) -> bool:
        """Optimiser step, then the EMA update, only if the step really happened.

        With a mixed-precision ``scaler``, a step that the scaler skips (inf/NaN gradients; detected
        by the scale going down in ``scaler.update()``) moves neither network. Call this once per
        optimiser step, after the last micro-batch of a gradient-accumulation cycle; the caller keeps
        ``optimizer.zero_grad()``.

        Returns:
            True if the optimiser stepped and the target was updated.
        """
        if not optimizer_step(optimizer, scaler):
            log.debug("optimiser step skipped by the grad scaler (inf/NaN gradients): no EMA update")
            return False
        self.update(momentum)
        return True

    def state_dict(self) -> dict[str, Any]:
        """Both modules' state and the update count, for checkpoints."""
        return {"online": self.online.state_dict(), "target": self.target.state_dict(),
                "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        missing = {"online", "target", "num_updates"} - state.keys()
        if missing:
            raise ValueError(f"OnlineTargetPair.load_state_dict: checkpoint lacks {sorted(missing)}")
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.num_updates = int(state["num_updates"])
