"""Video files through OpenCV: probe, stream RGB frames, write lossless video."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from sspd.signal import check_fs

__all__ = ["VideoInfo", "TimedVideoFrames", "container_info", "probe_video", "read_video_frames", "write_video",
           "StreamTiming", "stream_timing"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video. ``n_frames`` is the container's count, which some codecs
    report inexactly: readers that need the exact count decode (``count_frames=True``)."""

    path: Path
    fps: float
    n_frames: int
    width: int
    height: int


def _open(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"{path}: OpenCV cannot open this video (unknown codec or corrupt file); "
                         "re-encode it losslessly, e.g. with ffmpeg -c:v ffv1")
    return cap


def container_info(path: str | Path) -> tuple[float, int]:
    """(frame rate, frame count) exactly as the container states them, either possibly 0: no checks
    beyond opening the file. :func:`probe_video` is the strict form that dataset readers use.

    Raises:
        FileNotFoundError: no such file. ValueError: OpenCV cannot open it.
    """
    path = Path(path)
    cap = _open(path)
    try:
        return float(cap.get(cv2.CAP_PROP_FPS)), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


def probe_video(path: str | Path, *, count_frames: bool = False) -> VideoInfo:
    """Read a video's frame rate, frame count and size.

    Args:
        path: the video file.
        count_frames: decode the whole video to count frames exactly instead of trusting the container.

    Raises:
        FileNotFoundError: no such file. ValueError: unreadable, zero frames, or no frame rate.
    """
    path = Path(path)
    cap = _open(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if count_frames:
            n = 0
            while cap.grab():
                n += 1
    finally:
        cap.release()
    if n <= 0:
        raise ValueError(f"{path}: the video has no frames")
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"{path}: the container gives no frame rate; pass fps explicitly")
    return VideoInfo(path=path, fps=fps, n_frames=n, width=width, height=height)


def read_video_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Yield the frames of a video as H×W×3 uint8 RGB arrays, one at a time (never the whole video).

    Raises:
        FileNotFoundError / ValueError: as :func:`probe_video`; ValueError if no frame decodes.
    """
    return _decode(Path(path), None)


def _decode(path: Path, times_ms: list[float] | None) -> Iterator[np.ndarray]:
    """RGB frames of ``path``; appends each frame's presentation time (ms) to ``times_ms`` when given."""
    cap = _open(path)
    n = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            n += 1
            if times_ms is not None:  # after read(): the time of the frame just decoded (its pts)
                times_ms.append(float(cap.get(cv2.CAP_PROP_POS_MSEC)))
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
    if n == 0:
        raise ValueError(f"{path}: no frame could be decoded (empty or corrupt video)")


class TimedVideoFrames:
    """A frames callable (like ``partial(read_video_frames, path)``) that also records when each frame is
    presented: after a pass, ``times_ms`` holds (T,) milliseconds, one per decoded frame, as the container
    states them (OpenCV's ``CAP_PROP_POS_MSEC``, the frame's presentation timestamp through FFmpeg). Phones
    record variable frame rate, which ``CAP_PROP_FPS`` alone cannot describe."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.times_ms: list[float] = []

    def __call__(self) -> Iterator[np.ndarray]:
        self.times_ms = []  # each pass records afresh (the median face strategy reads twice)
        return _decode(self.path, self.times_ms)


@dataclass(frozen=True)
class StreamTiming:
    """What a video stream says about time, read by PyAV from its packets without decoding a frame.

    Attributes:
        times_s: (N,) the frames' own presentation times in s from the first (sorted packet pts), or None.
        duration_s: how long the stream lasts (the stream's, else the container's duration), or None.
        frames: the frame count the stream's header records (exact where present), or None (many
            formats record none; OpenCV then reports duration x nominal rate, wrong for variable rates).
    """

    times_s: np.ndarray | None
    duration_s: float | None
    frames: int | None = None


def stream_timing(path: str | Path) -> StreamTiming:
    """The frames' presentation times and the stream's duration (:class:`StreamTiming`), both None where
    PyAV cannot read them: a variable-frame-rate video is timed by its frames, not its nominal rate."""
    try:
        import av
    except ImportError:  # an optional reader here: without it, the caller falls back to OpenCV's numbers
        return StreamTiming(None, None)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size]
            base = float(stream.time_base) if stream.time_base else None
            duration = (stream.duration * base if stream.duration and base
                        else container.duration / 1e6 if container.duration else None)
            frames = int(stream.frames) or None
    except (av.error.FFmpegError, IndexError, OSError, ValueError) as err:
        log.debug("%s: PyAV cannot read the stream's timing (%s)", path, err)
        return StreamTiming(None, None)
    if base is None or len(pts) < 2:
        return StreamTiming(None, duration, frames)
    times = np.sort(np.asarray(pts, dtype=np.float64)) * base  # (N,) presentation order
    return StreamTiming(times - times[0], duration, frames)


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, *, codec: str = "FFV1") -> int:
    """Write H×W×3 uint8 RGB frames to a video file; returns the number of frames written.

    The default FFV1 codec is lossless (use an ``.avi`` or ``.mkv`` path), so a pulse of under one grey
    level survives the round trip. Frames must all have the first frame's size.
    """
    check_fs(fps, name="fps")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    n = 0
    try:
        for frame in frames:
            frame = np.asarray(frame)
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"{path}: frames must be H×W×3 uint8 RGB, got {frame.dtype} {frame.shape}")
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), float(fps), size)
                if not writer.isOpened():
                    raise ValueError(f"{path}: OpenCV cannot write codec {codec!r} to this container")
            elif (frame.shape[1], frame.shape[0]) != size:
                raise ValueError(f"{path}: frame {n} is {frame.shape[1]}×{frame.shape[0]}, expected {size[0]}×{size[1]}")
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            n += 1
    finally:
        if writer is not None:
            writer.release()
    if n == 0:
        raise ValueError(f"{path}: no frames to write")
    return n
