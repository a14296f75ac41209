"""Load a pretrained SSPD network from a run directory or a checkpoint file.

    network, checkpoint = load_pretrained("runs/pretrain")                 # checkpoints/last.pt, online
    network, _ = load_pretrained("runs/pretrain", which="target", which_file="best")
    pulse = network.predict(clips)                                         # (B, 3, T, h, w) → (B, T)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sspd.engine.checkpoint import load_checkpoint
from sspd.engine.network import SSPDNetwork
from sspd.engine.run_dir import CHECKPOINT_FORMAT, build_network

__all__ = ["load_pretrained", "predict_video"]

_WHICH = ("online", "target")
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
                    map_location: str | torch.device = "cpu") -> tuple[SSPDNetwork, dict[str, Any]]:
    """The online (or target) :class:`SSPDNetwork` of a checkpoint, in eval mode, and the checkpoint.

    Args:
        path: a run directory (``checkpoints/last.pt``, or ``best.pt`` with ``which_file="best"``) or a .pt.
        which: ``"online"`` (the network trained by gradients) or ``"target"`` (its EMA).
        map_location: where the weights go.

    Raises:
        FileNotFoundError: no such run directory or file, or no checkpoint in it.
        ValueError: the file is not an sspd pretraining checkpoint or lacks what the network needs.
    """
    if which not in _WHICH:
        raise ValueError(f"load_pretrained: which must be 'online' or 'target', got {which!r}")
    file = _checkpoint_path(Path(path), which_file)
    checkpoint = load_checkpoint(file, map_location=map_location)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"load_pretrained: {file} is not an sspd pretraining checkpoint (format "
                         f"{checkpoint.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
    missing = {"network", which} - set(checkpoint)
    if missing:
        raise ValueError(f"load_pretrained: {file} lacks {sorted(missing)}")
    network = build_network(checkpoint["network"])
    network.load_state_dict(checkpoint[which])
    return network.to(map_location).eval(), checkpoint


def predict_video(network: SSPDNetwork, frames: Any, *, frames_per_clip: int | None = None) -> "np.ndarray":
    """The pulse of a whole face video from a pretrained network, clip by clip (no augmentation).

    Each clip of T + 1 frames is prepared like the target view (the whole face box resized to the
    network's input, raw frame difference) and ``network.predict`` gives T values; clips tile the video
    without overlap, the last one aligned to the video's end, and the first sample repeats the second
    (a difference signal has one sample fewer than the video).

    Args:
        network: an :class:`SSPDNetwork` (see :func:`load_pretrained`).
        frames: (N, S, S, 3) uint8 RGB face crops (a cached video's ``frames``).
        frames_per_clip: T; default the backbone's ``frames``.

    Returns:
        (N,) float64 pulse signal at the video's frame rate.
    """
    import numpy as np
    import torch.nn.functional as F

    clip_len = int(frames_per_clip or network.backbone.frames)
    video = np.asarray(frames)
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"predict_video: frames must be (N, S, S, 3) RGB, got {video.shape}")
    n = video.shape[0]
    if n < clip_len + 1:
        raise ValueError(f"predict_video: the video has {n} frames, fewer than one clip of {clip_len + 1}")
    starts = list(range(0, n - clip_len - 1, clip_len)) + [n - clip_len - 1]
    out = np.zeros(n - 1)
    device = next(network.parameters()).device
    with torch.no_grad():
        for start in starts:
            clip = torch.from_numpy(video[start:start + clip_len + 1].copy()).to(device).float()  # (T+1, S, S, 3)
            clip = clip.permute(3, 0, 1, 2)                                                  # (3, T+1, S, S)
            clip = F.interpolate(clip, size=network.input_size, mode="bilinear", antialias=True,
                                 align_corners=False)                                       # (3, T+1, h, w)
            view = (clip[:, 1:] - clip[:, :-1]).unsqueeze(0)                                 # (1, 3, T, h, w)
            out[start:start + clip_len] = network.predict(view)[0].float().cpu().numpy()
    return np.concatenate([out[:1], out])  # (N,)
