"""Load a pretrained SSPD network from a run directory or a checkpoint file (or an rPPG-Toolbox
PhysNet/PhysFormer state dict, recognised by its keys: :mod:`sspd.models.toolbox`).

The file is read here (``weights_only``); what it holds becomes a network in
:func:`sspd.models.model_from_checkpoint`, which recognises the format.

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
from sspd.models.checkpoint import SSPD_FORMAT, LoadedModel, model_from_checkpoint
from sspd.models.network import SSPDNetwork
from sspd.models.toolbox import TOOLBOX_FORMAT

__all__ = ["load_pretrained", "load_model", "load_toolbox_checkpoint", "checkpoint_path", "CHECKPOINT_FORMATS"]

#: ``format`` of :func:`load_pretrained`: recognise the file, or insist on one kind
CHECKPOINT_FORMATS = ("auto", SSPD_FORMAT, TOOLBOX_FORMAT)
_FILES = {"last": "last.pt", "best": "best.pt"}


def checkpoint_path(path: str | os.PathLike, which_file: str = "last") -> Path:
    """The checkpoint file ``path`` names: itself, or a run directory's ``checkpoints/<which_file>.pt``.

    Raises:
        FileNotFoundError: no such file or directory, or no such checkpoint in the run directory.
    """
    path = Path(path).expanduser()
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


def load_model(path: str | os.PathLike, *, which: str = "online", which_file: str = "last",
               map_location: str | torch.device = "cpu", format: str = "auto") -> LoadedModel:
    """The model of a run directory or checkpoint file, whatever its format: its network (eval mode, on
    ``map_location``), its :class:`sspd.models.InputSpec`, its format and the checkpoint
    (:func:`sspd.models.model_from_checkpoint`). Arguments and errors as :func:`load_pretrained`."""
    if which not in ("online", "target"):
        raise ValueError(f"load_pretrained: which must be 'online' or 'target', got {which!r}")
    if format not in CHECKPOINT_FORMATS:
        raise ValueError(f"load_pretrained: format must be one of {', '.join(CHECKPOINT_FORMATS)}, got {format!r}")
    file = checkpoint_path(path, which_file)
    model = model_from_checkpoint(load_checkpoint(file, map_location=map_location), which=which, source=file,
                                  format=format)
    model.network = model.network.to(map_location)
    return model


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
            the checkpoint-like dict of :func:`sspd.models.toolbox.load_toolbox_state_dict`.

    Raises:
        FileNotFoundError: no such run directory or file, or no checkpoint in it.
        ValueError: the file is neither an sspd checkpoint nor a toolbox state dict (one line naming it),
            or lacks what the network needs.
    """
    model = load_model(path, which=which, which_file=which_file, map_location=map_location, format=format)
    return model.network, model.checkpoint


def load_toolbox_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"
                            ) -> tuple[SSPDNetwork, dict[str, Any]]:
    """An rPPG-Toolbox .pth file (tensors only, ``weights_only``) as a network and a checkpoint-like dict
    (:func:`sspd.models.toolbox.load_toolbox_state_dict`)."""
    return load_pretrained(path, map_location=map_location, format=TOOLBOX_FORMAT)
