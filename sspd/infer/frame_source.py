"""Where a video's frames come from: a video file or an image folder, its frame rate, and checks on what
was decoded.

    source = open_frame_source("face.mp4")             # or a folder of images with fps=30
    for frame in source.read(): ...                    # (H, W, 3) uint8 RGB, a fresh pass each call
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from sspd.data.readers.frames import list_image_files, read_image_frames
from sspd.data.video import StreamTiming, TimedVideoFrames, container_info
from sspd.signal import check_fs

__all__ = ["FrameSource", "resolve_fps", "open_frame_source", "MAX_MISSING_FRACTION", "Progress",
           "CountedReader", "check_decoded", "frame_times_s"]

log = logging.getLogger(__name__)

#: A video that decodes fewer frames than its container declares is truncated; beyond this fraction it fails
#: (as preprocessing does), below it the prediction carries a warning.
MAX_MISSING_FRACTION = 0.05
#: progress callback: (frames done, total or None)
Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class FrameSource:
    """Where frames come from: ``read()`` returns a fresh iterator of (H, W, 3) uint8 RGB frames.

    ``n_frames`` is the container's count (inexact for some codecs; compared with the decoded count) or
    the number of images; ``container_fps`` what the video file says (None for an image folder). For a
    video, ``read`` is a :class:`~sspd.data.video.TimedVideoFrames`: after a pass its ``times_ms`` holds
    each frame's presentation time."""

    path: Path
    kind: str  # "video" | "image folder"
    fps: float
    n_frames: int | None
    container_fps: float | None
    read: Callable[[], Iterator[np.ndarray]] = field(repr=False)


def resolve_fps(container_fps: float | None, fps: float | None, source: Path) -> float:
    """The frame rate to use: ``fps`` when given (it overrides the container), else the container's.

    Raises ValueError for a given ``fps`` that is not > 0, and when neither gives a rate (an image
    folder, or a container whose rate is missing or zero), naming ``source``."""
    if fps is not None:
        return check_fs(fps, name="fps")
    if container_fps is None:
        raise ValueError(f"{source}: an image folder has no frame rate; pass the camera's rate with fps= "
                         "(sspd predict --fps HZ)")
    if not (math.isfinite(container_fps) and container_fps > 0):
        raise ValueError(f"{source}: the video container gives no frame rate ({container_fps}); pass the "
                         "camera's rate with fps= (sspd predict --fps HZ)")
    return float(container_fps)


def open_frame_source(path: str | Path, *, fps: float | None = None) -> FrameSource:
    """A video file, or a folder of images (read in natural order: ``frame2`` before ``frame10``).

    Args:
        path: the video file or image folder.
        fps: frame rate in Hz; required for an image folder, overrides a video container's rate.

    Raises:
        FileNotFoundError: no such file or folder. ValueError: unreadable video, a folder with no image,
        or no frame rate (see :func:`resolve_fps`).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        files = list_image_files(path)
        rate = resolve_fps(None, fps, path)
        return FrameSource(path=path, kind="image folder", fps=rate, n_frames=len(files), container_fps=None,
                           read=lambda: read_image_frames(files))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video file or image folder")
    container_fps, count = container_info(path)
    rate = resolve_fps(container_fps, fps, path)
    if fps is not None and container_fps > 0 and abs(container_fps - rate) > 1e-3 * rate:
        log.info("%s: using fps=%g instead of the container's %g", path, rate, container_fps)
    return FrameSource(path=path, kind="video", fps=rate, n_frames=count if count > 0 else None,
                       container_fps=container_fps, read=TimedVideoFrames(path))


class CountedReader:
    """``source.read`` that reports progress after each frame, counting across reads (the ``median``
    face strategy reads the video twice, so its total is twice the frame count)."""

    def __init__(self, source: FrameSource, *, passes: int, progress: Progress | None):
        self.source, self.progress, self.done = source, progress, 0
        self.total = None if source.n_frames is None else passes * source.n_frames

    def __call__(self) -> Iterator[np.ndarray]:
        for frame in self.source.read():
            yield frame
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.total)


def check_decoded(source: FrameSource, decoded: int, stream: StreamTiming | None = None) -> list[str]:
    """Whether the decoded frames are the whole video: a note when a little is missing, an error beyond
    :data:`MAX_MISSING_FRACTION` (the file is truncated; its HR would come from part of it).

    With the stream's own timing (``stream``: its frames' timestamps and duration, :func:`sspd.data.video.
    stream_timing`) the time the decoded frames cover is compared with the stream's duration, so a
    variable-frame-rate video (nominal 30 fps, 16 on average) is not taken for a truncated one. Without it,
    the decoded count is compared with the container's count (duration × nominal rate for some formats).
    """
    if source.kind != "video":
        return []
    if stream is None or (stream.frames is None and stream.duration_s is None):
        return _by_count(source, decoded, source.n_frames)   # no stream facts: the container's count
    notes = _by_count(source, decoded, stream.frames)          # the header's own count, where it has one
    if stream.duration_s and stream.times_s is not None and stream.times_s.size >= 2:
        times = stream.times_s[:decoded]
        covered = float(times[-1] + np.median(np.diff(stream.times_s)))  # the last frame lasts one interval
        missing = 1.0 - covered / stream.duration_s
        message = (f"the {decoded} decoded frames cover {covered:.2f} s of the {stream.duration_s:.2f} s the "
                   f"stream lasts ({max(missing, 0.0):.0%} missing)")
        notes += _judge(source, missing, message, tolerance=0.01)
    return notes


def _by_count(source: FrameSource, decoded: int, declared: int | None) -> list[str]:
    if declared is None or decoded >= declared:
        return []
    missing = declared - decoded
    message = (f"{decoded} of the {declared} frames the container declares were decoded ({missing} missing, "
               f"{missing / declared:.0%})")
    return _judge(source, missing / declared, message, tolerance=0.0)


def _judge(source: FrameSource, missing: float, message: str, *, tolerance: float) -> list[str]:
    """An error beyond :data:`MAX_MISSING_FRACTION` missing, a note above ``tolerance``, else nothing."""
    if missing > MAX_MISSING_FRACTION:
        raise ValueError(f"{source.path}: {message}: the video is truncated or corrupt, more than "
                         f"{MAX_MISSING_FRACTION:.0%} is missing; copy or re-encode it again")
    if missing > tolerance:
        return [f"{message}: the video may be truncated; the HR is from the decoded frames"]
    return []


def frame_times_s(source: FrameSource, stream: StreamTiming | None = None, decoded: int | None = None
                  ) -> np.ndarray | None:
    """(T,) presentation times in s of the decoded frames: the stream's own (PyAV, ``stream``) when it
    times exactly the ``decoded`` frames, else those OpenCV reported in the last pass, else None."""
    if stream is not None and stream.times_s is not None and decoded is not None and stream.times_s.size == decoded:
        return stream.times_s
    times_ms = getattr(source.read, "times_ms", None)
    return None if times_ms is None else np.asarray(times_ms, dtype=np.float64) / 1e3
