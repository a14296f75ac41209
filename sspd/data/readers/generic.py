"""Generic layout: any video (or folder of images) plus a CSV with a time column and a PPG column.

This is how a user brings a dataset we do not know. Two ways to point at the data:

- One pair: ``video=`` (a video file or an image folder) and ``labels=`` (the CSV), each absolute or
  relative to ``root``. ``root`` may also be the video file itself, with ``labels=``.
- A folder of pairs matched by stem: ``ROOT/<stem>.csv`` labels ``ROOT/<stem>.<ext>`` (a video: .avi,
  .mp4, .mkv, .mov, .m4v, .mpg, .mpeg, .wmv, .webm) or ``ROOT/<stem>/`` (a folder of images). A video
  or image folder without a CSV, a CSV without a video, or a stem with two videos is a failure naming
  the files, never skipped. With ``missing_labels="unlabeled"`` a video or image folder without a CSV
  becomes an unlabeled record instead (``ppg`` is ``None``: self-supervised pretraining uses it, scoring
  against labels refuses it); a CSV without a video stays a failure. A folder of videos with no label at
  all is the ``videos`` layout.

The CSV needs a header line naming its columns (comma, semicolon, tab or space separated):
``time_column`` holds the label time on the video's clock (frame 0 at time 0, frames at i/fps) in
``time_unit``, ``ppg_column`` the PPG; names are matched without case, or give 0-based indices. With
``relative_time=True`` the first label time is taken as 0 (for logs with an absolute clock that start
with the video). ``time_column=None`` declares one label row per frame.

- Subject ids: the stem (file stem or folder name); ``session`` is ``""``.
- Frames: videos give ``n_frames`` from the container and frames at i/fps (``fps=`` overrides the
  container's rate); image folders are read in natural order (``frame2`` before ``frame10``) and need
  ``fps=``.
- ``metadata``: ``label_file``, ``label_fs``, ``width``, ``height``.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from sspd.data.readers.frames import (estimate_rate, list_image_files, make_image_source, make_video_source,
                                      natural_key, probe_first_image, probe_video_times)
from sspd.data.readers.loading import PendingRecord
from sspd.data.readers.tables import Table, read_table
from sspd.data.records import VideoRecord, resample_label
from sspd.signal import check_fs

__all__ = ["VIDEO_SUFFIXES", "TIME_UNITS", "MISSING_LABELS", "scan_generic", "load_generic_record"]

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
#: What a video without its label CSV becomes: a failure naming the CSV, or an unlabeled record.
MISSING_LABELS = ("error", "unlabeled")


def _frames(video: Path, fps: float | None) -> tuple[float, np.ndarray, object, dict]:
    """(fps, (T,) frame times, frames source, size metadata) for a video file or an image folder."""
    if video.is_dir():
        files = list_image_files(video)
        if fps is None:
            raise ValueError(f"{video}: an image folder carries no frame rate; pass fps= (Hz)")
        height, width = probe_first_image(files[0])
        times = np.arange(len(files), dtype=np.float64) / fps  # (T,)
        return float(fps), times, make_image_source(files), {"width": width, "height": height}
    info, rate, times = probe_video_times(video, fps=fps)
    return rate, times, make_video_source(info.path), {"width": info.width, "height": info.height}


def _label_times(table: Table, time_column: str | int | None, *, fps: float, time_unit: str,
                 relative_time: bool) -> np.ndarray:
    if time_column is None:
        return np.arange(table.values.shape[0], dtype=np.float64) / fps  # one row per frame
    times = table.column(time_column) * TIME_UNITS[time_unit]  # (N,) s
    return times - times[0] if relative_time else times


def load_generic_record(video: Path, labels: Path, *, time_column: str | int | None = "time",
                        ppg_column: str | int = "ppg", fps: float | None = None, time_unit: str = "s",
                        relative_time: bool = False, label_tolerance_s: float = 0.5,
                        missing_labels: str = "error") -> VideoRecord:
    """Load one video (or image folder) and its label CSV (see the module docstring)."""
    if not video.exists():
        raise FileNotFoundError(f"{video}: no such video file or image folder (labelled by {labels})")
    if not labels.is_file():
        if missing_labels == "unlabeled":
            rate, frame_times, frames, size = _frames(video, fps)
            return VideoRecord(subject=_stem(video), session="", fps=rate, frame_times=frame_times, ppg=None,
                               source=video, frames=frames, metadata=size)
        raise FileNotFoundError(f"{labels}: no such label CSV for {video} (pass missing_labels=unlabeled to "
                                "keep videos without labels for self-supervised pretraining)")
    rate, frame_times, frames, size = _frames(video, fps)
    table = read_table(labels)
    label_times = _label_times(table, time_column, fps=rate, time_unit=time_unit, relative_time=relative_time)
    ppg = resample_label(label_times, table.column(ppg_column), frame_times, source=labels,
                         tolerance_s=label_tolerance_s)
    metadata = {"label_file": labels, "label_fs": estimate_rate(label_times), **size}
    return VideoRecord(subject=_stem(video), session="", fps=rate,
                       frame_times=frame_times, ppg=ppg, source=video, frames=frames, metadata=metadata)


def _pair_stems(root: Path) -> dict[str, dict[str, list[Path]]]:
    """stem -> {"video": [paths], "labels": [paths]} for everything under ``root`` that looks like either."""
    found: dict[str, dict[str, list[Path]]] = {}
    for path in sorted(root.iterdir()):
        if path.is_file() and path.suffix.lower() == ".csv":
            found.setdefault(path.stem, {}).setdefault("labels", []).append(path)
        elif path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            found.setdefault(path.stem, {}).setdefault("video", []).append(path)
        elif path.is_dir() and ((root / f"{path.name}.csv").is_file() or _has_images(path)):
            found.setdefault(path.name, {}).setdefault("video", []).append(path)
    return found


def _raise_ambiguous(stem: str, videos: list[Path]) -> VideoRecord:
    raise ValueError(f"{videos[0].parent}: {', '.join(p.name for p in videos)} all match {stem}.csv; "
                     "rename all but one, or pass video= and labels=")


def _pending_pair(stem: str, parts: dict[str, list[Path]], root: Path, load: partial) -> PendingRecord:
    videos = parts.get("video", [_missing(stem, parts, root)])
    labels = parts.get("labels", [_missing(stem, parts, root)])
    if len(videos) > 1:
        pair_load = partial(_raise_ambiguous, stem, videos)
    else:
        pair_load = partial(load, videos[0], labels[0])
    return PendingRecord(subject=stem, session="", source=videos[0] if "video" in parts else labels[0],
                         load=pair_load)


def _has_images(folder: Path) -> bool:
    try:
        list_image_files(folder)
    except ValueError:
        return False
    return True


def _missing(stem: str, parts: dict[str, list[Path]], root: Path) -> Path:
    """A stand-in path for the missing half of a pair, so the failure names it."""
    if "labels" not in parts:
        return root / f"{stem}.csv"
    return root / f"{stem}.<{'|'.join(s.lstrip('.') for s in VIDEO_SUFFIXES)}>"


def _stem(video: Path) -> str:
    """The subject id of a video file (its stem) or image folder (its name)."""
    return video.name if video.is_dir() else video.stem


def _resolve(root: Path, path: str | Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else root / path


def scan_generic(root: Path, *, video: str | Path | None = None, labels: str | Path | None = None,
                 time_column: str | int | None = "time", ppg_column: str | int = "ppg",
                 fps: float | None = None, time_unit: str = "s", relative_time: bool = False,
                 label_tolerance_s: float = 0.5, missing_labels: str = "error") -> list[PendingRecord]:
    """Find the video/label pairs of a generic dataset (see the module docstring for the two modes).

    Args:
        root: a folder of ``<stem>.csv`` + ``<stem>.<video ext>`` or ``<stem>/`` pairs; or, with
            ``labels=``, a video file; or the folder ``video=`` and ``labels=`` are relative to.
        video, labels: one explicit pair (both or neither; ``labels`` alone when ``root`` is the video).
        time_column, ppg_column: CSV column names (or 0-based indices); ``time_column=None`` means one
            label row per frame.
        fps: frame rate for image folders, or to override a video container's.
        time_unit: unit of the time column: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``.
        relative_time: take the first label time as 0.
        label_tolerance_s: how much of the video the label may leave uncovered at either end.
        missing_labels: ``"error"`` (a video without its CSV is a failure) or ``"unlabeled"`` (it becomes
            an unlabeled record).
    """
    if missing_labels not in MISSING_LABELS:
        raise ValueError(f"missing_labels must be one of {MISSING_LABELS}, got {missing_labels!r}")
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {sorted(TIME_UNITS)}, got {time_unit!r}")
    if fps is not None:
        check_fs(fps, name="fps")
    load = partial(load_generic_record, time_column=time_column, ppg_column=ppg_column, fps=fps,
                   time_unit=time_unit, relative_time=relative_time, label_tolerance_s=label_tolerance_s,
                   missing_labels=missing_labels)
    if video is not None or labels is not None or root.is_file():
        return [_explicit_pair(root, video, labels, load)]
    pairs = sorted(_pair_stems(root).items(), key=lambda item: natural_key(item[0]))
    if not pairs:
        raise ValueError(f"{root}: no <stem>.csv with a <stem> video or image folder found under this "
                         "folder; for the generic layout put each video next to a CSV of the same stem, "
                         "or pass video= and labels=")
    return [_pending_pair(stem, parts, root, load) for stem, parts in pairs]


def _explicit_pair(root: Path, video: str | Path | None, labels: str | Path | None, load: partial
                   ) -> PendingRecord:
    if labels is None:
        raise ValueError("the generic layout needs labels= (the CSV) with video= or a video root")
    video_path = root if video is None else _resolve(root, video)
    if video is None and not root.is_file():
        raise ValueError(f"{root}: not a video file; pass video= (a video file or image folder) with labels=")
    labels_path = _resolve(root if root.is_dir() else root.parent, labels)
    return PendingRecord(subject=_stem(video_path), session="", source=video_path,
                         load=partial(load, video_path, labels_path))
