"""Frames as they happen: a camera, a stream, a video file played at its own pace, or any frame iterator
paced at a fixed rate, each frame with its timestamps; and the bounded buffer between the capture thread
and a slower consumer, which drops the oldest frames rather than queueing without bound.

    source = open_live_source(0)                               # camera 0; or "clip.mp4", "rtsp://..."
    source = open_live_source("clip.mp4", realtime=True)       # a file at its own frame rate
    source = PacedFrames(frames, fps=30)                       # any iterable of frames, 30 per second
    for frame in source.frames(): frame.image, frame.media_s, frame.captured_s

Two clocks per frame: ``media_s``, the frame's time in the stream (a file's presentation timestamp, or the
capture clock of a camera) from which the pulse is sampled, and ``captured_s``, :func:`time.monotonic`
when the frame was captured (a camera: when ``read`` returned it; a file played at real time: when it
was due), from which the latency of an estimate is measured.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Protocol, runtime_checkable

import cv2
import numpy as np

from sspd.signal import check_fs

__all__ = ["TimedFrame", "LiveSource", "PacedFrames", "CaptureSource", "open_live_source", "FrameBuffer",
           "CaptureThread", "DEFAULT_CAMERA_FPS"]

#: A camera that reports no frame rate is taken to run at this rate until its timestamps say otherwise.
DEFAULT_CAMERA_FPS = 30.0
_STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


@dataclass(frozen=True)
class TimedFrame:
    """One frame: ``image`` (H, W, 3) uint8 RGB, ``index`` its number at the source (from 0),
    ``media_s`` its time in the stream (s from the first frame), ``captured_s`` the monotonic clock (s)
    when it was captured."""

    image: np.ndarray
    index: int
    media_s: float
    captured_s: float


@runtime_checkable
class LiveSource(Protocol):
    """What :func:`sspd.infer.live.run_live` reads: ``name`` (for messages), ``fps`` (the nominal rate,
    Hz), ``live`` (True: frames come at their own pace and are dropped when the consumer falls behind;
    False: a file read as fast as it is consumed, which waits instead), ``frames(stop)`` an iterator of
    :class:`TimedFrame` that ends at the end of the stream or soon after ``stop`` is set, and
    ``close()``."""

    name: str
    fps: float
    live: bool

    def frames(self, stop: threading.Event | None = None) -> Iterator[TimedFrame]: ...

    def close(self) -> None: ...


class PacedFrames:
    """Any iterable of (H, W, 3) uint8 RGB frames delivered at a fixed rate, as a camera would: frame i is
    released at ``i / (fps · speed)`` s after the first (``media_s = i / fps``); a frame that comes late
    from the iterable is released at once.

    Args:
        frames: the frames (an iterable, read once).
        fps: the rate of the frames (Hz).
        speed: 1 plays at real time, 2 twice as fast (the media times stay ``i / fps``).
        name: what messages call it.
    """

    def __init__(self, frames: Iterable[np.ndarray], *, fps: float, speed: float = 1.0, name: str = "frames"):
        self.fps = check_fs(fps, name="fps")
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a number > 0 (1 = real time), got {speed!r}")
        self._frames, self.speed, self.name, self.live = frames, float(speed), name, True

    def frames(self, stop: threading.Event | None = None) -> Iterator[TimedFrame]:
        stop = stop or threading.Event()
        start = time.monotonic()
        for index, image in enumerate(self._frames):
            due = start + index / (self.fps * self.speed)
            if stop.wait(max(0.0, due - time.monotonic())):
                return
            yield TimedFrame(image=image, index=index, media_s=index / self.fps,
                             captured_s=max(due, time.monotonic()))

    def close(self) -> None:
        close = getattr(self._frames, "close", None)
        if callable(close):
            close()


def _describe(spec: int | str) -> str:
    return f"camera {spec}" if isinstance(spec, int) else str(spec)


class CaptureSource:
    """A camera index, a stream URL or a video file, read with OpenCV (its FFmpeg backend reads RTSP,
    HTTP and every file format it knows).

    Args:
        spec: a camera index (int), a URL, or a file path.
        realtime: a file is played at its own frame rate (each frame released when its timestamp is
            due); without it a file is read as fast as frames are consumed. Cameras and streams always
            run at their own pace.
        fps: the nominal rate (Hz), when the source reports none or a wrong one.
        speed: with ``realtime``, play this many times faster than real time.

    Raises:
        FileNotFoundError: no such file. ValueError: the camera, stream or file cannot be opened (one
        line saying what to try).
    """

    def __init__(self, spec: int | str, *, realtime: bool = False, fps: float | None = None, speed: float = 1.0):
        self.spec, self.name = spec, _describe(spec)
        self.is_file = not isinstance(spec, int) and not str(spec).lower().startswith(_STREAM_PREFIXES)
        if self.is_file and not Path(spec).expanduser().is_file():
            raise FileNotFoundError(f"{spec}: no such video file (a camera is a number, e.g. 0; a stream a URL)")
        self._cap = _quiet_open(spec if isinstance(spec, int) else str(Path(spec).expanduser())
                                if self.is_file else str(spec))
        if not self._cap.isOpened():
            self._cap.release()
            raise ValueError(_cannot_open(spec))
        reported = float(self._cap.get(cv2.CAP_PROP_FPS))
        self.fps_reported = reported if math.isfinite(reported) and reported > 0 else None
        self.fps = check_fs(fps, name="fps") if fps is not None else (self.fps_reported or DEFAULT_CAMERA_FPS)
        self.realtime, self.speed = bool(realtime) and self.is_file, float(speed)
        self.live = self.realtime or not self.is_file

    def frames(self, stop: threading.Event | None = None) -> Iterator[TimedFrame]:
        stop = stop or threading.Event()
        start, index, last_media = time.monotonic(), 0, -math.inf
        while not stop.is_set():
            ok, bgr = self._cap.read()
            if not ok:
                return
            now = time.monotonic()
            media = self._media_time(index, now - start, last_media)
            captured = now
            if self.realtime:
                captured = start + media / self.speed
                if stop.wait(max(0.0, captured - time.monotonic())):
                    return
            last_media = media
            yield TimedFrame(image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index=index, media_s=media,
                             captured_s=captured)
            index += 1

    def _media_time(self, index: int, elapsed_s: float, last_media: float) -> float:
        """A file's presentation time (s), or ``index / fps`` where it is missing or not increasing; the
        capture clock for a camera or stream."""
        if not self.is_file:
            return elapsed_s
        pts = float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1e3
        return pts if math.isfinite(pts) and pts > last_media else index / self.fps

    def close(self) -> None:
        self._cap.release()


def _quiet_open(spec: int | str) -> cv2.VideoCapture:
    """``cv2.VideoCapture(spec)`` without OpenCV's own warnings on stderr (each backend it tries logs one
    when the device does not exist): the caller reports a failure in one line."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        return cv2.VideoCapture(spec)
    finally:
        cv2.utils.logging.setLogLevel(level)


def _cannot_open(spec: int | str) -> str:
    if isinstance(spec, int):
        return (f"camera {spec} cannot be opened: no camera has that index, or another program is using it; "
                "try another index (0 is usually the built-in camera) or a video file")
    return (f"{spec}: OpenCV cannot open this stream or file (wrong address, no network, or an unknown codec); "
            "check that ffplay or VLC can play it")


def open_live_source(spec: int | str, *, realtime: bool = False, fps: float | None = None,
                     speed: float = 1.0) -> CaptureSource:
    """A :class:`CaptureSource`; ``spec`` as a string of digits is a camera index."""
    if isinstance(spec, str) and spec.strip().isdigit():
        spec = int(spec)
    return CaptureSource(spec, realtime=realtime, fps=fps, speed=speed)


class FrameBuffer:
    """A bounded first-in first-out buffer between a capture thread and a slower consumer: when full, the
    oldest frame is dropped (and counted), so the consumer always works on recent frames and memory and
    latency stay bounded; or, with ``drop=False`` (a file read as fast as it is consumed), the producer
    waits for room.

    Args:
        capacity: frames held at most (>= 1).
        drop: drop the oldest frame when full (a live source) rather than wait.
    """

    def __init__(self, capacity: int, *, drop: bool = True):
        if int(capacity) != capacity or capacity < 1:
            raise ValueError(f"capacity must be an integer >= 1 frame, got {capacity!r}")
        self.capacity, self.dropped, self.received, self.drop = int(capacity), 0, 0, bool(drop)
        self._items: deque[TimedFrame] = deque()
        self._cond = threading.Condition()
        self._closed, self._error = False, None

    def put(self, item: TimedFrame, stop: threading.Event | None = None) -> None:
        """Add a frame (dropping the oldest, or waiting for room until ``stop`` is set)."""
        with self._cond:
            while not self.drop and len(self._items) == self.capacity and not (stop and stop.is_set()):
                self._cond.wait(0.1)
            if len(self._items) == self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.received += 1
            self._cond.notify()

    def close(self, error: BaseException | None = None) -> None:
        """No more frames will come (``error``: why the capture failed, raised to the consumer)."""
        with self._cond:
            self._closed, self._error = True, error
            self._cond.notify_all()

    def get(self) -> TimedFrame | None:
        """The oldest frame, waiting for one; None once the buffer is closed and empty."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()  # room for a waiting producer
                return item
            if self._error is not None:
                raise self._error
            return None


class CaptureThread(threading.Thread):
    """Reads ``source`` into ``buffer`` on its own thread until the stream ends or :meth:`stop`."""

    def __init__(self, source: LiveSource, buffer: FrameBuffer):
        super().__init__(name=f"capture {source.name}", daemon=True)
        self.source, self.buffer, self.stop_event = source, buffer, threading.Event()

    def run(self) -> None:
        try:
            for frame in self.source.frames(self.stop_event):
                self.buffer.put(frame, self.stop_event)
        except Exception as err:  # the consumer raises it: a capture error must not pass silently
            self.buffer.close(err)
            return
        self.buffer.close()

    def stop(self) -> None:
        self.stop_event.set()
