"""PURE (Stricker et al. 2014): PNG frames with nanosecond timestamps and a JSON oximeter log.

Layout: ``ROOT/XX-YY/Image<ns>.png`` (subject XX, setup YY) and ``ROOT/XX-YY.json`` (or the same file
inside the folder). The copies the authors distribute unpack one level deeper, and are read as they are:
``ROOT/XX-YY/XX-YY/Image<ns>.png`` with ``ROOT/XX-YY/XX-YY.json`` (a session folder holding no frame
but a folder of its own name takes its frames from there). The JSON holds ``/FullPackage`` (oximeter
samples at about 60 Hz: ``Timestamp`` in ns and ``Value.waveform``, ``Value.pulseRate``,
``Value.o2saturation``) and ``/Image`` (one timestamp per frame).

- Subject ids: ``01-02`` → subject ``"01"``, session ``"02"``; ``metadata["setup"]`` is the int 2 and
  ``metadata["setup_name"]`` its name (steady, talking, slow/fast translation, small/medium rotation).
- Frames: the PNG files ordered by the timestamp in their names; ``frame_times`` are those timestamps in
  seconds from the first frame, ``n_frames`` the number of PNG files, ``fps`` the mean rate they imply.
- Labels: the waveform and pulse rate are resampled to the frame timestamps (same clock).
- ``metadata``: ``setup``, ``setup_name``, ``label_file``, ``label_fs``, ``hr`` ((T,) bpm), ``spo2``
  ((T,) %), ``json_image_count`` (frames the JSON lists), ``width``, ``height``.
"""
from __future__ import annotations

import json
import logging
import re
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sspd.data.readers.frames import estimate_rate, make_image_source, probe_first_image
from sspd.data.readers.loading import PendingRecord
from sspd.data.readers.tables import read_text
from sspd.data.records import VideoRecord, resample_label

__all__ = ["SETUP_NAMES", "scan_pure", "load_pure_record", "read_pure_json", "list_pure_frames"]

log = logging.getLogger(__name__)

SETUP_NAMES = {1: "steady", 2: "talking", 3: "slow translation", 4: "fast translation",
               5: "small rotation", 6: "medium rotation"}
_FOLDER = re.compile(r"^(\d+)-(\d+)$")
_IMAGE = re.compile(r"^Image(\d+)\.png$", re.IGNORECASE)


def list_pure_frames(folder: Path) -> tuple[list[Path], np.ndarray]:
    """The ``Image<ns>.png`` files of a session in time order and their (T,) int64 timestamps (ns)."""
    found = []
    for path in folder.iterdir():
        match = _IMAGE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    if not found:
        raise ValueError(f"{folder}: no Image<timestamp-ns>.png frames in this PURE session folder")
    found.sort()
    stamps = np.array([ns for ns, _ in found], dtype=np.int64)  # (T,)
    if np.any(np.diff(stamps) <= 0):
        duplicate = stamps[np.flatnonzero(np.diff(stamps) <= 0)[0]]
        raise ValueError(f"{folder}: two frames share the timestamp {duplicate} ns")
    return [p for _, p in found], stamps


def _value(entry: Any, key: str, *, path: Path, index: int) -> float:
    try:
        return float(entry["Value"][key])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: /FullPackage entry {index} has no numeric Value.{key}") from None


def read_pure_json(path: Path) -> dict[str, np.ndarray]:
    """Parse a PURE JSON into (N,) arrays ``stamps`` (int64 ns), ``ppg``, ``hr``, ``spo2`` and the
    (M,) int64 ``image_stamps`` it lists."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    package = data.get("/FullPackage") if isinstance(data, dict) else None
    if not isinstance(package, list) or not package:
        raise ValueError(f"{path}: no '/FullPackage' list of oximeter samples; is this a PURE label file?")
    try:
        stamps = np.array([int(e["Timestamp"]) for e in package], dtype=np.int64)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: a /FullPackage entry has no integer Timestamp (ns)") from None
    images = data.get("/Image") or []
    return {"stamps": stamps,
            "ppg": np.array([_value(e, "waveform", path=path, index=i) for i, e in enumerate(package)]),
            "hr": np.array([_value(e, "pulseRate", path=path, index=i) for i, e in enumerate(package)]),
            "spo2": np.array([_value(e, "o2saturation", path=path, index=i) for i, e in enumerate(package)]),
            "image_stamps": np.array([int(e.get("Timestamp", 0)) for e in images if isinstance(e, dict)],
                                     dtype=np.int64)}


def _frames_folder(folder: Path) -> Path:
    """Where a session's PNG frames are: ``folder``, or ``folder/<its name>`` in the distributed copies."""
    nested = folder / folder.name
    if nested.is_dir() and not any(_IMAGE.match(p.name) for p in folder.iterdir()):
        return nested
    return folder


def _find_json(folder: Path) -> Path:
    candidates = [folder.parent / f"{folder.name}.json", folder / f"{folder.name}.json"]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"{folder}: no ground truth: expected {candidates[0]} or {candidates[1]}")


def load_pure_record(folder: Path, *, label_tolerance_s: float = 0.5) -> VideoRecord:
    """Load one ``XX-YY`` session folder (see the module docstring)."""
    label_path = _find_json(folder)
    frames, stamps = list_pure_frames(_frames_folder(folder))
    height, width = probe_first_image(frames[0])
    label = read_pure_json(label_path)
    frame_times = (stamps - stamps[0]) / 1e9  # (T,) s; int64 subtraction first keeps ns precision
    label_times = (label["stamps"] - stamps[0]) / 1e9  # (N,) s on the frames' clock
    align = partial(resample_label, label_times, frame_times=frame_times, source=label_path,
                    tolerance_s=label_tolerance_s)
    if len(label["image_stamps"]) and len(label["image_stamps"]) != len(frames):
        log.info("%s: the JSON lists %d frames, the folder holds %d PNG files; using the files",
                 label_path, len(label["image_stamps"]), len(frames))
    subject, setup = _FOLDER.match(folder.name).groups()
    metadata = {"setup": int(setup), "setup_name": SETUP_NAMES.get(int(setup), "unknown"),
                "label_file": label_path, "label_fs": estimate_rate(label_times), "hr": align(label["hr"]),
                "spo2": align(label["spo2"]), "json_image_count": len(label["image_stamps"]),
                "width": width, "height": height}
    return VideoRecord(subject=subject, session=setup, fps=estimate_rate(frame_times),
                       frame_times=frame_times, ppg=align(label["ppg"]), source=folder,
                       frames=make_image_source(frames), metadata=metadata)


def _parse_setups(setups: Sequence[int | str] | None) -> set[int] | None:
    if setups is None:
        return None
    try:
        return {int(s) for s in setups}
    except (TypeError, ValueError):
        raise ValueError(f"setups must be setup numbers such as [1, 2] (01 steady ... 06 medium rotation), "
                         f"got {setups!r}") from None


def scan_pure(root: Path, *, setups: Sequence[int | str] | None = None,
              label_tolerance_s: float = 0.5) -> list[PendingRecord]:
    """Find the ``XX-YY`` session folders of a PURE copy.

    Args:
        root: the folder holding the ``XX-YY/`` folders.
        setups: keep only these setups (1 steady, 2 talking, 3 slow translation, 4 fast translation,
            5 small rotation, 6 medium rotation); ``None`` keeps all.
        label_tolerance_s: how much of the video the label may leave uncovered at either end.
    """
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _FOLDER.match(p.name))
    if not folders:
        raise ValueError(f"{root}: no XX-YY session folders (e.g. 01-01/Image<ns>.png) found under this "
                         "folder: is this PURE?")
    wanted = _parse_setups(setups)
    load = partial(load_pure_record, label_tolerance_s=label_tolerance_s)
    pending = []
    for folder in folders:
        subject, setup = _FOLDER.match(folder.name).groups()
        if wanted is None or int(setup) in wanted:
            pending.append(PendingRecord(subject=subject, session=setup, source=folder,
                                         load=partial(load, folder), metadata={"setup": int(setup)}))
    if not pending:
        present = sorted({int(_FOLDER.match(f.name).group(2)) for f in folders})
        raise ValueError(f"{root}: setups={sorted(wanted)} match no session folder; "
                         f"setups present: {present}")
    return pending
