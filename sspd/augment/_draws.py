"""Random draws for the augmentations: from a caller's ``torch.Generator``, on the generator's device."""
from __future__ import annotations

import torch
from torch import Tensor


def uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator,
            device: torch.device) -> Tensor:
    """U[low, high) float32 samples, drawn on the generator's device, returned on ``device``."""
    draws = torch.rand(shape, generator=generator, device=generator.device)
    return (low + (high - low) * draws).to(device)


def bernoulli(shape: tuple[int, ...], prob: float, generator: torch.Generator,
              device: torch.device) -> Tensor:
    """Boolean samples, True with probability ``prob``, drawn on the generator's device."""
    return (torch.rand(shape, generator=generator, device=generator.device) < prob).to(device)


def offsets(batch: int, high: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """(B,) int64 offsets, each uniform on 0 … high, drawn on the generator's device."""
    return torch.randint(0, high + 1, (batch,), generator=generator, device=generator.device).to(device)
