"""The SSPD paper/release training recipe (SSPD_METHOD.md §5), defined once, and what it builds.

    recipe = PAPER_PRESET                                    # or dataclasses.replace(PAPER_PRESET, ...)
    trainer = build_sspd_training(recipe, seed=0)            # network, Adam, target, view generator
    total_steps = recipe.total_steps(clips_per_epoch=30)     # UBFC-rPPG: 30 subjects → 90 steps
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from sspd.augment import ViewOptions
from sspd.engine.network import create_sspd_network
from sspd.objectives.sspd import SSPDObjectiveConfig
from sspd.engine.step import SSPDTrainStep

__all__ = ["SSPDRecipe", "PAPER_PRESET", "build_sspd_training"]


@dataclass(frozen=True)
class SSPDRecipe:
    """A complete SSPD training recipe; the defaults are the paper's release (see :data:`PAPER_PRESET`).

    Attributes:
        backbone: registered backbone name; backbone_options: its keyword options (frames and
            input_size are set from the fields below).
        frames: difference frames per clip T (the loader reads T + 1 raw frames).
        input_size: network input side; box_size: side of the face box the views are cut from.
        batch_size, epochs: per optimiser step, and passes over the training clips.
        lr, weight_decay: Adam's (constant lr: the release has no schedule).
        mixed_precision: the release trains under autocast (the loop applies it).
        momentum_start, momentum_end: per-step cosine EMA momentum.
        buffers, target_mode: EMA buffer policy and the target's mode (release: none, train).
        views, objective: view options (§1) and loss configuration (§4).
        channels_last: run the networks in ``torch.channels_last_3d`` (the same values; about 1.3x
            faster per SSPD-Net step on CPU, see benchmarks/sspd_step.py); not part of the paper.
    """

    backbone: str = "sspdnet"
    backbone_options: dict[str, Any] = field(default_factory=dict)
    frames: int = 300
    input_size: int = 128
    box_size: int = 151
    batch_size: int = 12
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    mixed_precision: bool = True
    momentum_start: float = 0.9
    momentum_end: float = 1.0
    buffers: Literal["none", "copy", "ema"] = "none"
    target_mode: Literal["train", "eval"] = "train"
    views: ViewOptions = field(default_factory=ViewOptions)
    objective: SSPDObjectiveConfig = field(default_factory=SSPDObjectiveConfig)
    channels_last: bool = False

    def __post_init__(self) -> None:
        for name in ("frames", "input_size", "batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SSPDRecipe.{name} must be a positive int, got {value!r}")
        if self.box_size < self.input_size:
            raise ValueError(f"SSPDRecipe.box_size ({self.box_size}) must be >= input_size "
                             f"({self.input_size}): the online view is a crop of the box")
        if not (math.isfinite(self.lr) and self.lr > 0) or self.weight_decay < 0:
            raise ValueError(f"SSPDRecipe needs lr > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")

    def total_steps(self, clips_per_epoch: int) -> int:
        """Optimiser steps of the run: epochs × ⌈clips per epoch / batch size⌉."""
        if clips_per_epoch < 1:
            raise ValueError(f"clips_per_epoch must be >= 1, got {clips_per_epoch}")
        return self.epochs * math.ceil(clips_per_epoch / self.batch_size)


# The paper's recipe (SSPD_METHOD.md §5): SSPD-Net, 300-frame 128×128 views from 151×151 boxes, Adam
# lr 1e-3 constant, wd 0, batch 12, 30 epochs, mixed precision, cosine EMA momentum 0.9 → 1.0 per step,
# target buffers untouched and the target in train mode, the view options of §1 and the loss of §4.
PAPER_PRESET = SSPDRecipe()


def build_sspd_training(recipe: SSPDRecipe = PAPER_PRESET, *, seed: int = 0,
                        device: str | torch.device = "cpu") -> SSPDTrainStep:
    """The network, its Adam optimiser, target and view generator of ``recipe``, as an SSPDTrainStep.

    Seed the global RNG before calling for reproducible initial weights (the seed here drives views).
    """
    options = {**recipe.backbone_options, "frames": recipe.frames, "input_size": recipe.input_size}
    network = create_sspd_network(recipe.backbone, **options).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    return SSPDTrainStep(network, optimizer, objective=recipe.objective, views=recipe.views,
                         momentum_start=recipe.momentum_start, momentum_end=recipe.momentum_end,
                         buffers=recipe.buffers, target_mode=recipe.target_mode, seed=seed,
                         channels_last=recipe.channels_last)
