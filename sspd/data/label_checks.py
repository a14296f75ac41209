"""Sanity checks of a dataset's label against its video, so a plainly wrong label is never scored as truth.

Each check names the label file and says what to fix:

- :func:`check_label_timing`: the label's sample rate is far below what a pulse needs (a 1 Hz CSV, or
  times in ms read as s), or its time span is far longer than the video's (another unit, another video);
- :func:`check_label_pulse`: the label is constant (no pulse: a disconnected sensor, a placeholder file).
  This one only warns and marks the record (``metadata["label_has_pulse"] = False``): synthetic negative
  clips carry a zero label on purpose, and evaluation refuses a constant reference window anyway.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

__all__ = ["MIN_LABEL_RATE_HZ", "check_label_timing", "check_label_pulse"]

log = logging.getLogger(__name__)

#: A PPG sampled below this rate cannot show a pulse of the heart-rate band (up to 240 bpm = 4 Hz needs
#: 8 Hz); a video slower than twice this rate lowers the bar to half its frame rate.
MIN_LABEL_RATE_HZ = 8.0
#: A label may run past the video (a sensor started early), but not by more than this factor plus
#: :data:`_SPAN_SLACK_S` seconds.
_SPAN_FACTOR = 2.0
_SPAN_SLACK_S = 60.0


def _rate(times: np.ndarray) -> float:
    """The median sample rate (Hz) of increasing timestamps; inf for fewer than 2."""
    steps = np.diff(times)
    return float(1.0 / np.median(steps)) if steps.size else float("inf")


def check_label_timing(label_times: np.ndarray, frame_times: np.ndarray, *, source: str | Path) -> None:
    """Raise ValueError when the label's timestamps cannot belong to this video's pulse.

    Args:
        label_times: (N,) increasing seconds of the label samples.
        frame_times: (T,) seconds of the video's frames (same clock).
        source: the label file, named in the message.
    """
    label_times = np.asarray(label_times, dtype=np.float64).ravel()
    frame_times = np.asarray(frame_times, dtype=np.float64).ravel()
    if label_times.size < 2 or frame_times.size < 2:
        return
    label_rate, frame_rate = _rate(label_times), _rate(frame_times)
    needed = min(MIN_LABEL_RATE_HZ, 0.5 * frame_rate)
    if label_rate < needed:
        raise ValueError(f"{source}: the label is sampled at {label_rate:.3g} Hz, far below the video's "
                         f"{frame_rate:.3g} fps; a PPG needs at least {needed:.3g} Hz to show a pulse. Check the "
                         "time column's unit (e.g. time_unit='ms' for milliseconds) or that this is a PPG file")
    label_span, video_span = label_times[-1] - label_times[0], frame_times[-1] - frame_times[0]
    if label_span > _SPAN_FACTOR * video_span + _SPAN_SLACK_S:
        raise ValueError(f"{source}: the label spans {label_span:.4g} s but the video {video_span:.4g} s; "
                         "check the time column's unit (e.g. time_unit='ms') or that the label belongs to "
                         "this video")


def check_label_pulse(ppg: np.ndarray, *, source: str | Path) -> bool:
    """Whether the (T,) label aligned to the frames varies; a constant one is logged as a warning naming
    ``source`` (it has no pulse, and evaluating against it raises)."""
    ppg = np.asarray(ppg, dtype=np.float64).ravel()
    if ppg.size and np.ptp(ppg) > 1e-12 * np.max(np.abs(ppg)):
        return True
    log.warning("%s: the label is constant (%d samples of %g): it holds no pulse, so no heart rate can be "
                "scored against it; fix or drop this file", source, ppg.size, ppg[0] if ppg.size else float("nan"))
    return False
