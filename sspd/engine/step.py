"""One SSPD training step: two views, online and target forward, the objective, backward, optimiser
step, EMA. The training loop (epochs, checkpoints, mixed precision, DDP, logging) is built on top.

    network = create_sspd_network("sspdnet")
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    trainer = SSPDTrainStep(network, optimizer, seed=0)
    for step, batch in enumerate(loader):             # batch: {"video": (B, C, T+1, S, S), "fps": ...}
        scalars = trainer.train_step(batch, step=step, total_steps=len(loader) * epochs)

Everything that changes while training (both networks, the optimiser, the view generator) is in
:meth:`SSPDTrainStep.state_dict`, so a resumed run draws the same views as an uninterrupted one.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping

import torch
from torch import Tensor

from sspd.augment import ViewOptions, make_views, random_speed
from sspd.ema import OnlineTargetPair, cosine_momentum
from sspd.engine.network import SSPDNetwork, SSPDOutputs
from sspd.engine.objective import SSPDObjectiveConfig, frame_rates, sspd_objective

__all__ = ["SSPDTrainStep", "check_batch"]

log = logging.getLogger(__name__)


def check_batch(batch: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
    """The batch's video (B, C, T+1, S, S) and (B,) frame rates; raises ValueError on bad input.

    A batch is a mapping with ``"video"``, raw face-box frames (float, finite), and ``"fps"``, one frame
    rate or one per clip. Other keys (labels) are ignored by the self-supervised objective.
    """
    missing = {"video", "fps"} - set(batch)
    if missing:
        raise ValueError(f"SSPD batch lacks {sorted(missing)}: give a mapping with 'video' "
                         "(B, C, T+1, S, S) raw frames and 'fps' (one rate or one per clip)")
    video = batch["video"]
    if not isinstance(video, Tensor) or video.ndim != 5 or video.shape[1] != 3:
        shape = tuple(video.shape) if isinstance(video, Tensor) else type(video).__name__
        raise ValueError(f"SSPD batch 'video' must be a (B, 3, T+1, S, S) tensor, got {shape}")
    if not video.is_floating_point():
        raise ValueError(f"SSPD batch 'video' must be floating point, got {video.dtype}: convert with .float()")
    if not bool(torch.isfinite(video).all()):
        raise ValueError("SSPD batch 'video' contains NaN or inf: check the preprocessing cache for this batch")
    return video, frame_rates(batch["fps"], video.shape[0])


class SSPDTrainStep:
    """The SSPD training step over an online network, its EMA target, an optimiser and a view generator.

    Args:
        network: the online :class:`SSPDNetwork` (kept); the target is its frozen deep copy, built now.
        optimizer: over the online network's parameters only (never the target's).
        objective: weights, bands, eps and forms of the loss.
        views: how the two views are made (:func:`sspd.augment.make_views`).
        momentum_start, momentum_end: the per-step cosine EMA momentum schedule (SSPD: 0.9 → 1.0).
        buffers: EMA buffer policy, ``"none"`` (release), ``"copy"`` or ``"ema"``.
        target_mode: ``"train"`` (release: the target uses batch statistics) or ``"eval"``.
        speed_range: if set, every clip is first played at a random speed in this range
            (:func:`sspd.augment.random_speed`); both views share the resampled clip. Off in SSPD.
        speed_frames: raw frames kept after speed resampling; None = (T+1 - 1) / max speed + 1, rounded
            down (the most every speed can fill).
        seed: seed of the view generator (on the network's device).
        channels_last: convert both networks and the views to ``torch.channels_last_3d`` (the same
            values; on CPU the 3-D convolutions, and their backward above all, run much faster).
    """

    def __init__(self, network: SSPDNetwork, optimizer: torch.optim.Optimizer, *,
                 objective: SSPDObjectiveConfig = SSPDObjectiveConfig(), views: ViewOptions = ViewOptions(),
                 momentum_start: float = 0.9, momentum_end: float = 1.0, buffers: str = "none",
                 target_mode: str = "train", speed_range: tuple[float, float] | None = None,
                 speed_frames: int | None = None, seed: int = 0, channels_last: bool = False) -> None:
        if not isinstance(network, SSPDNetwork):
            raise ValueError(f"SSPDTrainStep needs an SSPDNetwork, got {type(network).__name__}: "
                             "build one with sspd.engine.create_sspd_network")
        self.memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
        network.to(memory_format=self.memory_format)  # before the deep copy: the target inherits it
        self.pair = OnlineTargetPair(network, buffers=buffers, target_mode=target_mode)
        _check_optimizer(optimizer, self.pair)
        cosine_momentum(0, 1, momentum_start, momentum_end)  # validates the momenta
        self.optimizer = optimizer
        self.objective, self.views = objective, views
        self.momentum_start, self.momentum_end = momentum_start, momentum_end
        self.speed_range, self.speed_frames = speed_range, speed_frames
        device = next(network.parameters()).device
        self.generator = torch.Generator(device=device).manual_seed(seed)

    @property
    def online_network(self) -> SSPDNetwork:
        return self.pair.online

    @property
    def target_network(self) -> SSPDNetwork:
        return self.pair.target

    def make_views(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """Raw frames (B, C, T+1, S, S) → (online_view, target_view), each (B, C, T, h, w), on the device."""
        video = video.to(next(self.online_network.parameters()).device, non_blocking=True)
        if self.speed_range is not None:
            frames = self.speed_frames or int((video.shape[2] - 1) / max(self.speed_range)) + 1
            video = random_speed(video, self.generator, frames, speed_range=self.speed_range).clip
        online, target = make_views(video, self.online_network.input_size, self.generator, self.views)
        return (online.contiguous(memory_format=self.memory_format),
                target.contiguous(memory_format=self.memory_format))

    def forward(self, batch: Mapping[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        """Views, online forward (with graph), target forward (no graph) and the objective.

        Returns (total, scalars) as :func:`sspd.engine.sspd_objective`; no backward, no update, so a loop
        can scale the loss or accumulate gradients itself and then call :meth:`update`.
        """
        video, fs = check_batch(batch)
        online_view, target_view = self.make_views(video)    # (B, C, T, h, w) each
        online_outputs = self.online_network(online_view)
        target_outputs = self.forward_target(target_view)
        return sspd_objective(online_outputs, target_outputs, fs, self.objective)

    def forward_target(self, view: Tensor) -> SSPDOutputs:
        """The target network on its view, without an autograd graph."""
        with torch.no_grad():
            return self.target_network(view)

    def momentum(self, step: int, total_steps: int) -> float:
        """EMA momentum at optimiser step ``step`` of ``total_steps``."""
        return cosine_momentum(step, total_steps, self.momentum_start, self.momentum_end)

    def update(self, step: int, total_steps: int,
               scaler: "torch.amp.GradScaler | None" = None) -> dict[str, Tensor]:
        """Optimiser step, then the EMA of the target (only if the step happened); momentum and lr."""
        momentum = self.momentum(step, total_steps)
        stepped = self.pair.step(self.optimizer, momentum, scaler=scaler)
        lr = self.optimizer.param_groups[0]["lr"]
        # float64, so that the logged momentum is the one applied (float32 rounds 1 - m visibly)
        return {"momentum": torch.tensor(momentum, dtype=torch.float64),
                "lr": torch.tensor(float(lr), dtype=torch.float64), "stepped": torch.tensor(float(stepped))}

    def train_step(self, batch: Mapping[str, Any], *, step: int, total_steps: int,
                   scaler: "torch.amp.GradScaler | None" = None) -> dict[str, Tensor]:
        """One full step: views, both forwards, loss, backward, optimiser step, EMA.

        Args:
            batch: ``{"video": (B, C, T+1, S, S), "fps": float or (B,)}``.
            step: optimiser steps taken so far (0 at the first), for the momentum schedule.
            total_steps: optimiser steps of the whole run.
            scaler: optional mixed-precision grad scaler.

        Returns:
            Detached scalars: the objective's terms (see :func:`sspd.engine.sspd_objective`) plus
            ``momentum``, ``lr`` and ``stepped`` (1.0, or 0.0 when the scaler skipped the step).
        """
        self.pair.train(True)
        self.optimizer.zero_grad(set_to_none=True)
        total, scalars = self.forward(batch)
        if not math.isfinite(float(scalars["total"])):
            log.warning("non-finite SSPD loss %s: the optimiser step will be skipped or diverge",
                        float(scalars["total"]))
        (total if scaler is None else scaler.scale(total)).backward()
        scalars.update(self.update(step, total_steps, scaler))
        return scalars

    def state_dict(self) -> dict[str, Any]:
        """Both networks, the optimiser and the view generator, for exact resumption."""
        return {"pair": self.pair.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        missing = {"pair", "optimizer", "generator"} - set(state)
        if missing:
            raise ValueError(f"SSPDTrainStep.load_state_dict: state lacks {sorted(missing)}; give it what "
                             "SSPDTrainStep.state_dict() returned")
        self.pair.load_state_dict(state["pair"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())


def _check_optimizer(optimizer: torch.optim.Optimizer, pair: OnlineTargetPair) -> None:
    """Raise if the optimiser holds a target parameter or none of the online ones."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if held & {id(p) for p in pair.target.parameters()}:
        raise ValueError("the optimiser holds target-network parameters: build it over the online "
                         "network's parameters (network.parameters()) only")
    if not held & {id(p) for p in pair.online.parameters()}:
        raise ValueError("the optimiser holds none of the online network's parameters: build it with "
                         "torch.optim.Adam(network.parameters(), ...)")
