"""UBFC-rPPG (Bobbia et al. 2019): DATASET_2 and DATASET_1, told apart per subject folder.

Layout: ``ROOT/<folder>/vid.avi`` with ``ground_truth.txt`` (DATASET_2) or ``gtdump.xmp`` (DATASET_1).
A folder holding the video or either label file is a subject; any other folder is ignored.

- Subject ids: ``subject12`` → ``"12"`` (the digits as written after ``subject``); any other folder name
  (DATASET_1 names such as ``5-gt``) is kept whole. ``session`` is ``""``.
- Frames: ``n_frames`` is the container's count, ``frame_times`` are i/fps with the container's fps.
- DATASET_2 ``ground_truth.txt``: three lines of equal length, PPG, HR (bpm), timestamps (s). The
  timestamps are the oximeter's clock (real files start at 1.6, 17.4 or 23.6 s, not 0): they are taken
  relative to their first. The dataset records one PPG sample per video frame, so when the label count
  equals the frame count, or is one fewer, sample i is frame i (the last frame holds the last sample when
  one is missing) and the timestamps serve only as a check: a relative span that differs from the frames'
  by more than ``label_tolerance_s`` (or 2 %) is a note, as is a repeated timestamp (real files repeat one
  value once). Any other count (a label at another rate, or a truncated one) is resampled to the frame
  times by the relative timestamps, a repeated timestamp's second sample dropped (a note); a label that
  does not cover the video fails as a truncated label.
- DATASET_1 ``gtdump.xmp``: CSV rows of timestamp (ms), HR (bpm), SpO2 (%), PPG. The timestamps are
  taken relative to the first row (the log starts with the video; its clock origin is arbitrary).
- ``metadata``: ``layout`` (``"DATASET_2"``/``"DATASET_1"``), ``label_file``, ``label_fs`` (Hz, the
  mean label rate), ``hr`` ((T,) bpm at the frame times), ``spo2`` ((T,) %, DATASET_1 only), ``width``,
  ``height``, ``alignment`` (``"per-frame"`` or ``"timestamps"``), ``label_start_s`` (the first raw
  timestamp), ``notes`` (what the reader noticed; the preprocessing summary repeats them).
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

__all__ = ["scan_ubfc", "load_ubfc_record", "read_ubfc2_label", "read_ubfc1_label", "align_ubfc2"]

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


def _repeats(times: np.ndarray) -> np.ndarray:
    """(K,) indices of the samples whose timestamp equals the previous one."""
    return np.flatnonzero(np.diff(times) == 0) + 1


def _repeat_note(times: np.ndarray, repeats: np.ndarray, *, action: str) -> str:
    first = int(repeats[0])
    return (f"{len(repeats)} repeated label timestamp(s), first at sample {first} ({times[first]:.3f} s "
            f"relative): {action}")


def _per_frame(values: np.ndarray, n_frames: int) -> np.ndarray:
    """(N,) samples, N = T or T - 1 → (T,) one per frame, the last frame holding the last sample."""
    values = np.asarray(values, dtype=np.float64)
    return np.concatenate([values, values[-1:]]) if len(values) < n_frames else values[:n_frames]


def _clock_check(times: np.ndarray, frame_times: np.ndarray, fps: float, tolerance_s: float) -> list[str]:
    """A note when the relative timestamps of per-frame samples disagree with the frames' span."""
    n = len(times)
    label_span, frame_span = float(times[-1] - times[0]), float(frame_times[n - 1] - frame_times[0])
    notes = []
    if np.any(np.diff(times) < 0):
        notes.append(f"the label timestamps go backwards at sample {int(np.flatnonzero(np.diff(times) < 0)[0]) + 1}")
    if abs(label_span - frame_span) > max(tolerance_s, 0.02 * frame_span):
        notes.append(f"the label timestamps span {label_span:.2f} s but its {n} frames span {frame_span:.2f} s at "
                     f"{fps:.2f} fps: aligned one sample per frame as the dataset documents; check the video's "
                     "frame rate")
    return notes


def align_ubfc2(label: dict[str, np.ndarray], frame_times: np.ndarray, *, fps: float, source: Path,
                tolerance_s: float = 0.5) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """Align a DATASET_2 label (:func:`read_ubfc2_label`) to (T,) frame times (rule in the module docstring).

    Returns:
        ({"ppg", "hr"} each (T,) float64, {"alignment", "label_start_s", "notes"}).

    Raises:
        ValueError: a label that is neither one sample per frame nor covers the video by its timestamps
            (resample_label's message), NaN in it.
    """
    times = label["times"] - label["times"][0]  # the oximeter's clock, from its first sample
    n, n_frames = len(times), len(frame_times)
    repeats = _repeats(times)
    info: dict[str, object] = {"label_start_s": float(label["times"][0])}
    if n in (n_frames, n_frames - 1) and n >= 2:
        notes = [_repeat_note(times, repeats, action="ignored (one sample per frame)")] if len(repeats) else []
        notes += _clock_check(times, frame_times, fps, tolerance_s)
        if n < n_frames:
            notes.append(f"{n} label samples for {n_frames} frames: the last frame holds the last sample")
        aligned = {}
        for key in ("ppg", "hr"):
            values = _per_frame(label[key], n_frames)
            if not np.isfinite(values).all():
                bad = int(np.flatnonzero(~np.isfinite(values))[0])
                raise ValueError(f"{source}: NaN or inf in the label at sample {bad}; fix or drop this file")
            aligned[key] = values
        return aligned, {**info, "alignment": "per-frame", "notes": notes}
    keep = np.setdiff1d(np.arange(n), repeats)
    notes = [_repeat_note(times, repeats, action="the second sample of each dropped")] if len(repeats) else []
    aligned = {key: resample_label(times[keep], label[key][keep], frame_times, source=source,
                                   tolerance_s=tolerance_s) for key in ("ppg", "hr")}
    return aligned, {**info, "alignment": "timestamps", "notes": notes}


def load_ubfc_record(folder: Path, *, version: str = "auto", video_name: str = "vid.avi",
                     label_tolerance_s: float = 0.5) -> VideoRecord:
    """Load one subject folder: probe the video, read and align its label (see the module docstring)."""
    label_path = _find_label(folder, version)
    info, fps, frame_times = probe_video_times(folder / video_name)
    is_v2 = label_path.name == GT_DATASET_2
    metadata = {"layout": "DATASET_2" if is_v2 else "DATASET_1", "label_file": label_path,
                "width": info.width, "height": info.height}
    if is_v2:
        label = read_ubfc2_label(label_path)
        aligned, extra = align_ubfc2(label, frame_times, fps=fps, source=label_path, tolerance_s=label_tolerance_s)
        ppg = aligned["ppg"]
        metadata.update(hr=aligned["hr"], **extra)
    else:
        label = read_ubfc1_label(label_path)
        align = partial(resample_label, label["times"], frame_times=frame_times, source=label_path,
                        tolerance_s=label_tolerance_s)
        ppg = align(label["ppg"])
        metadata.update(hr=align(label["hr"]), spo2=align(label["spo2"]), alignment="timestamps")
    metadata["label_fs"] = estimate_rate(label["times"] - label["times"][0])
    return VideoRecord(subject=_subject_id(folder.name), session="", fps=fps, frame_times=frame_times,
                       ppg=ppg, source=info.path, frames=make_video_source(info.path), metadata=metadata)


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
