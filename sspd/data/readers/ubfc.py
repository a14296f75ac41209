"""UBFC-rPPG (Bobbia et al. 2019): DATASET_2 and DATASET_1, told apart per subject folder.

Layout: ``ROOT/<folder>/vid.avi`` with ``ground_truth.txt`` (DATASET_2) or ``gtdump.xmp`` (DATASET_1).
A folder holding the video or either label file is a subject; any other folder is ignored.

- Subject ids: ``subject12`` → ``"12"`` (the digits as written after ``subject``); any other folder name
  (DATASET_1 names such as ``5-gt``) is kept whole. ``session`` is ``""``.
- Frames: ``n_frames`` is the container's count, ``frame_times`` are i/fps with the container's fps.
- DATASET_2 ``ground_truth.txt``: three lines of equal length, PPG, HR (bpm), timestamps (s). The
  timestamps are on the video's clock and are used as given; the PPG and HR are resampled to the frame
  times by them (never one sample per frame: the oximeter rate is close to, not equal to, the video's).
- DATASET_1 ``gtdump.xmp``: CSV rows of timestamp (ms), HR (bpm), SpO2 (%), PPG. The timestamps are
  taken relative to the first row (the log starts with the video; its clock origin is arbitrary).
- ``metadata``: ``layout`` (``"DATASET_2"``/``"DATASET_1"``), ``label_file``, ``label_fs`` (Hz, the
  mean label rate), ``hr`` ((T,) bpm at the frame times), ``spo2`` ((T,) %, DATASET_1 only), ``width``,
  ``height``.
"""
from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import numpy as np

from sspd.data.readers.frames import estimate_rate, make_video_source, natural_key, probe_video_times
from sspd.data.readers.loading import PendingRecord
from sspd.data.readers.tables import read_number_lines, read_table
from sspd.data.records import VideoRecord, resample_label

__all__ = ["scan_ubfc", "load_ubfc_record", "read_ubfc2_label", "read_ubfc1_label"]

GT_DATASET_2 = "ground_truth.txt"
GT_DATASET_1 = "gtdump.xmp"
_VERSIONS = {"auto": "auto", "2": GT_DATASET_2, "1": GT_DATASET_1}
_SUBJECT = re.compile(r"^subject[_-]?(\d+)$", re.IGNORECASE)


def _subject_id(folder_name: str) -> str:
    """``subject12`` → ``"12"``; other names unchanged."""
    match = _SUBJECT.match(folder_name)
    return match.group(1) if match else folder_name


def read_ubfc2_label(path: Path) -> dict[str, np.ndarray]:
    """Parse DATASET_2 ``ground_truth.txt`` into (N,) arrays ``times`` (s), ``ppg`` and ``hr``."""
    rows = read_number_lines(path)
    if len(rows) != 3:
        raise ValueError(f"{path}: expected 3 lines (PPG, HR, timestamps in s) but found {len(rows)} "
                         "non-empty lines; is this a UBFC-rPPG DATASET_2 ground truth?")
    ppg, hr, times = rows
    if not len(ppg) == len(hr) == len(times):
        raise ValueError(f"{path}: the three lines must have equal length, found PPG {len(ppg)}, "
                         f"HR {len(hr)}, timestamps {len(times)} values; the file is truncated")
    return {"times": times, "ppg": ppg, "hr": hr}


def read_ubfc1_label(path: Path) -> dict[str, np.ndarray]:
    """Parse DATASET_1 ``gtdump.xmp`` into (N,) arrays ``times`` (s from the first row), ``ppg``,
    ``hr`` and ``spo2``."""
    table = read_table(path, header=None)
    if table.values.shape[1] < 4:
        raise ValueError(f"{path}: expected 4 columns (timestamp ms, HR, SpO2, PPG) but found "
                         f"{table.values.shape[1]}; is this a UBFC-rPPG DATASET_1 gtdump.xmp?")
    stamps_ms = table.values[:, 0]
    return {"times": (stamps_ms - stamps_ms[0]) / 1000.0, "hr": table.values[:, 1],
            "spo2": table.values[:, 2], "ppg": table.values[:, 3]}


def _find_label(folder: Path, version: str) -> Path:
    names = [GT_DATASET_2, GT_DATASET_1] if version == "auto" else [_VERSIONS[version]]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    expected = " or ".join(str(folder / n) for n in names)
    raise FileNotFoundError(f"{folder}: no ground truth: expected {expected}")


def load_ubfc_record(folder: Path, *, version: str = "auto", video_name: str = "vid.avi",
                     label_tolerance_s: float = 0.5) -> VideoRecord:
    """Load one subject folder: probe the video, read and align its label (see the module docstring)."""
    label_path = _find_label(folder, version)
    info, fps, frame_times = probe_video_times(folder / video_name)
    is_v2 = label_path.name == GT_DATASET_2
    label = read_ubfc2_label(label_path) if is_v2 else read_ubfc1_label(label_path)
    align = partial(resample_label, label["times"], frame_times=frame_times, source=label_path,
                    tolerance_s=label_tolerance_s)
    metadata = {"layout": "DATASET_2" if is_v2 else "DATASET_1", "label_file": label_path,
                "label_fs": estimate_rate(label["times"]), "hr": align(label["hr"]),
                "width": info.width, "height": info.height}
    if not is_v2:
        metadata["spo2"] = align(label["spo2"])
    return VideoRecord(subject=_subject_id(folder.name), session="", fps=fps, frame_times=frame_times,
                       ppg=align(label["ppg"]), source=info.path, frames=make_video_source(info.path),
                       metadata=metadata)


def _subject_folders(root: Path, video_name: str) -> list[Path]:
    markers = (video_name, GT_DATASET_2, GT_DATASET_1)
    folders = [p for p in root.iterdir() if p.is_dir() and any((p / m).exists() for m in markers)]
    if not folders:
        hint = (f" ({root} itself holds {video_name}: pass its parent folder)"
                if (root / video_name).exists() else "")
        raise ValueError(f"{root}: no subject*/{video_name} with {GT_DATASET_2} or {GT_DATASET_1} found "
                         f"under this folder: is this UBFC-rPPG (DATASET_2 or DATASET_1)?{hint}")
    return sorted(folders, key=lambda p: natural_key(p.name))


def scan_ubfc(root: Path, *, version: str | int = "auto", video_name: str = "vid.avi",
              label_tolerance_s: float = 0.5) -> list[PendingRecord]:
    """Find the subject folders of a UBFC-rPPG copy.

    Args:
        root: the folder holding ``subject*/`` (DATASET_2) or the DATASET_1 folders.
        version: ``"auto"`` (per folder: ``ground_truth.txt`` if present, else ``gtdump.xmp``),
            ``2`` or ``1``.
        video_name: the video file in each folder.
        label_tolerance_s: how much of the video the label may leave uncovered at either end.
    """
    version = str(version).lower().removeprefix("dataset_")
    if version not in _VERSIONS:
        raise ValueError(f"version must be 'auto', 2 or 1 (UBFC-rPPG DATASET_2/DATASET_1), got {version!r}")
    load = partial(load_ubfc_record, version=version, video_name=video_name,
                   label_tolerance_s=label_tolerance_s)
    return [PendingRecord(subject=_subject_id(f.name), session="", source=f, load=partial(load, f))
            for f in _subject_folders(root, video_name)]
