"""VIPL-HR (Niu et al. 2019): videos with a 60 Hz BVP wave and, for some sources, frame timestamps.

Layout: ``ROOT/p<i>/v<j>/source<k>/`` with ``video.avi``, ``wave.csv`` (header ``Wave``, BVP at 60 Hz),
``gt_HR.csv`` (header ``HR``, one value per second, optional) and ``time.txt`` (optional: one frame
timestamp in ms per line, for sources whose frame rate varies).

- Subject ids: ``p12/v3/source2`` → subject ``"12"``, session ``"v3-source2"``;
  ``metadata["scenario"]`` is 3 and ``metadata["source"]`` is 2 (filterable, e.g. to drop the NIR
  source 4). The release also holds repeated takes of a scenario in folders such as ``v1-2``: session
  ``"v1-2-source1"``, scenario 1, ``metadata["scenario_folder"]`` ``"v1-2"``.
- ``ROOT`` is the folder of the ``p<i>/`` folders (the release's ``data/``; the error says so when given
  its parent).
- Frames: with ``time.txt``, ``frame_times`` are its timestamps in seconds from the first and ``fps`` the
  mean rate they imply; a count that differs from the container's by more than ``max_frame_mismatch``
  is an error naming both, a smaller difference keeps the shorter count and is recorded in
  ``metadata["frame_count_mismatch"]`` (timestamps minus container frames). Without it, frames are at
  i/fps with the container's fps and ``n_frames`` is the container's count.
- Labels: the wave is resampled from its own clock (i/60 s) to the frame times.
- ``metadata``: ``scenario``, ``scenario_folder``, ``source``, ``label_file``, ``label_fs``, ``hr`` ((M,)
  bpm at 1 Hz, or ``None`` without ``gt_HR.csv``), ``hr_fs``, ``time_file`` (or ``None``), ``width``,
  ``height``.
"""
from __future__ import annotations

import logging
import re
from functools import partial
from pathlib import Path

import numpy as np

from sspd.data.readers.frames import estimate_rate, make_video_source, natural_key, probe_video_times
from sspd.data.readers.loading import PendingRecord
from sspd.data.readers.tables import read_number_lines, read_table
from sspd.data.records import VideoRecord, resample_label
from sspd.signal import check_fs

__all__ = ["scan_vipl", "load_vipl_record", "read_vipl_times"]

log = logging.getLogger(__name__)

_PARTS = re.compile(r"^p(\d+)/(v(\d+)(?:-\d+)?)/source(\d+)$", re.IGNORECASE)


def _ids(folder: Path) -> tuple[str, str, dict[str, object]]:
    """(subject, session, path metadata) of a ``p*/v*/source*`` folder."""
    subject, scenario_folder, scenario, source = _PARTS.match(_relative(folder)).groups()
    return subject, f"{scenario_folder}-source{source}", {"scenario": int(scenario), "source": int(source),
                                                          "scenario_folder": scenario_folder}


def read_vipl_times(path: Path) -> np.ndarray:
    """Parse ``time.txt`` (one timestamp in ms per line) into (T,) seconds from the first frame."""
    rows = read_number_lines(path)
    if any(len(r) != 1 for r in rows):
        raise ValueError(f"{path}: expected one frame timestamp (ms) per line")
    stamps_ms = np.concatenate(rows)  # (T,)
    if np.any(np.diff(stamps_ms) <= 0):
        bad = int(np.flatnonzero(np.diff(stamps_ms) <= 0)[0]) + 1
        raise ValueError(f"{path}: frame timestamps are not strictly increasing at line {bad + 1}")
    return (stamps_ms - stamps_ms[0]) / 1000.0


def _frame_times(folder: Path, video: Path, *, max_frame_mismatch: int) -> tuple:
    """(video info, fps, (T,) frame times, the time.txt used or None, timestamps minus container frames)."""
    info, fps, frame_times = probe_video_times(video)
    time_file = folder / "time.txt"
    if not time_file.is_file():
        return info, fps, frame_times, None, 0
    stamps = read_vipl_times(time_file)
    mismatch = len(stamps) - info.n_frames
    if abs(mismatch) > max_frame_mismatch:
        raise ValueError(f"{time_file}: {len(stamps)} timestamps but {video} has {info.n_frames} frames "
                         f"(more than {max_frame_mismatch} apart); the two do not belong together")
    if mismatch:
        log.info("%s: %d timestamps for %d frames; keeping %d", time_file, len(stamps), info.n_frames,
                 min(len(stamps), info.n_frames))
    stamps = stamps[:info.n_frames]
    return info, estimate_rate(stamps), stamps, time_file, mismatch


def _named_or_first(path: Path, name: str) -> np.ndarray:
    table = read_table(path)
    return table.column(name if table.columns is not None else 0)


def load_vipl_record(folder: Path, *, wave_fs: float = 60.0, label_tolerance_s: float = 0.5,
                     max_frame_mismatch: int = 3) -> VideoRecord:
    """Load one ``p*/v*/source*`` folder (see the module docstring)."""
    wave_path, hr_path = folder / "wave.csv", folder / "gt_HR.csv"
    if not wave_path.is_file():
        raise FileNotFoundError(f"{wave_path}: no ground truth (wave.csv with the 60 Hz BVP) for this video")
    info, fps, frame_times, time_file, mismatch = _frame_times(folder, folder / "video.avi",
                                                               max_frame_mismatch=max_frame_mismatch)
    wave = _named_or_first(wave_path, "Wave")  # (N,)
    ppg = resample_label(np.arange(wave.size) / wave_fs, wave, frame_times, source=wave_path,
                         tolerance_s=label_tolerance_s)
    hr = _named_or_first(hr_path, "HR") if hr_path.is_file() else None
    subject, session, ids = _ids(folder)
    metadata = {**ids, "label_file": wave_path, "label_fs": float(wave_fs), "hr": hr, "hr_fs": 1.0,
                "time_file": time_file, "frame_count_mismatch": mismatch, "width": info.width,
                "height": info.height}
    return VideoRecord(subject=subject, session=session, fps=fps,
                       frame_times=frame_times, ppg=ppg, source=info.path,
                       frames=make_video_source(info.path), metadata=metadata)


def _relative(folder: Path) -> str:
    return "/".join(folder.parts[-3:])


def scan_vipl(root: Path, *, wave_fs: float = 60.0, label_tolerance_s: float = 0.5,
              max_frame_mismatch: int = 3) -> list[PendingRecord]:
    """Find the ``p*/v*/source*`` folders of a VIPL-HR copy.

    Args:
        root: the folder holding ``p<i>/``.
        wave_fs: the sample rate of ``wave.csv`` (60 Hz in VIPL-HR).
        label_tolerance_s: how much of the video the label may leave uncovered at either end.
        max_frame_mismatch: how many frames ``time.txt`` and the container may disagree by.
    """
    check_fs(wave_fs, name="wave_fs")
    folders = sorted((p for p in root.glob("p*/v*/source*") if p.is_dir() and _PARTS.match(_relative(p))),
                     key=lambda p: natural_key(_relative(p)))
    if not folders:
        hint = f" ({root / 'data'} holds them: pass that folder)" if any((root / "data").glob("p*/v*/source*")) else ""
        raise ValueError(f"{root}: no p<i>/v<j>/source<k>/ folders found under this folder: is this VIPL-HR?{hint}")
    load = partial(load_vipl_record, wave_fs=wave_fs, label_tolerance_s=label_tolerance_s,
                   max_frame_mismatch=max_frame_mismatch)
    pending = []
    for folder in folders:
        subject, session, ids = _ids(folder)
        pending.append(PendingRecord(subject=subject, session=session, source=folder, load=partial(load, folder),
                                     metadata=ids))
    return pending
