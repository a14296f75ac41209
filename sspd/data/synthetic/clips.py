"""An on-the-fly torch dataset of synthetic clips: the embedded default, so training runs with no data.

Clips are rendered in the "crop" framing by default: the face fills the frame as an already-cropped
face box would (the box-sized crop the SSPD views are cut from, e.g. 151×151 for a 128×128 network
input), so no face detection is needed. Pass a config with ``framing="scene"`` for a face in a room.
Clip i is rendered from ``spawn_seed(seed, i)``: the same clip whatever the worker, epoch or order.

With ``framing="webcam"`` (the ``realistic`` preset) each clip is cut as on real video: a 640×480 frame is
rendered (and compressed when ``crf`` is set), the face box is cut out and resampled to ``size``
(:mod:`.capture`); about 20x slower to render than a crop-framed clip. With ``crf`` set, every clip goes
through an H.264 encode-decode round trip.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from sspd.data.synthetic.capture import clip_video, face_clip
from sspd.data.synthetic.config import SyntheticConfig
from sspd.data.synthetic.generate import parse_size
from sspd.data.synthetic.render import SyntheticVideo
from sspd.data.synthetic.scene import spawn_seed
from sspd.signal import check_fs

__all__ = ["SyntheticClipDataset"]

_DTYPES = {"float32": torch.float32, "uint8": torch.uint8}


class SyntheticClipDataset(Dataset):
    """``n_clips`` synthetic clips of ``frames`` frames, rendered when indexed.

    Args:
        n_clips: number of clips (the dataset's length).
        frames: frames per clip, T (e.g. 301 for SSPD's 300 difference frames).
        size: (width, height) of the frames, an int for a square, or ``"WxH"``.
        fps: frame rate in Hz (kept through every consumer: nothing assumes 30).
        seed: the dataset seed; clip i comes from ``spawn_seed(seed, i)``.
        config: the model's knobs; default ``SyntheticConfig(framing="crop")``.
        dtype: ``"float32"`` (values in [0, 255], not normalised: SSPD-Net starts with a BatchNorm) or
            ``"uint8"`` (4x smaller for worker-to-main transfer; convert on the device).

    Each item is a dict:
        ``video`` (C, T, H, W) tensor of ``dtype``, RGB;
        ``ppg`` (T,) float32 label p(t) at the frame times (unit variance; zeros for a no-pulse clip);
        ``hr`` float, the clip's mean HR in bpm (0.0 for a no-pulse clip);
        ``fps`` float; ``has_pulse`` bool; ``index`` int; ``video_id`` int, the video the clip came from
        (each clip is its own video: its index).
    """

    def __init__(self, n_clips: int, *, frames: int = 160, size: tuple[int, int] | int | str = 128,
                 fps: float = 30.0, seed: int = 0, config: SyntheticConfig | None = None,
                 dtype: str = "float32") -> None:
        if n_clips < 1 or frames < 2:
            raise ValueError(f"SyntheticClipDataset: n_clips ({n_clips}) must be >= 1 and frames "
                             f"({frames}) >= 2")
        if dtype not in _DTYPES:
            raise ValueError(f"SyntheticClipDataset: dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        fps = check_fs(fps, name="SyntheticClipDataset: fps")
        self.n_clips, self.frames, self.fps, self.seed = int(n_clips), int(frames), fps, int(seed)
        self.width, self.height = parse_size(size)
        self.config = config or SyntheticConfig(framing="crop")
        self.dtype = dtype

    def __len__(self) -> int:
        return self.n_clips

    def video(self, index: int) -> SyntheticVideo:
        """The :class:`SyntheticVideo` behind clip ``index`` (for its skin masks, HR(t), ...); in the webcam
        framing, the whole 640×480 video the clip is cut from."""
        if not -self.n_clips <= index < self.n_clips:
            raise IndexError(f"clip {index} out of range for {self.n_clips} clips")
        return clip_video(spawn_seed(self.seed, index % self.n_clips), n_frames=self.frames, fps=self.fps,
                          size=(self.width, self.height), config=self.config)

    def __getitem__(self, index: int) -> dict[str, Any]:
        video = self.video(index)
        frames = torch.from_numpy(face_clip(video, (self.width, self.height)))  # (T, H, W, C) uint8
        clip = frames.permute(3, 0, 1, 2).contiguous()  # (C, T, H, W)
        times = video.frame_times
        return {"video": clip.to(_DTYPES[self.dtype]),
                "ppg": torch.from_numpy(video.ppg(times).astype(np.float32)),
                "hr": video.mean_hr, "fps": self.fps, "has_pulse": video.has_pulse,
                "index": index % self.n_clips, "video_id": index % self.n_clips}
