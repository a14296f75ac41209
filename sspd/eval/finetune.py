"""Fine-tuning: the whole inference network (backbone + SSPD predictor) trained supervised on the PPG,
from a pretrained checkpoint or, as the supervised baseline, from random weights with the same budget.

    network, checkpoint = load_network(run_dir)                  # sspd.eval.model_eval
    result = finetune(network, train_videos, config=FinetuneConfig(steps=200))
    save_finetuned(result, out_dir, spec=checkpoint_network_spec(checkpoint, run_dir), config=config)

Loss: negative Pearson between ``network.predict(view)`` and the window's target (``"diff"`` or
``"pulse"``, see :mod:`sspd.eval.model_eval`). Two parameter groups: the backbone at ``lr ×
backbone_lr_scale`` and the predictor at ``lr`` (:func:`sspd.engine.set_lr` honours ``lr_scale``); the TS
stack takes no part (it is a pretraining auxiliary). Windows are drawn at random from the training
videos with one seeded generator; the only augmentation is random horizontal flips.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from sspd.engine import SSPDNetwork, build_network, lr_at, save_checkpoint, set_lr
from sspd.eval.model_eval import TARGETS, clip_target, prepare_view
from sspd.losses import neg_pearson
from sspd.models import CHECKPOINT_FORMAT, INPUT_KEY, InputSpec

__all__ = ["FinetuneConfig", "FinetuneResult", "finetune_parameter_groups", "sample_windows", "finetune",
           "build_from_scratch", "finetuned_input_spec", "save_finetuned"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig:
    """The fine-tuning budget and recipe (identical for the from-scratch baseline).

    Attributes:
        steps, batch_size: optimiser steps and windows per step.
        window: difference frames per window T (each window reads T + 1 frames).
        lr: the predictor's peak learning rate; backbone_lr_scale: the backbone's multiplier (0.1 keeps
            pretrained features close; 1.0 for from-scratch training, where there is nothing to keep).
        schedule, warmup_steps: see :func:`sspd.engine.lr_at` (``constant``, ``cosine``, ``onecycle``).
        weight_decay: Adam's.
        target: ``"diff"`` or ``"pulse"``.
        p_flip: probability of a horizontal flip per window.
        seed: initialisation (from scratch), window draws and flips.
    """

    steps: int = 200
    batch_size: int = 4
    window: int = 64
    lr: float = 1e-3
    backbone_lr_scale: float = 0.1
    schedule: str = "cosine"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    target: str = "diff"
    p_flip: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.window < 2:
            raise ValueError(f"FinetuneConfig needs steps >= 1, batch_size >= 1, window >= 2; got "
                             f"{self.steps}, {self.batch_size}, {self.window}")
        if not self.lr > 0 or self.backbone_lr_scale < 0 or self.weight_decay < 0:
            raise ValueError(f"FinetuneConfig needs lr > 0, backbone_lr_scale >= 0, weight_decay >= 0; got "
                             f"{self.lr}, {self.backbone_lr_scale}, {self.weight_decay}")
        if self.target not in TARGETS or not 0 <= self.p_flip <= 1:
            raise ValueError(f"FinetuneConfig.target must be one of {TARGETS} and p_flip in [0, 1]; got "
                             f"{self.target!r}, {self.p_flip}")


@dataclass
class FinetuneResult:
    """The trained network (eval mode) and one record per step: step, loss, lr (predictor), lr_backbone."""

    network: SSPDNetwork
    history: list[dict[str, float]] = field(default_factory=list)


def finetune_parameter_groups(network: SSPDNetwork, backbone_lr_scale: float) -> list[dict[str, Any]]:
    """Adam param groups: the backbone (``lr_scale`` = backbone_lr_scale) and the predictor (1.0); for a
    network whose rPPG is the backbone's own head (an rPPG-Toolbox model), that head is the "predictor"."""
    head = network.output_parameters()
    held = {id(p) for p in head}
    return [{"params": [p for p in network.backbone.parameters() if id(p) not in held],
             "lr_scale": float(backbone_lr_scale), "name": "backbone"},
            {"params": head, "lr_scale": 1.0, "name": "predictor"}]


def sample_windows(videos: Sequence[Any], clip_length: int, batch_size: int,
                   rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """``batch_size`` random windows of ``clip_length`` frames: clips (B, C, T+1, S, S) uint8 and labels
    (B, T+1) float32; a video is drawn uniformly, then a start uniformly among its valid ones."""
    eligible = [v for v in videos if v.n_frames >= clip_length]
    if not eligible:
        raise ValueError(f"no training video has {clip_length} frames; use a shorter window")
    clips, labels = [], []
    for owner in rng.integers(0, len(eligible), size=batch_size):
        video = eligible[int(owner)]
        start = int(rng.integers(0, video.n_frames - clip_length + 1))
        clips.append(np.asarray(video.frames[start:start + clip_length]))  # (T+1, S, S, C)
        labels.append(np.asarray(video.label[start:start + clip_length], dtype=np.float32))  # (T+1,)
    clip = torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3)  # (B, C, T+1, S, S)
    return clip, torch.from_numpy(np.stack(labels))


def _flip(view: Tensor, rng: np.random.Generator, p: float) -> Tensor:
    """Horizontal flip of each (C, T, h, w) view of (B, C, T, h, w) with probability ``p``."""
    flips = torch.from_numpy(rng.random(view.shape[0]) < p)  # (B,)
    return torch.where(flips[:, None, None, None, None], view.flip(-1), view)


def _train_step(network: SSPDNetwork, optimizer: torch.optim.Optimizer, view: Tensor, target: Tensor) -> float:
    loss = neg_pearson(network.predict(view), target)
    if not torch.isfinite(loss):
        raise ValueError(f"fine-tuning loss is {float(loss)}: lower the learning rate")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def finetune(network: SSPDNetwork, videos: Sequence[Any], *, config: FinetuneConfig = FinetuneConfig(),
             sink: Any | None = None) -> FinetuneResult:
    """Train ``network``'s backbone and predictor on the PPG of ``videos`` (in place).

    Args:
        network: an :class:`sspd.engine.SSPDNetwork` (pretrained, or from :func:`build_from_scratch`).
        videos: training videos (``frames`` (N, S, S, 3), ``label`` (N,), ``n_frames``, ``fps``).
        sink: optional :class:`sspd.engine.Sink`; gets ``finetune/loss``, ``lr`` and ``lr_backbone``.

    Returns:
        :class:`FinetuneResult` with the network in eval mode.
    """
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.Adam(finetune_parameter_groups(network, config.backbone_lr_scale), lr=config.lr,
                                 weight_decay=config.weight_decay)
    result = FinetuneResult(network=network)
    network.train()
    for step in range(config.steps):
        lrs = set_lr(optimizer, lr_at(step, config.steps, config.lr, config.schedule, config.warmup_steps))
        clip, label = sample_windows(videos, config.window + 1, config.batch_size, rng)
        view = _flip(prepare_view(clip, network.input_size, getattr(network, "view", None)), rng,
                     config.p_flip)  # (B, C, T, h, w)
        loss = _train_step(network, optimizer, view, clip_target(label, config.target))
        record = {"step": float(step), "loss": loss, "lr": lrs[1], "lr_backbone": lrs[0]}
        result.history.append(record)
        if sink is not None:
            sink.log_scalars(step, {"finetune/loss": loss, "lr": lrs[1], "lr_backbone": lrs[0]})
    network.eval()
    return result


def build_from_scratch(spec: dict[str, Any], *, seed: int) -> SSPDNetwork:
    """A randomly initialised :class:`SSPDNetwork` of the same architecture as a checkpoint's ``network``
    recipe (``backbone``, ``backbone_kwargs``, ``stack``: :func:`sspd.engine.build_network`), seeded."""
    torch.manual_seed(seed)
    return build_network(spec)


def finetuned_input_spec(start: InputSpec, videos: Sequence[Any], *, target: str) -> InputSpec:
    """The input spec of a network fine-tuned from one of input spec ``start`` on ``videos``: their crop
    side (at least the input side) and frame rate (the median), the cache's face-box enlargement when they
    come from one, and ``target`` as what the output follows; the clip length and view stay the start's."""
    sides = [int(v.size) for v in videos]
    return dataclasses.replace(start, box_size=max([max(start.input_size), *sides]), signal=target,
                               enlarge=getattr(videos[0], "enlarge", None) if videos else None,
                               fps=float(np.median([float(v.fps) for v in videos])) if videos else start.fps)


def save_finetuned(result: FinetuneResult, out_dir: str | Path, *, spec: dict[str, Any],
                   config: FinetuneConfig, source: str | None, input_spec: InputSpec | None = None) -> Path:
    """Write ``out_dir/checkpoints/last.pt`` in the run-directory checkpoint format (``online`` and
    ``target`` both hold the fine-tuned weights), so :func:`sspd.eval.model_eval.load_network` and
    ``sspd evaluate`` read it like a pretraining run. ``source``: the checkpoint it started from (None:
    from scratch). ``input_spec``: what it was fine-tuned on (:func:`finetuned_input_spec`), the
    checkpoint's ``"input"``. The network spec's ``signal`` becomes the fine-tuning target."""
    state = result.network.state_dict()
    steps = len(result.history)
    final = result.history[-1]["loss"] if result.history else math.nan
    spec = {**spec, "signal": config.target}
    return save_checkpoint(Path(out_dir) / "checkpoints" / "last.pt", {
        "format": CHECKPOINT_FORMAT, "step": steps, "epoch": 0, "config": asdict(config),
        "network": spec, INPUT_KEY: None if input_spec is None else input_spec.as_dict(),
        "online": state, "target": state,
        "finetune": {"source": source, "from_scratch": source is None, "target": config.target,
                     "final_loss": final}})
