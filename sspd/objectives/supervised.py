"""The supervised control: the same network trained with labels, negative Pearson to the PPG.

It is the yardstick for the self-supervised objectives on exactly the same data, network, clip length and
budget: if it cannot learn the pulse, the data, crop, input size or evaluation is at fault, not the
self-supervised objective. It reads ``batch["ppg"]`` (B, T+1), the label of the view's T + 1 raw frames
(resampled with the clip under speed augmentation), and trains the predictor through the backbone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

import torch
from torch import Tensor

from sspd.augment.inference import TARGETS, clip_target
from sspd.losses import neg_pearson
from sspd.models.outputs import NetworkOutputs
from sspd.objectives.registry import ObjectiveSpec, register_objective

__all__ = ["SupervisedConfig", "supervised_objective", "SUPERVISED"]


@dataclass(frozen=True)
class SupervisedConfig:
    """Attributes:
        target: what the prediction follows: ``"pulse"`` (the PPG at frames 1..T) or ``"diff"`` (its
            first difference, what frame-difference inputs carry frame by frame; rPPG-Toolbox style).
        pearson_eps: guard of the Pearson denominator.
    """

    target: Literal["pulse", "diff"] = "pulse"
    pearson_eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"SupervisedConfig.target must be one of {TARGETS}, got {self.target!r}")
        if not self.pearson_eps > 0:
            raise ValueError(f"SupervisedConfig.pearson_eps must be > 0, got {self.pearson_eps}")


def supervised_objective(online: NetworkOutputs, target: NetworkOutputs | None, fs: Tensor,
                         batch: Mapping[str, Any],
                         config: SupervisedConfig = SupervisedConfig()) -> tuple[Tensor, dict[str, Tensor]]:
    """Negative Pearson of the prediction (B, T) against the label's target (B, T); scalars ``total``, ``np``."""
    ppg = batch.get("ppg")
    if not isinstance(ppg, Tensor):
        raise ValueError("the supervised objective needs labels: the batch has no 'ppg' (B, T+1) tensor; "
                         "train on synthetic clips or on a preprocessing cache with labels")
    label = clip_target(ppg.to(online.rppg.device, torch.float32), config.target)   # (B, T)
    if label.shape != online.rppg.shape:
        raise ValueError(f"supervised objective: prediction {tuple(online.rppg.shape)} and label "
                         f"{tuple(label.shape)} differ: the label must cover the view's T + 1 frames")
    loss = neg_pearson(online.rppg.float(), label, eps=config.pearson_eps)
    return loss, {"total": loss.detach(), "np": loss.detach()}


SUPERVISED = register_objective(ObjectiveSpec(
    name="supervised", fn=supervised_objective, config_type=SupervisedConfig, views=1,
    outputs=("rppg",), needs_labels=True, output_signal=lambda options: options.target,
    description="supervised control: negative Pearson of the prediction to the PPG label"))
