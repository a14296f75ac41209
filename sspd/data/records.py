"""The record every dataset reader yields, and label alignment by timestamps."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from sspd.data.label_checks import check_label_timing

__all__ = ["VideoRecord", "resample_label", "safe_name"]

FrameSource = Callable[[], Iterator[np.ndarray]]


def safe_name(subject: str, session: str = "") -> str:
    """The cache-folder name of a subject/session: ``<subject>`` or ``<subject>_<session>``, made safe.

    Characters other than letters, digits, ``-``, ``_`` and ``.`` (path separators included) become
    ``-``, and leading dots become ``_`` (a dot-folder would be hidden, and skipped when the cache is
    read back). Names that equal ``.`` or ``..`` or are empty are refused: they name no folder of
    their own.

    Raises:
        ValueError: the name is empty, ``.`` or ``..`` (the message says to rename the file).
    """
    raw = f"{subject}_{session}" if session else str(subject)
    if raw.strip() in ("", ".", ".."):
        raise ValueError(f"the video name {raw!r} (subject {subject!r}, session {session!r}) cannot name a "
                         "cache folder: rename the video or its folder to a name with a letter or digit")
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in raw)
    stripped = name.lstrip(".")
    return "_" * (len(name) - len(stripped)) + stripped


@dataclass
class VideoRecord:
    """One video of one subject/session with its label aligned to the frames.

    Attributes:
        subject: subject identifier as the dataset names it (e.g. ``"subject12"`` → ``"12"`` is the
            reader's choice, documented per reader); splits are made on it.
        session: session/setup/task within the subject (``""`` when the format has none).
        fps: nominal frame rate in Hz (the mean rate implied by ``frame_times`` when timestamps exist).
        frame_times: (T,) seconds of each frame, starting at 0.
        ppg: (T,) float64 label resampled to ``frame_times``; never NaN. ``None`` for an unlabeled video
            (the ``videos`` reader, or ``generic`` with ``missing_labels="unlabeled"``): self-supervised
            pretraining needs no label; commands that score against labels refuse such records.
        source: the video file or frame folder the frames come from (what error messages name).
        frames: a callable returning a fresh iterator of H×W×3 uint8 RGB frames, in order, lazily.
        metadata: format-specific extras (HR from the oximeter, lighting, motion, label file, ...).
    """

    subject: str
    session: str
    fps: float
    frame_times: np.ndarray
    ppg: np.ndarray | None
    source: Path
    frames: FrameSource = field(repr=False)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(len(self.frame_times))

    @property
    def labelled(self) -> bool:
        """Whether the record carries a label (``ppg`` is not None)."""
        return self.ppg is not None

    @property
    def name(self) -> str:
        """A filesystem-safe name: ``<subject>`` or ``<subject>_<session>`` (see :func:`safe_name`, which
        raises ValueError for a name that is empty, ``.`` or ``..``)."""
        return safe_name(self.subject, self.session)

    def read_frames(self) -> Iterator[np.ndarray]:
        """Yield the frames as H×W×3 uint8 RGB arrays, one at a time."""
        return self.frames()


def resample_label(label_times: np.ndarray, label: np.ndarray, frame_times: np.ndarray, *,
                   source: str | Path = "label", tolerance_s: float = 0.5) -> np.ndarray:
    """Resample a label to frame times by linear interpolation on timestamps.

    Args:
        label_times: (N,) seconds of the label samples, on the same clock as ``frame_times``.
        label: (N,) label values.
        frame_times: (T,) seconds of the frames.
        source: what to name in error messages (the label file).
        tolerance_s: how far the frames may extend beyond the label's first/last sample (held
            constant there) before the label counts as not covering the video.

    Returns:
        (T,) float64 label at the frame times.

    Raises:
        ValueError: NaN/inf in the label, times not increasing, fewer than 2 samples, a label sampled
            too slowly for a pulse or spanning far more than the video
            (:func:`sspd.data.label_checks.check_label_timing`), or a label that does not cover the frames
            within ``tolerance_s``.
    """
    label_times = np.asarray(label_times, dtype=np.float64).ravel()
    label = np.asarray(label, dtype=np.float64).ravel()
    frame_times = np.asarray(frame_times, dtype=np.float64).ravel()
    if label_times.shape != label.shape:
        raise ValueError(f"{source}: {label.size} label values but {label_times.size} timestamps")
    if label.size < 2:
        raise ValueError(f"{source}: the label has {label.size} samples; at least 2 are needed")
    if not (np.isfinite(label).all() and np.isfinite(label_times).all()):
        bad = int(np.flatnonzero(~(np.isfinite(label) & np.isfinite(label_times)))[0])
        raise ValueError(f"{source}: NaN or inf in the label at sample {bad}; fix or drop this file")
    if np.any(np.diff(label_times) <= 0):
        bad = int(np.flatnonzero(np.diff(label_times) <= 0)[0]) + 1
        raise ValueError(f"{source}: label timestamps are not strictly increasing at sample {bad}")
    check_label_timing(label_times, frame_times, source=source)  # a rate or span no pulse label has
    missing_start = label_times[0] - frame_times[0]
    missing_end = frame_times[-1] - label_times[-1]
    if max(missing_start, missing_end) > tolerance_s:
        raise ValueError(
            f"{source}: the label covers {label_times[0]:.2f}-{label_times[-1]:.2f} s but the video "
            f"spans {frame_times[0]:.2f}-{frame_times[-1]:.2f} s (more than {tolerance_s} s uncovered); "
            "the label is truncated or belongs to another video")
    return np.interp(frame_times, label_times, label)
