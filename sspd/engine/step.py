"""One training step of any registered objective: views, online (and target) forward, the objective;
the optimiser step itself (guard, clipping, accumulation, DDP, EMA) is :class:`sspd.engine.OptimiserStep`,
the only way from a batch to new weights (the training loop's too).

    network = create_sspd_network("sspdnet")
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    trainer = TrainStep(network, optimizer, objective=build_objective("sspd"), seed=0)
    stepper = OptimiserStep(trainer, total_steps=len(loader) * epochs)
    for step, batch in enumerate(loader):             # batch: {"video": (B, C, T+1, S, S), "fps": ...}
        scalars, _ = stepper.step([batch], step)

What the step builds follows the objective's :class:`sspd.objectives.ObjectiveSpec`: an EMA target only for
objectives that declare ``target="ema"`` (SSPD), a second view only for those that declare ``views=2``;
the TS stack only when ``"hs"`` is among its ``outputs``; the predictor on the detached feature map (SSPD)
or on the live one (SiNC, supervised). With speed
augmentation each clip is played at a random speed first; its factor reaches the objective as
``batch["speed"]`` and its label is resampled with it; an objective that draws random numbers of its own
(Contrast-Phys's windows) draws them from ``batch["generator"]``, the step's view generator. Everything that changes while training (the
networks, the optimiser, the view generator) is in :meth:`TrainStep.state_dict`, so a resumed run draws
the same views as an uninterrupted one.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import torch
from torch import Tensor

from sspd.augment import ViewOptions, make_single_view, make_views, random_speed
from sspd.ema import OnlineTargetPair, cosine_momentum, optimizer_step
from sspd.models.network import SSPDNetwork, SSPDOutputs
from sspd.engine.online_probe import batch_labels
from sspd.objectives import Objective, SSPDObjectiveConfig, build_objective, frame_rates

__all__ = ["TrainStep", "check_batch"]

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


def _as_objective(objective: Objective | SSPDObjectiveConfig | None) -> Objective:
    """An :class:`Objective` from an objective, an SSPD config (SSPD with it) or None (SSPD's defaults)."""
    if objective is None or isinstance(objective, SSPDObjectiveConfig):
        return build_objective("sspd", objective)
    if not isinstance(objective, Objective):
        raise ValueError(f"objective must be an sspd.objectives.Objective (build_objective(name, config)), got "
                         f"{type(objective).__name__}")
    return objective


class TrainStep:
    """The training step over an online network, its EMA target (when the objective has one), an
    optimiser and a view generator.

    Args:
        network: the online :class:`SSPDNetwork` (kept); for objectives with a target, the target is its
            frozen deep copy, built now; for the others no copy is made.
        optimizer: over the online network's parameters only (never the target's).
        objective: :func:`sspd.objectives.build_objective`'s result (an :class:`SSPDObjectiveConfig` means
            SSPD with that config; None, SSPD's defaults).
        views: how the views are made (:func:`sspd.augment.make_views` for two-view objectives,
            :func:`sspd.augment.make_single_view` for one).
        momentum_start, momentum_end: the per-step cosine EMA momentum schedule (SSPD: 0.9 → 1.0).
        buffers: EMA buffer policy, ``"none"`` (release), ``"copy"`` or ``"ema"``.
        target_mode: ``"train"`` (release: the target uses batch statistics) or ``"eval"``.
        speed_range: if set, every clip is first played at a random speed in this range
            (:func:`sspd.augment.random_speed`); both views share the resampled clip; the label is
            resampled with it. None takes ``views.speed_range`` (off by default).
        speed_frames: raw frames kept after speed resampling; None = (T+1 - 1) / max speed + 1, rounded
            down (the most every speed can fill).
        seed: seed of the view generator (on the network's device).
        channels_last: convert the networks and the views to ``torch.channels_last_3d`` (the same
            values; on CPU the 3-D convolutions, and their backward above all, run much faster).
    """

    def __init__(self, network: SSPDNetwork, optimizer: torch.optim.Optimizer, *,
                 objective: Objective | SSPDObjectiveConfig | None = None, views: ViewOptions = ViewOptions(),
                 momentum_start: float = 0.9, momentum_end: float = 1.0, buffers: str = "none",
                 target_mode: str = "train", speed_range: tuple[float, float] | None = None,
                 speed_frames: int | None = None, seed: int = 0, channels_last: bool = False) -> None:
        if not isinstance(network, SSPDNetwork):
            raise ValueError(f"TrainStep needs an SSPDNetwork, got {type(network).__name__}: "
                             "build one with sspd.engine.create_sspd_network")
        self._objective = None
        self.objective = objective
        self.memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
        network.to(memory_format=self.memory_format)  # before the deep copy: the target inherits it
        self.pair = (OnlineTargetPair(network, buffers=buffers, target_mode=target_mode)
                     if self.objective.spec.target == "ema" else None)
        self._online = network
        _check_optimizer(optimizer, network, self.pair)
        cosine_momentum(0, 1, momentum_start, momentum_end)  # validates the momenta
        self.optimizer = optimizer
        self.views = views
        self.momentum_start, self.momentum_end = momentum_start, momentum_end
        self.speed_range = speed_range if speed_range is not None else views.speed_range
        self.speed_frames = speed_frames
        device = next(network.parameters()).device
        self.generator = torch.Generator(device=device).manual_seed(seed)
        #: keep every BatchNorm layer in eval mode while training (adapt.batchnorm=frozen)
        self.frozen_batchnorm = False

    @property
    def objective(self) -> Objective:
        """The objective of every step (settable: an :class:`Objective` or an SSPD config)."""
        return self._objective

    @objective.setter
    def objective(self, value: Objective | SSPDObjectiveConfig | None) -> None:
        value = _as_objective(value)
        if getattr(self, "_objective", None) is not None and value.spec.target != self._objective.spec.target:
            raise ValueError(f"cannot switch from objective {self._objective.name!r} to {value.name!r}: one has "
                             "a target network and the other has not; build a new TrainStep")
        self._objective = value

    @property
    def online_network(self) -> SSPDNetwork:
        return self._online

    @property
    def target_network(self) -> SSPDNetwork | None:
        """The EMA target, or None for objectives without one."""
        return self.pair.target if self.pair is not None else None

    def train(self, mode: bool = True) -> "TrainStep":
        """Training (or eval) mode of the online network and, per its mode policy, the target; with
        :attr:`frozen_batchnorm` every BatchNorm layer stays in eval mode (its running statistics are
        used and never updated)."""
        if self.pair is not None:
            self.pair.train(mode)
        else:
            self._online.train(mode)
        if self.frozen_batchnorm:
            networks = [self._online] + ([self.pair.target] if self.pair is not None else [])
            for module in (m for net in networks for m in net.modules()):
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def _speed(self, video: Tensor, ppg: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Speed augmentation when on: (clip, label, speeds (B,)); the inputs unchanged when off."""
        if self.speed_range is None:
            return video, ppg, None
        frames = self.speed_frames or int((video.shape[2] - 1) / max(self.speed_range)) + 1
        label = None if ppg is None else ppg.to(video.device, video.dtype)
        out = random_speed(video, self.generator, frames, speed_range=self.speed_range, label=label)
        return out.clip, out.label, out.speeds

    def make_views(self, video: Tensor, fs: float = 30.0) -> tuple[Tensor, Tensor | None]:
        """Raw frames (B, C, T+1, S, S) → (online_view, target_view or None), each (B, C, T, h, w): two views
        for an objective of ``views=2``; one for ``views=1`` (which its target, if any, also sees).

        No speed augmentation here (:meth:`forward` applies it first, with the labels).
        """
        video = video.to(next(self.online_network.parameters()).device, non_blocking=True)
        size = self.online_network.input_size
        if self.objective.spec.views == 1:
            online = make_single_view(video, size, self.generator, self.views)
            target = online if self.pair is not None else None
        else:
            online, target = make_views(video, size, self.generator, self.views, fs=fs)
        fmt = self.memory_format
        return online.contiguous(memory_format=fmt), None if target is None else target.contiguous(memory_format=fmt)

    def forward(self, batch: Mapping[str, Any], *, online: torch.nn.Module | None = None
                ) -> tuple[Tensor, dict[str, Tensor]]:
        """Views, online forward (with graph), target forward (no graph) and the objective.

        ``online`` is what the online view goes through: the online network (None, the default) or the
        :class:`sspd.engine.OptimiserStep`'s DistributedDataParallel wrapper of it.
        Returns (total, scalars) as the objective does; no backward, no update, so a loop can scale the
        loss or accumulate gradients itself and then call :meth:`update`.
        """
        video, fs = check_batch(batch)
        spec = self.objective.spec
        ppg = batch_labels(batch)  # (B, T+1) or None
        if spec.needs_labels and ppg is None:
            raise ValueError(f"objective {spec.name!r} needs labels: the batch has no 'ppg' or 'label' (B, T+1) "
                             "tensor; train on synthetic clips or a labelled preprocessing cache")
        video = video.to(next(self.online_network.parameters()).device, non_blocking=True)
        video, ppg, speeds = self._speed(video, ppg)
        online_view, target_view = self.make_views(video, float(fs.mean()))    # (B, C, T, h, w) each
        online = self._online if online is None else online
        online_outputs = online(online_view, with_ts="hs" in spec.outputs, detach_predictor=self._detach_predictor())
        target_outputs = self.forward_target(target_view) if target_view is not None else None
        extras = {"ppg": ppg, "speed": speeds, "generator": self.generator}  # objectives that draw (Contrast-Phys)
        return self.objective(online_outputs, target_outputs, fs, {**batch, **extras})

    def forward_target(self, view: Tensor) -> SSPDOutputs:
        """The target network on its view, without an autograd graph."""
        spec = self.objective.spec
        with torch.no_grad():
            return self.target_network(view, with_ts="hs" in spec.outputs, detach_predictor=self._detach_predictor())

    def _detach_predictor(self) -> bool:
        """The objective's gradient routing: its config's ``detach_predictor`` when it has one, else the spec's."""
        return bool(getattr(self.objective.config, "detach_predictor", self.objective.spec.detach_predictor))

    def momentum(self, step: int, total_steps: int) -> float:
        """EMA momentum at optimiser step ``step`` of ``total_steps`` (logged as 0 without a target)."""
        if self.pair is None:
            return 0.0
        return cosine_momentum(step, total_steps, self.momentum_start, self.momentum_end)

    def update(self, step: int, total_steps: int,
               scaler: "torch.amp.GradScaler | None" = None) -> dict[str, Tensor]:
        """Optimiser step, then the EMA of the target (only if the step happened); momentum and lr."""
        momentum = self.momentum(step, total_steps)
        if self.pair is not None:
            stepped = self.pair.step(self.optimizer, momentum, scaler=scaler)
        else:
            stepped = optimizer_step(self.optimizer, scaler)
        lr = self.optimizer.param_groups[0]["lr"]
        # float64, so that the logged momentum is the one applied (float32 rounds 1 - m visibly)
        return {"momentum": torch.tensor(momentum, dtype=torch.float64),
                "lr": torch.tensor(float(lr), dtype=torch.float64), "stepped": torch.tensor(float(stepped))}

    def restart(self, weights: Mapping[str, Tensor]) -> None:
        """Start over from new initial ``weights`` (an online network's state dict): the online network and
        the EMA target both take them and the optimiser forgets its moments; the view generator goes on."""
        self._online.load_state_dict(weights)
        if self.pair is not None:
            self.pair.target.load_state_dict(weights)
        self.optimizer.state.clear()

    def state_dict(self) -> dict[str, Any]:
        """The networks, the optimiser and the view generator, for exact resumption."""
        networks = ({"pair": self.pair.state_dict()} if self.pair is not None
                    else {"online": self._online.state_dict()})
        return {**networks, "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        networks = "pair" if self.pair is not None else "online"
        missing = {networks, "optimizer", "generator"} - set(state)
        if missing:
            raise ValueError(f"TrainStep.load_state_dict: state lacks {sorted(missing)}; give it what "
                             f"TrainStep.state_dict() returned for the {self.objective.name!r} objective")
        if self.pair is not None:
            self.pair.load_state_dict(state["pair"])
        else:
            self._online.load_state_dict(state["online"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())


def _check_optimizer(optimizer: torch.optim.Optimizer, online: SSPDNetwork,
                     pair: OnlineTargetPair | None) -> None:
    """Raise if the optimiser holds a target parameter or none of the online ones."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if pair is not None and held & {id(p) for p in pair.target.parameters()}:
        raise ValueError("the optimiser holds target-network parameters: build it over the online "
                         "network's parameters (network.parameters()) only")
    if not held & {id(p) for p in online.parameters()}:
        raise ValueError("the optimiser holds none of the online network's parameters: build it with "
                         "torch.optim.Adam(network.parameters(), ...)")
