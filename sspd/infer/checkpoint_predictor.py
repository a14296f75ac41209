"""A trained model as a :class:`sspd.infer.predict.ClipPredictor`: ``sspd predict --checkpoint``.

    predictor = build_predictor("runs/pretrain")                  # checkpoints/last.pt, online network
    prediction = predict_video("me.mp4", predictor=predictor)     # sspd.infer.predict

:func:`build_predictor` takes a model file of any known format (an sspd run directory or checkpoint, an
rPPG-Toolbox PhysNet/PhysFormer state dict) and runs it on the input its :class:`sspd.models.InputSpec`
records (saved in the checkpoint; derived from the run config for checkpoints written before it): the face
crop of ``box_size`` resized to the network's input, then the frame difference it was trained on (raw, or
normalised with each pixel's luminance removed, the default). A clip of T frames therefore gives T - 1
samples, sample t following frame t + 1; the predictor returns T values by repeating the first sample for
frame 0 (which has no earlier frame), so value i of the video's signal belongs to frame i.

Clips are ``input.frames + 1`` frames (the T difference frames the network was trained on). What the
signal follows is the spec's ``signal``: the pulse itself (pretraining, or fine-tuning with target
``"pulse"``), or its first difference (fine-tuning with target ``"diff"``, or an rPPG-Toolbox model), which
is integrated within each clip (:func:`sspd.signal.integrate`: its mean removed first, else a constant offset
would make a sawtooth at the clip rate) and read with the estimator's octave check.

An rPPG-Toolbox model (:mod:`sspd.models.toolbox`) runs on the toolbox's input: each frame resized to the
input with area interpolation, the normalised difference divided by its standard deviation
(:func:`sspd.augment.inference.prepare_video`; over each clip here, as the video is streamed, where the
toolbox takes the whole video's). Each clip's signal is then z-scored, as
:func:`sspd.eval.model_eval.network_signals` does with its windows: a network's output has no set scale,
and clips are concatenated as they are.
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

from sspd.augment.inference import prepare_video, prepare_view
from sspd.engine import load_model, resolve_device
from sspd.engine.pretrained import checkpoint_path
from sspd.models import LoadedModel
from sspd.signal import integrate, zscore

__all__ = ["CheckpointPredictor", "build_predictor", "checkpoint_file"]

log = logging.getLogger(__name__)

_MAX_PAD = 64  # the most zero difference frames added to reach a clip length the backbone accepts


def checkpoint_file(path: str | os.PathLike, which_file: str = "last") -> Path:
    """The checkpoint file ``path`` names: itself, or a run directory's ``checkpoints/<which_file>.pt``."""
    path = Path(path).expanduser()
    return path if path.is_file() else path / "checkpoints" / f"{which_file}.pt"


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


def build_predictor(source: str | os.PathLike, *, which: str = "online", which_file: str = "last",
                    clip_frames: int | None = None, crop_size: int | None = None, device: str = "cpu",
                    format: str = "auto") -> "CheckpointPredictor":
    """The predictor inference runs (``sspd predict``, ``live``, ``evaluate``) for a model file of any
    format: an sspd run directory or checkpoint, or an rPPG-Toolbox PhysNet/PhysFormer state dict. The
    file's contents pick the format (:data:`sspd.models.MODEL_FORMATS`, unless ``format`` insists on one);
    the network runs on the input its :class:`sspd.models.InputSpec` records.

    Raises:
        FileNotFoundError: no such run directory or file, or no checkpoint in it (the message names it).
        ValueError (one line naming the file): contents of no known format, or a network that cannot be
            built from them.
    """
    return CheckpointPredictor(source, which=which, which_file=which_file, clip_frames=clip_frames,
                               crop_size=crop_size, device=device, format=format)


class CheckpointPredictor:
    """The inference network (backbone + its rPPG head) of a model file, run clip by clip under
    :func:`sspd.infer.predict.predict_video`, on the input its :class:`sspd.models.InputSpec` records.
    Build it with :func:`build_predictor`.

    Args:
        path: a run directory of ``sspd pretrain`` or ``sspd finetune``, a .pt checkpoint of either, or an
            rPPG-Toolbox .pth.
        which: ``"online"`` (trained by gradients) or ``"target"`` (its EMA) network.
        which_file: ``"last"`` or ``"best"`` checkpoint of a run directory (ignored for a file).
        clip_frames: frames per call (default ``input.frames + 1``, the network's training clip).
        crop_size: face-crop side S in pixels (default the input spec's ``box_size``).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available).
        format: ``"auto"`` (recognise the file), ``"sspd"`` or ``"rppg-toolbox"``.

    Attributes:
        network, input (the :class:`~sspd.models.InputSpec`), model (the :class:`~sspd.models.LoadedModel`),
        file, which, step, format, target (``input.signal``), clip_frames, crop_size, crop_size_from, name.

    Raises:
        FileNotFoundError: no such run directory or file, or no checkpoint in it (the message names it).
        ValueError: the file is of no known format, or its weights do not fit its network recipe.
    """

    def __init__(self, path: str | os.PathLike, *, which: str = "online", which_file: str = "last",
                 clip_frames: int | None = None, crop_size: int | None = None, device: str = "cpu",
                 format: str = "auto") -> None:
        self.device = resolve_device(device, "fp32")
        self.file = checkpoint_path(path, which_file)
        self.model: LoadedModel = load_model(self.file, which=which, map_location=self.device, format=format)
        self.network, self.input = self.model.network, self.model.input
        self.which, self.step, self.format = which, self.model.step, self.model.format
        self.target = self.input.signal
        _check_recorded_frames(self.network.backbone, self.file)
        self.clip_frames = self._check_frames(clip_frames or self.input.clip_frames)
        self.crop_size = int(crop_size or self.input.box_size)
        self.crop_size_from = "given" if crop_size else self.model.crop_size_from
        label = self.file.parent.parent.name if self.file.parent.name == "checkpoints" else self.file.stem
        self.name = f"sspd:{label}:{which}"

    def _check_frames(self, clip_frames: int) -> int:
        if not isinstance(clip_frames, int) or clip_frames < 2:
            raise ValueError(f"clip_frames must be an int >= 2 (a clip of T frames gives T - 1 frame "
                             f"differences), got {clip_frames!r}")
        _valid_length(self.network.backbone, clip_frames - 1)
        return clip_frames

    def describe(self) -> dict[str, Any]:
        """Which model produced the signal, and how (goes into the prediction's protocol); ``view`` and
        ``input`` come from the input spec the network runs on."""
        backbone = self.network.backbone
        return {"checkpoint": str(self.file), "format": self.format, "which": self.which, "step": self.step,
                "backbone": type(backbone).__name__, "input_size": list(self.input.input_size),
                "clip_frames": self.clip_frames, "crop_size": self.crop_size,
                "crop_size_from": self.crop_size_from, "target": self.target,
                "view": self.input.describe_view(), "input": self.input.as_dict(),
                "normalisation": ("integrated within each clip (mean removed first), then "
                                  if self.target == "diff" else "") + "z-scored per clip"}

    @torch.no_grad()
    def __call__(self, clip: np.ndarray, fs: float) -> np.ndarray:
        """(T, S, S, 3) uint8 RGB face crops → (T,) pulse, z-scored over the clip. ``fs`` is not used:
        the network runs at the video's frame rate as it is (no resampling)."""
        frames = np.asarray(clip)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 2:
            raise ValueError(f"{self.name}: expects a clip (T, S, S, 3) of at least 2 RGB frames, got shape "
                             f"{frames.shape}")
        spec = self.input
        if spec.view.scale == "std":  # scaled by the clip's statistics, prepared as a whole
            prepared = prepare_video(frames, spec.input_size, spec.view)  # (C, T-1, h, w)
            view = torch.from_numpy(prepared)[None].to(self.device)  # (1, C, T-1, h, w)
        else:
            video = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None]  # (1, C, T, S, S)
            view = prepare_view(video.to(self.device), spec.input_size, spec.view)  # (1, C, T-1, h, w)
        signal = self._forward(view)  # (T-1,)
        signal = zscore(integrate(signal) if self.target == "diff" else signal)
        return np.concatenate([signal[:1], signal])  # (T,)

    def _forward(self, view: Tensor) -> np.ndarray:
        """(1, C, T, h, w) → (T,) float64, padded with zero differences (a still face) to a length the
        backbone accepts, the padding's output dropped."""
        frames = view.shape[2]
        length = _valid_length(self.network.backbone, frames)
        padded = F.pad(view, (0, 0, 0, 0, 0, length - frames))  # (1, C, length, h, w)
        return self.network.predict(padded)[0, :frames].double().cpu().numpy()  # (T,)
