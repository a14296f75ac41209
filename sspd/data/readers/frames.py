"""Frame sources shared by the readers: image folders, and videos with their frame times.

Every source here is a :func:`functools.partial` of a module-level function, so records pickle and can
be sent to worker processes (the preprocessing cache decodes videos in a pool).
"""
from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from sspd.data.video import VideoInfo, probe_video, read_video_frames
from sspd.signal import check_fs

__all__ = ["IMAGE_SUFFIXES", "natural_key", "list_image_files", "read_image_frames", "make_image_source",
           "make_video_source", "probe_first_image", "probe_video_times", "estimate_rate"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders ``frame2`` before ``frame10`` (numbers compared as numbers)."""
    return tuple(int(part) if part.isdigit() else part.casefold() for part in _DIGITS.split(name))


def list_image_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` in natural order.

    Raises:
        FileNotFoundError: no such folder. ValueError: the folder holds no image file.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such frame folder")
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise ValueError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this frame folder")
    return files


def _read_image(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: OpenCV cannot read this image (missing, corrupt or unknown format)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def probe_first_image(path: Path) -> tuple[int, int]:
    """Decode one image and return its (height, width); raises ValueError naming it if unreadable."""
    height, width = _read_image(path).shape[:2]
    return height, width


def read_image_frames(paths: Sequence[Path]) -> Iterator[np.ndarray]:
    """Yield each image as an H×W×3 uint8 RGB frame, one at a time; all must have the first's size."""
    size = None
    for path in paths:
        frame = _read_image(Path(path))
        if size is None:
            size = frame.shape
        elif frame.shape != size:
            raise ValueError(f"{path}: the frame is {frame.shape[1]}×{frame.shape[0]} but the first frame "
                             f"of this folder is {size[1]}×{size[0]}")
        yield frame


def make_image_source(paths: Sequence[Path]) -> partial:
    """A picklable ``frames`` callable for :class:`~sspd.data.records.VideoRecord` over image files."""
    return partial(read_image_frames, tuple(Path(p) for p in paths))


def make_video_source(path: Path) -> partial:
    """A picklable ``frames`` callable streaming a video file."""
    return partial(read_video_frames, Path(path))


def probe_video_times(path: Path, *, fps: float | None = None) -> tuple[VideoInfo, float, np.ndarray]:
    """Probe a video and return (info, fps, frame_times) with frames at i/fps.

    ``n_frames`` is the container's count (cheap; some codecs report it inexactly, and the preprocessor
    records any difference when it decodes). ``fps`` overrides the container's rate when given.
    """
    info = probe_video(path)
    rate = check_fs(info.fps if fps is None else fps, name=f"{path}: fps")
    return info, rate, np.arange(info.n_frames, dtype=np.float64) / rate  # (T,)


def estimate_rate(times: np.ndarray) -> float:
    """The mean sample rate (Hz) of (N,) increasing timestamps in seconds; NaN for fewer than 2."""
    span = float(times[-1] - times[0]) if len(times) > 1 else 0.0
    return (len(times) - 1) / span if span > 0 else float("nan")
