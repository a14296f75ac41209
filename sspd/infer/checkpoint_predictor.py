"""A trained SSPD network as a :class:`sspd.infer.predict.ClipPredictor`: ``sspd predict --checkpoint``.

    predictor = CheckpointPredictor("runs/pretrain")              # checkpoints/last.pt, online network
    prediction = predict_video("me.mp4", predictor=predictor)     # sspd.infer.predict

The network sees its own inference view (:func:`sspd.augment.inference.prepare_view`, recorded in the
checkpoint): the whole face crop resized to the backbone's input, then the frame difference it was trained
on (raw, or normalised with each pixel's luminance removed, the default). A clip of T frames therefore gives T - 1
samples, sample t following frame t + 1; the predictor returns T values by repeating the first sample for
frame 0 (which has no earlier frame), so value i of the video's signal belongs to frame i.

Clips are ``backbone.frames + 1`` frames (the T difference frames the network was trained on). What the
signal follows comes from the checkpoint: the pulse itself (pretraining, or fine-tuning with target
``"pulse"``), or its first difference (fine-tuning with target ``"diff"``, or a network whose spec says
``signal: diff``, e.g. an rPPG-Toolbox model), which is integrated within each clip.

An rPPG-Toolbox PhysNet/PhysFormer state dict (:mod:`sspd.engine.toolbox`) runs the same way, on the
toolbox's input: each frame resized to the input with area interpolation, the normalised difference
divided by its standard deviation (:func:`sspd.augment.inference.prepare_video`; over each clip here,
as the video is streamed, where the toolbox takes the whole video's). Each clip's signal is then z-scored, as :func:`sspd.eval.model_eval.network_signals` does
with its windows: a network's output has no set scale, and clips are concatenated as they are.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sspd.engine import load_pretrained, network_signal, resolve_device
from sspd.augment.inference import TARGETS, prepare_video, prepare_view
from sspd.signal import zscore

__all__ = ["CheckpointPredictor", "checkpoint_file", "checkpoint_crop_size", "checkpoint_target"]

log = logging.getLogger(__name__)

_MAX_PAD = 64  # the most zero difference frames added to reach a clip length the backbone accepts


def checkpoint_file(path: str | os.PathLike, which_file: str = "last") -> Path:
    """The checkpoint file ``path`` names: itself, or a run directory's ``checkpoints/<which_file>.pt``."""
    path = Path(path).expanduser()
    return path if path.is_file() else path / "checkpoints" / f"{which_file}.pt"


def checkpoint_target(checkpoint: dict[str, Any], source: str | os.PathLike) -> str:
    """What the network's signal follows: a fine-tuned run's target, else the network spec's ``signal``
    (``"pulse"`` for pretraining runs, ``"diff"`` for rPPG-Toolbox models)."""
    spec = checkpoint.get("network") if isinstance(checkpoint.get("network"), dict) else {}
    target = str((checkpoint.get("finetune") or {}).get("target") or network_signal(spec))
    if target not in TARGETS:
        raise ValueError(f"{source}: the checkpoint's finetune target is {target!r}, not one of {TARGETS}; "
                         "it was not written by sspd finetune")
    return target


def checkpoint_crop_size(checkpoint: dict[str, Any], input_size: tuple[int, int]) -> tuple[int, str]:
    """The face-crop side S and where it comes from: the run config's ``data.box_size`` (the face box a
    pretraining run cut its views from) when recorded and at least the input, else the network's input."""
    data = (checkpoint.get("config") or {}).get("data")
    box = data.get("box_size") if isinstance(data, dict) else None
    if isinstance(box, int) and box >= max(input_size):
        return box, "the run config's data.box_size"
    return max(input_size), "the network's input size (no data.box_size in the checkpoint's config)"


def _valid_length(backbone: Any, frames: int) -> int:
    """The fewest difference frames >= ``frames`` the backbone accepts (e.g. PhysNet: a multiple of 4)."""
    for length in range(frames, frames + _MAX_PAD + 1):
        try:
            backbone.check_clip_size(length, *backbone.input_size)
        except ValueError:
            continue
        return length
    raise ValueError(f"{type(backbone).__name__} accepts no clip of {frames} to {frames + _MAX_PAD} "
                     "difference frames; use a longer video")


def _check_recorded_frames(backbone: Any, file: Path) -> None:
    """Refuse a checkpoint whose network does not accept the clip length it records (``backbone.frames``):
    every clip would be padded with still frames the network never saw, and the output would mean nothing."""
    try:
        backbone.check_clip_size(backbone.frames, *backbone.input_size)
    except ValueError as err:
        raise ValueError(f"{file}: its network records clips of {backbone.frames} difference frames but does "
                         f"not accept them ({err}); the checkpoint's recipe was edited or is corrupt") from None


def _describe_view(view: Any) -> str:
    """The inference view in words (what :func:`prepare_view` or, for ``scale="std"``, :func:`prepare_video`
    applies for ``view``)."""
    if getattr(view, "scale", None) == "std":
        return ("face crop resized to the input (area interpolation), normalised frame difference divided by its "
                "standard deviation over the clip; sample i follows frame i (frame 0 of each clip repeats frame "
                "1's sample)")
    if view is None or getattr(view, "difference", "raw") == "raw":
        text = "raw frame difference"
    else:
        text = "normalised frame difference (difference / sum of the two frames)"
    if getattr(view, "luminance", "keep") == "remove":
        text += ", each pixel's luminance removed"
    return f"face crop resized to the input, {text}; sample i follows frame i (frame 0 of each clip repeats " \
           "frame 1's sample)"


class CheckpointPredictor:
    """The inference network (backbone + SSPD predictor) of a run directory or checkpoint file, run clip
    by clip under :func:`sspd.infer.predict.predict_video`.

    Args:
        path: a run directory of ``sspd pretrain`` or ``sspd finetune``, or a .pt checkpoint of either.
        which: ``"online"`` (trained by gradients) or ``"target"`` (its EMA) network.
        which_file: ``"last"`` or ``"best"`` checkpoint of a run directory (ignored for a file).
        clip_frames: frames per call (default ``backbone.frames + 1``, the network's training clip).
        crop_size: face-crop side S in pixels (default :func:`checkpoint_crop_size`).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available).
        format: ``"auto"`` (recognise the file), ``"sspd"`` or ``"rppg-toolbox"``
            (:func:`sspd.engine.load_pretrained`).

    Raises:
        FileNotFoundError: no such run directory or file, or no checkpoint in it (the message names it).
        ValueError: the file is not an sspd checkpoint, or its weights do not fit its network recipe.
    """

    def __init__(self, path: str | os.PathLike, *, which: str = "online", which_file: str = "last",
                 clip_frames: int | None = None, crop_size: int | None = None, device: str = "cpu",
                 format: str = "auto") -> None:
        self.device = resolve_device(device, "fp32")
        self.file = checkpoint_file(path, which_file)
        try:
            self.network, checkpoint = load_pretrained(path, which=which, which_file=which_file,
                                                       map_location=self.device, format=format)
        except RuntimeError as err:  # load_state_dict: the weights do not fit the recorded architecture
            raise ValueError(f"{self.file}: its {which} weights do not fit the network it describes ({err}); "
                             "the file is corrupt or was edited") from err
        backbone = self.network.backbone
        self.which, self.step = which, checkpoint.get("step")
        self.format = str(checkpoint.get("format"))
        self.target = checkpoint_target(checkpoint, self.file)
        _check_recorded_frames(backbone, self.file)
        self.clip_frames = self._check_frames(clip_frames or backbone.frames + 1)
        size, self.crop_size_from = checkpoint_crop_size(checkpoint, self.network.input_size)
        self.crop_size = int(crop_size or size)
        if crop_size:
            self.crop_size_from = "given"
        label = self.file.parent.parent.name if self.file.parent.name == "checkpoints" else self.file.stem
        self.name = f"sspd:{label}:{which}"

    def _check_frames(self, clip_frames: int) -> int:
        if not isinstance(clip_frames, int) or clip_frames < 2:
            raise ValueError(f"clip_frames must be an int >= 2 (a clip of T frames gives T - 1 frame "
                             f"differences), got {clip_frames!r}")
        _valid_length(self.network.backbone, clip_frames - 1)
        return clip_frames

    def describe(self) -> dict[str, Any]:
        """Which model produced the signal, and how (goes into the prediction's protocol)."""
        backbone = self.network.backbone
        return {"checkpoint": str(self.file), "format": self.format, "which": self.which, "step": self.step,
                "backbone": type(backbone).__name__, "input_size": list(self.network.input_size),
                "clip_frames": self.clip_frames, "crop_size": self.crop_size,
                "crop_size_from": self.crop_size_from, "target": self.target,
                "view": _describe_view(getattr(self.network, "view", None)),
                "normalisation": ("integrated within each clip, then " if self.target == "diff" else "")
                                 + "z-scored per clip"}

    @torch.no_grad()
    def __call__(self, clip: np.ndarray, fs: float) -> np.ndarray:
        """(T, S, S, 3) uint8 RGB face crops → (T,) pulse, z-scored over the clip. ``fs`` is not used:
        the network runs at the video's frame rate as it is (no resampling)."""
        frames = np.asarray(clip)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 2:
            raise ValueError(f"{self.name}: expects a clip (T, S, S, 3) of at least 2 RGB frames, got shape "
                             f"{frames.shape}")
        if self.network.view.scale == "std":  # scaled by the clip's statistics, prepared as a whole
            prepared = prepare_video(frames, self.network.input_size, self.network.view)  # (C, T-1, h, w)
            view = torch.from_numpy(prepared)[None].to(self.device)  # (1, C, T-1, h, w)
        else:
            video = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None]  # (1, C, T, S, S)
            view = prepare_view(video.to(self.device), self.network.input_size,
                                self.network.view)  # (1, C, T-1, h, w)
        signal = self._forward(view)  # (T-1,)
        signal = zscore(np.cumsum(signal) if self.target == "diff" else signal)
        return np.concatenate([signal[:1], signal])  # (T,)

    def _forward(self, view: Tensor) -> np.ndarray:
        """(1, C, T, h, w) → (T,) float64, padded with zero differences (a still face) to a length the
        backbone accepts, the padding's output dropped."""
        frames = view.shape[2]
        length = _valid_length(self.network.backbone, frames)
        padded = F.pad(view, (0, 0, 0, 0, 0, length - frames))  # (1, C, length, h, w)
        return self.network.predict(padded)[0, :frames].double().cpu().numpy()  # (T,)
