"""What the loop sees of a step besides its loss: the online and target outputs, captured by forward
hooks (no extra forward pass), turned into self-similarity maps and waves for the collapse monitor,
TensorBoard images and the ``snapshots/step_XXXXXXX.npz`` files of the run directory.

    with capture_outputs(trainer) as seen:       # hooks on the online network, its TS stack, the target
        trainer.forward(batch)
    maps = level_maps(seen.online.hs)            # [(ssm (B, T'_l, T'_l), ssw (B, T'_l))] per level
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor

from sspd.engine.network import SSPDOutputs
from sspd.engine.step import SSPDTrainStep
from sspd.files import atomic_write
from sspd.ssm import self_similarity_map, self_similarity_wave

__all__ = ["CapturedOutputs", "capture_outputs", "level_maps", "write_snapshot"]

log = logging.getLogger(__name__)


@dataclass
class CapturedOutputs:
    """The last forward pass's outputs (detached, float32): online, target, pooled online features."""

    online: SSPDOutputs | None = None
    target: SSPDOutputs | None = None
    pooled: Tensor | None = None  # (B, D, T) the online backbone's pooled features


def _detached(outputs: SSPDOutputs) -> SSPDOutputs:
    pooled = None if outputs.pooled is None else outputs.pooled.detach().float()
    return SSPDOutputs(hs=[h.detach().float() for h in outputs.hs], rppg=outputs.rppg.detach().float(),
                       pooled=pooled)


@contextlib.contextmanager
def capture_outputs(trainer: SSPDTrainStep) -> Iterator[CapturedOutputs]:
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


def _hr_of(signals: np.ndarray, fs: float) -> np.ndarray:
    """HR in bpm of each (T,) row by the spectral peak (NaN where the signal is too short or flat)."""
    from sspd.signal import estimate_hr

    try:
        return np.atleast_1d(np.asarray(estimate_hr(signals, fs), dtype=np.float32))
    except ValueError as err:
        log.debug("snapshot HR not estimated: %s", err)
        return np.full(signals.shape[0], np.nan, dtype=np.float32)


def write_snapshot(path: str | Path, seen: CapturedOutputs, *, fs: float, clips: int = 4,
                   labels_hr: Tensor | None = None) -> Path:
    """Save the online SSMs and SSWs of the first ``clips`` clips, the predictions and their HR (npz).

    Arrays: ``ssm`` (L, B', T', T') when every level has the same T', else ``ssm_l0``, ``ssm_l1``, ...;
    ``ssw_l0``, ... (B', T'_l); ``pred`` (B', T); ``hr_pred`` (B',); ``hr_true`` (B',) when labels are
    given; ``fps``.
    """
    if seen.online is None:
        raise ValueError("write_snapshot: no online outputs were captured; run a forward pass inside "
                         "capture_outputs first")
    maps = level_maps([h[:clips] for h in seen.online.hs])  # empty for objectives without the TS stack
    pred = seen.online.rppg[:clips].cpu().numpy().astype(np.float32)  # (B', T)
    arrays: dict[str, Any] = {"pred": pred, "hr_pred": _hr_of(pred, fs), "fps": np.float32(fs)}
    if maps and len({ssm.shape for ssm, _ in maps}) == 1:
        arrays["ssm"] = torch.stack([ssm for ssm, _ in maps]).cpu().numpy()  # (L, B', T', T')
    else:
        arrays.update({f"ssm_l{i}": ssm.cpu().numpy() for i, (ssm, _) in enumerate(maps)})
    arrays.update({f"ssw_l{i}": ssw.cpu().numpy() for i, (_, ssw) in enumerate(maps)})
    if labels_hr is not None:
        arrays["hr_true"] = labels_hr[:clips].detach().cpu().numpy().astype(np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # renamed into place: a kill mid-write leaves no torn npz
    return atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays), fsync=False)
