"""When each frame of a video was taken, and the uniform grid the HR estimators need.

Phones record variable frame rate: frame intervals that differ by tens of percent. The spectral HR
estimators assume equal spacing, so a trace whose frame times vary by more than 1 % of the mean interval
(beyond the 1 ms rounding of common container time bases) is resampled, by linear interpolation, to
a uniform grid at the mean rate before any HR is measured.

Frame times come from the stream: each frame's own presentation timestamp, read by PyAV from the
stream's packets (:func:`sspd.data.video.stream_timing`), else OpenCV's ``CAP_PROP_POS_MSEC`` as the frame
is decoded. Whether frames are missing is judged from the time they cover against the stream's duration,
not from a count derived from the nominal rate. Where they
are missing or unusable (not increasing, not finite), or for an image folder, or when the user gives
the rate, frames are taken as equally spaced at the nominal rate, and the timing says so.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["FrameTiming", "resolve_timing", "JITTER_TOLERANCE", "TIMEBASE_ROUNDING_S"]

#: Intervals may differ from their mean by this fraction (plus the rounding below) and count as equal.
JITTER_TOLERANCE = 0.01
#: Container time bases in milliseconds round each timestamp by up to 1 ms: not a frame-rate change.
TIMEBASE_ROUNDING_S = 1e-3


@dataclass(frozen=True)
class FrameTiming:
    """How the frames were timed.

    Attributes:
        source: ``"container timestamps"`` or ``"equal spacing"`` (and why, in ``note``).
        fps: the rate of the signal the HR is measured on (the mean rate of the timestamps, or nominal).
        resampled: the trace was interpolated to a uniform grid at ``fps``.
        interval_ms: (min, median, max) frame interval in ms of the decoded frames.
        note: why equal spacing was assumed ('' when the timestamps were used).
    """

    source: str
    fps: float
    resampled: bool
    interval_ms: tuple[float, float, float]
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _intervals_ms(times_s: np.ndarray) -> tuple[float, float, float]:
    if times_s.size < 2:
        return (float("nan"),) * 3
    diffs = np.diff(times_s) * 1e3  # (T-1,) ms
    return float(diffs.min()), float(np.median(diffs)), float(diffs.max())


def _unusable(times_s: np.ndarray | None, n_frames: int) -> str:
    """Why container times cannot be used ('' when they can)."""
    if times_s is None:
        return "no frame timestamps"
    if times_s.size != n_frames:
        return f"{times_s.size} timestamps for {n_frames} frames"
    if n_frames < 2:
        return "a single frame"
    if not np.isfinite(times_s).all() or np.any(np.diff(times_s) <= 0):
        return "the container's timestamps are not strictly increasing"
    return ""


def resolve_timing(signal: np.ndarray, times_s: np.ndarray | None, nominal_fps: float, *,
                   fps_given: bool = False) -> tuple[np.ndarray, np.ndarray, FrameTiming]:
    """The signal on a uniform grid, that grid's frame times and how they were obtained.

    Args:
        signal: (T,) the method's output, one value per decoded frame.
        times_s: (T,) the frames' presentation times in seconds (any origin), or None.
        nominal_fps: the container's (or the user's) rate, used for equal spacing.
        fps_given: the user gave the rate: equal spacing at it, timestamps ignored.

    Returns:
        (T,) signal, (T,) frame times from 0 at the returned ``timing.fps``, and the :class:`FrameTiming`.
    """
    n = signal.size
    reason = "the frame rate was given (--fps)" if fps_given else _unusable(times_s, n)
    if reason:
        grid = np.arange(n) / nominal_fps
        return signal, grid, FrameTiming("equal spacing", float(nominal_fps), False, _intervals_ms(grid), reason)
    times = np.asarray(times_s, dtype=np.float64) - times_s[0]  # (T,) s from frame 0
    fps = (n - 1) / times[-1]  # the mean rate
    grid = np.arange(n) / fps  # (T,) uniform, same span
    spread = np.max(np.abs(np.diff(times) - 1 / fps))
    resample = bool(spread > JITTER_TOLERANCE / fps + TIMEBASE_ROUNDING_S)
    if not resample and abs(fps - nominal_fps) <= JITTER_TOLERANCE * nominal_fps:
        fps, grid = float(nominal_fps), np.arange(n) / nominal_fps  # the timestamps confirm the stated rate
    out = np.interp(grid, times, signal) if resample else signal
    return out, grid, FrameTiming("container timestamps", float(fps), resample, _intervals_ms(times))
