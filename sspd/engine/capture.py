"""What the loop sees of a step besides its loss: the online and target outputs, captured by forward
hooks (no extra forward pass), turned into self-similarity maps and waves for the collapse monitor,
TensorBoard images and the snapshots of the run directory (:func:`sspd.engine.runfiles.run_dir.write_snapshot`).

    with capture_outputs(trainer) as seen:       # hooks on the online network, its TS stack, the target
        trainer.forward(batch)
    maps = level_maps(seen.online.hs)            # [(ssm (B, T'_l, T'_l), ssw (B, T'_l))] per level
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from torch import Tensor

from sspd.models.network import SSPDOutputs
from sspd.ssm import self_similarity_map, self_similarity_wave

if TYPE_CHECKING:  # the step uses the capture: importing it here would be a cycle
    from sspd.engine.step import TrainStep

__all__ = ["CapturedOutputs", "capture_outputs", "level_maps"]

log = logging.getLogger(__name__)


@dataclass
class CapturedOutputs:
    """The last forward pass's outputs (detached, float32): online, target, pooled online features, and the
    labels of the batch they came from (set by :class:`sspd.engine.OptimiserStep`)."""

    online: SSPDOutputs | None = None
    target: SSPDOutputs | None = None
    pooled: Tensor | None = None  # (B, D, T) the online backbone's pooled features
    ppg: Tensor | None = None  # (B, T+1) the batch's PPG labels (sspd.engine.online_probe.batch_labels), or None


def _detached(outputs: SSPDOutputs) -> SSPDOutputs:
    pooled = None if outputs.pooled is None else outputs.pooled.detach().float()
    spatial = None if outputs.spatial is None else outputs.spatial.detach().float()
    return SSPDOutputs(hs=[h.detach().float() for h in outputs.hs], rppg=outputs.rppg.detach().float(),
                       pooled=pooled, spatial=spatial)


@contextlib.contextmanager
def capture_outputs(trainer: "TrainStep") -> Iterator[CapturedOutputs]:
    """Record the outputs of the next forward passes of ``trainer``'s networks while the block runs
    (the target's only when the objective has one)."""
    seen = CapturedOutputs()

    def on_online(_module, _inputs, outputs):
        seen.online = _detached(outputs)
        seen.pooled = seen.online.pooled  # (B, D, T)

    def on_target(_module, _inputs, outputs):
        seen.target = _detached(outputs)

    handles = [trainer.online_network.register_forward_hook(on_online)]
    if trainer.target_network is not None:
        handles.append(trainer.target_network.register_forward_hook(on_target))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def level_maps(hs: list[Tensor], eps: float = 1e-8) -> list[tuple[Tensor, Tensor]]:
    """(SSM (B, T'_l, T'_l), SSW (B, T'_l)) of every TS level's tokens (B, T'_l, D)."""
    maps = []
    for h in hs:
        ssm = self_similarity_map(h.float(), eps=eps)  # (B, T', T')
        maps.append((ssm, self_similarity_wave(ssm)))  # (B, T')
    return maps
