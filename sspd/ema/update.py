"""The one exponential-moving-average update of a target network from its online network.

θ_target ← m·θ_target + (1 - m)·θ_online, in place, under no_grad, with foreach ops over matched
parameter lists. What happens to buffers (BatchNorm running statistics and counters) is an explicit
choice: SSPD's release leaves the target's own buffers alone.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["update_ema", "BUFFER_POLICIES"]

BUFFER_POLICIES = ("none", "copy", "ema")


def _check_momentum(momentum: float) -> float:
    momentum = float(momentum)
    if not 0.0 <= momentum <= 1.0:  # also rejects NaN
        raise ValueError(f"EMA momentum must lie in [0, 1], got {momentum}")
    return momentum


def _matched(online: dict[str, Tensor], target: dict[str, Tensor], kind: str) -> tuple[list, list]:
    """The two tensor lists in the same order; raises if names, shapes, dtypes or devices differ."""
    if online.keys() != target.keys():
        missing, extra = sorted(online.keys() - target.keys()), sorted(target.keys() - online.keys())
        raise ValueError(
            f"update_ema: online and target {kind} differ: only online {missing[:5]}, only target "
            f"{extra[:5]}; build the target as a deep copy of the online module")
    for name, tensor in online.items():
        other = target[name]
        if (tensor.shape, tensor.dtype, tensor.device) != (other.shape, other.dtype, other.device):
            raise ValueError(
                f"update_ema: {kind[:-1]} {name!r} is {tuple(tensor.shape)} {tensor.dtype} on "
                f"{tensor.device} online but {tuple(other.shape)} {other.dtype} on {other.device} in the "
                "target; move both modules to the same device and dtype")
    names = list(online)
    return [online[n] for n in names], [target[n] for n in names]


def _blend(target: list[Tensor], online: list[Tensor], momentum: float) -> None:
    """target ← m·target + (1 - m)·online, with exact copies at m = 0 and no change at m = 1."""
    if not target or momentum == 1.0:
        return
    if momentum == 0.0:
        torch._foreach_copy_(target, online)
        return
    torch._foreach_mul_(target, momentum)
    torch._foreach_add_(target, online, alpha=1.0 - momentum)


def _update_buffers(online: nn.Module, target: nn.Module, momentum: float, policy: str) -> None:
    online_bufs, target_bufs = _matched(dict(online.named_buffers()), dict(target.named_buffers()),
                                        "buffers")
    pairs = list(zip(online_bufs, target_bufs))
    averaged = [(o, t) for o, t in pairs if policy == "ema" and t.is_floating_point()]
    copied = [(o, t) for o, t in pairs if not (policy == "ema" and t.is_floating_point())]
    if copied:
        torch._foreach_copy_([t for _, t in copied], [o for o, _ in copied])
    _blend([t for _, t in averaged], [o for o, _ in averaged], momentum)


def update_ema(online: nn.Module, target: nn.Module, momentum: float, buffers: str = "none") -> None:
    """Move the target's parameters towards the online ones: θ_t ← m·θ_t + (1 - m)·θ_o, in place.

    Call it once after every real optimiser step (not after each micro-batch of gradient accumulation).

    Args:
        online: the module trained by gradients.
        target: a module of the same structure (same parameter and buffer names, shapes, dtypes).
        momentum: m in [0, 1]; 1 leaves the target unchanged, 0 copies the online parameters.
        buffers: ``"none"`` (the SSPD release: the target keeps its own buffers), ``"copy"`` (copy
            every buffer from the online module), ``"ema"`` (average floating-point buffers with the
            same m, copy the others). Integer buffers (BatchNorm ``num_batches_tracked``) are never
            averaged.
    """
    momentum = _check_momentum(momentum)
    if buffers not in BUFFER_POLICIES:
        raise ValueError(f"update_ema: buffers must be one of {BUFFER_POLICIES}, got {buffers!r}")
    online_params, target_params = _matched(dict(online.named_parameters()),
                                            dict(target.named_parameters()), "parameters")
    with torch.no_grad():
        _blend(target_params, online_params, momentum)
        if buffers != "none":
            _update_buffers(online, target, momentum, buffers)
