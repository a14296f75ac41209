"""Load a pretrained SSPD network from a run directory or a checkpoint file (or an rPPG-Toolbox
PhysNet/PhysFormer state dict, recognised by its keys: :mod:`sspd.engine.toolbox`).

    network, checkpoint = load_pretrained("runs/pretrain")                 # checkpoints/last.pt, online
    network, _ = load_pretrained("runs/pretrain", which="target", which_file="best")
    network, _ = load_pretrained("UBFC_PhysNet_DiffNormalized.pth")       # a toolbox checkpoint
    pulse = network.predict(clips)                                         # (B, 3, T, h, w) → (B, T)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sspd.engine.runfiles.checkpoint import load_checkpoint
from sspd.engine.network import SSPDNetwork
from sspd.engine.network import build_network
from sspd.engine.runfiles.run_dir import CHECKPOINT_FORMAT
from sspd.engine.toolbox import TOOLBOX_FORMAT, load_toolbox_state_dict, toolbox_backbone

__all__ = ["load_pretrained", "CHECKPOINT_FORMATS"]

_WHICH = ("online", "target")
#: ``format`` of :func:`load_pretrained`: recognise the file, or insist on one kind
CHECKPOINT_FORMATS = ("auto", "sspd", TOOLBOX_FORMAT)
_FILES = {"last": "last.pt", "best": "best.pt"}


def _checkpoint_path(path: Path, which_file: str) -> Path:
    if which_file not in _FILES:
        raise ValueError(f"load_pretrained: which_file must be one of {', '.join(_FILES)}, got {which_file!r}")
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"load_pretrained: {path} does not exist; pass a run directory written by "
                                "`sspd pretrain` or a checkpoint .pt file")
    candidate = path / "checkpoints" / _FILES[which_file]
    if not candidate.is_file():
        raise FileNotFoundError(f"load_pretrained: {path} has no checkpoints/{_FILES[which_file]}; is it a run "
                                "directory of `sspd pretrain` that saved at least one checkpoint?")
    return candidate


def load_pretrained(path: str | os.PathLike, *, which: str = "online", which_file: str = "last",
                    map_location: str | torch.device = "cpu",
                    format: str = "auto") -> tuple[SSPDNetwork, dict[str, Any]]:
    """The online (or target) :class:`SSPDNetwork` of a checkpoint, in eval mode, and the checkpoint.

    Args:
        path: a run directory (``checkpoints/last.pt``, or ``best.pt`` with ``which_file="best"``) or a .pt,
            or an rPPG-Toolbox PhysNet/PhysFormer state dict (.pth).
        which: ``"online"`` (the network trained by gradients) or ``"target"`` (its EMA; sspd only).
        map_location: where the weights go.
        format: ``"auto"`` (recognise the file), ``"sspd"`` or ``"rppg-toolbox"``. A toolbox file gives
            the checkpoint-like dict of :func:`sspd.engine.toolbox.load_toolbox_state_dict`.

    Raises:
        FileNotFoundError: no such run directory or file, or no checkpoint in it.
        ValueError: the file is neither an sspd checkpoint nor a toolbox state dict (one line naming it),
            or lacks what the network needs.
    """
    if which not in _WHICH:
        raise ValueError(f"load_pretrained: which must be 'online' or 'target', got {which!r}")
    if format not in CHECKPOINT_FORMATS:
        raise ValueError(f"load_pretrained: format must be one of {', '.join(CHECKPOINT_FORMATS)}, got {format!r}")
    file = _checkpoint_path(Path(path), which_file)
    checkpoint = load_checkpoint(file, map_location=map_location)
    is_sspd = checkpoint.get("format") == CHECKPOINT_FORMAT
    if format == TOOLBOX_FORMAT or (format == "auto" and not is_sspd and toolbox_backbone(checkpoint)):
        if which != "online":
            raise ValueError(f"{file}: an rPPG-Toolbox checkpoint holds one network, not an EMA target; use "
                             "which='online'")
        network, toolbox = load_toolbox_state_dict(checkpoint, file)
        return network.to(map_location), toolbox
    if not is_sspd:
        raise ValueError(f"load_pretrained: {file} is not an sspd pretraining checkpoint (format "
                         f"{checkpoint.get('format')!r}, expected {CHECKPOINT_FORMAT!r}) nor an rPPG-Toolbox "
                         "PhysNet/PhysFormer state dict: pass a run directory of sspd pretrain or finetune, a "
                         ".pt from its checkpoints/, or a toolbox .pth")
    missing = {"network", which} - set(checkpoint)
    if missing:
        raise ValueError(f"load_pretrained: {file} lacks {sorted(missing)}")
    if checkpoint[which] is None:
        name = (checkpoint.get("config") or {}).get("objective", {}).get("name", "?")
        raise ValueError(f"load_pretrained: {file} holds no {which} network: its objective ({name}) trains "
                         "without an EMA target; load which='online'")
    network = _build_checked(checkpoint, which, file)
    return network.to(map_location).eval(), checkpoint


def _build_checked(checkpoint: dict[str, Any], which: str, file: Path) -> SSPDNetwork:
    """The network of the checkpoint's recipe with its ``which`` weights; one ValueError naming ``file`` when
    the recipe cannot be built or the weights do not fit it (an edited or corrupt checkpoint)."""
    try:
        network = build_network(checkpoint["network"])
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"load_pretrained: {file}: its network recipe cannot be built ({err}); the checkpoint "
                         "was edited or is corrupt") from None
    try:
        network.load_state_dict(checkpoint[which])
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()
        raise ValueError(f"load_pretrained: {file}: its {which} weights do not fit the network it describes "
                         f"({first[0] if first else type(err).__name__}; {len(first)} line(s) of detail); the "
                         "checkpoint was edited or is corrupt") from None
    return network
