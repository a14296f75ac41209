"""MMPD (Tang et al. 2023): one MATLAB v5 file per video.

Layout: ``ROOT/subject<N>/p<N>_<K>.mat`` with ``video`` (T, H, W, 3) float RGB in [0, 1] (uint8 also
accepted), ``GT_ppg`` (1, T) or (T,) at the video rate (30 fps), and metadata strings ``light``,
``motion``, ``exercise``, ``skin_color``, ``gender``, ``glasser``, ``hair_cover``, ``makeup``.

- Subject ids: ``p12_3.mat`` → subject ``"12"``, session ``"3"`` (from the file name; a name that does
  not match ``p<N>_<K>`` keeps the folder's digits as subject and the file stem as session).
- Opening reads only the variable headers (:func:`scipy.io.whosmat`) and the small variables (label
  and metadata, ``loadmat(variable_names=...)`` skips the video). Reading frames loads the ``video``
  variable: scipy cannot stream part of a variable, so the whole video of that one file is in memory
  while its frames are read (about 3.3 GB for 1800 float64 frames of 320×240; float32 halves it). The
  frames are converted to uint8 one at a time, so no second full copy is made.
- ``frame_times`` are i/fps with ``fps=30`` unless given; the label is one sample per frame and is
  checked to cover the video within the tolerance.
- ``metadata``: the eight metadata fields as str (numbers as their str, e.g. skin colour ``"3"``), plus
  ``label_file``, ``width``, ``height``.
"""
from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from sspd.data.readers.frames import natural_key
from sspd.data.readers.loading import PendingRecord
from sspd.data.records import VideoRecord, resample_label
from sspd.signal import check_fs

__all__ = ["MMPD_FIELDS", "scan_mmpd", "load_mmpd_record", "read_mmpd_frames"]

MMPD_FIELDS = ("light", "motion", "exercise", "skin_color", "gender", "glasser", "hair_cover", "makeup")
_FILE = re.compile(r"^p(\d+)_(\d+)$", re.IGNORECASE)


def _call_scipy(path: Path, reader: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a scipy.io reader on ``path``, turning its many failure types into one clear error."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .mat file")
    try:
        return reader(str(path), **kwargs)
    except NotImplementedError:
        raise ValueError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save it with "
                         "save(..., '-v7') in MATLAB") from None
    except Exception as err:  # scipy raises several types for corrupt files; all mean "cannot read"
        raise ValueError(f"{path}: scipy cannot read this .mat file ({type(err).__name__}: {err})") from err


def _loadmat(path: Path, names: list[str]) -> dict[str, Any]:
    import scipy.io  # lazy: scipy.io costs ~0.2 s to import and only MMPD needs it

    return _call_scipy(path, scipy.io.loadmat, variable_names=names)


def _whosmat(path: Path) -> dict[str, tuple[int, ...]]:
    import scipy.io

    return {name: tuple(shape) for name, shape, _ in _call_scipy(path, scipy.io.whosmat)}


def _video_shape(path: Path, shapes: dict[str, tuple[int, ...]], variable: str) -> tuple[int, ...]:
    shape = shapes.get(variable)
    if shape is None:
        raise ValueError(f"{path}: no {variable!r} variable (found {sorted(shapes)}); is this an MMPD file?")
    if len(shape) != 4 or shape[3] != 3 or shape[0] == 0:
        raise ValueError(f"{path}: {variable!r} has shape {shape}; expected (T, H, W, 3) with T > 0")
    return shape


def _as_text(value: np.ndarray) -> str:
    """A loadmat value (char array, cell of one string, or number) as a plain str."""
    flat = np.asarray(value).ravel()
    if flat.size == 0:
        return ""
    item = flat[0]
    if isinstance(item, np.ndarray):  # a cell holding a char array
        return _as_text(item)
    if isinstance(item, (str, np.str_)):
        return " ".join(str(s).strip() for s in flat)
    return str(item.item() if hasattr(item, "item") else item)


def read_mmpd_frames(path: Path, *, variable: str = "video") -> Iterator[np.ndarray]:
    """Load ``variable`` of an MMPD file and yield its frames as H×W×3 uint8 RGB, one at a time.

    Floats are taken as [0, 1] and scaled by 255 with rounding; a frame with NaN or values beyond
    [0, 1] raises ValueError naming the file and frame.
    """
    video = _loadmat(path, [variable]).get(variable)
    if video is None or video.ndim != 4 or video.shape[3] != 3:
        raise ValueError(f"{path}: no (T, H, W, 3) {variable!r} variable to read frames from")
    for t in range(video.shape[0]):
        frame = video[t]  # (H, W, 3)
        if frame.dtype == np.uint8:
            yield np.ascontiguousarray(frame)
            continue
        if not np.isfinite(frame).all() or frame.min() < -1e-3 or frame.max() > 1 + 1e-3:
            raise ValueError(f"{path}: frame {t} of {variable!r} has NaN or values outside [0, 1]; "
                             "expected float RGB in [0, 1]")
        yield np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)


def _ids(path: Path) -> tuple[str, str]:
    match = _FILE.match(path.stem)
    if match:
        return match.group(1), match.group(2)
    digits = re.findall(r"\d+", path.parent.name)
    return (digits[-1] if digits else path.parent.name), path.stem


def load_mmpd_record(path: Path, *, fps: float = 30.0, label_tolerance_s: float = 0.5,
                     video_variable: str = "video", label_variable: str = "GT_ppg") -> VideoRecord:
    """Load one MMPD .mat file's header, label and metadata; frames are read later (module docstring)."""
    shapes = _whosmat(path)
    n_frames, height, width, _ = _video_shape(path, shapes, video_variable)
    present = [f for f in MMPD_FIELDS if f in shapes]
    data = _loadmat(path, [label_variable] + present)
    if label_variable not in data:
        raise ValueError(f"{path}: no {label_variable!r} label variable (found {sorted(shapes)})")
    label = np.asarray(data[label_variable], dtype=np.float64).ravel()  # (1, T) or (T,) -> (T,)
    frame_times = np.arange(n_frames, dtype=np.float64) / fps  # (T,)
    ppg = resample_label(np.arange(label.size) / fps, label, frame_times, source=path,
                         tolerance_s=label_tolerance_s)
    metadata = {f: _as_text(data[f]) for f in present}
    metadata.update(label_file=path, width=width, height=height)
    subject, session = _ids(path)
    return VideoRecord(subject=subject, session=session, fps=float(fps), frame_times=frame_times, ppg=ppg,
                       source=path, frames=partial(read_mmpd_frames, path, variable=video_variable),
                       metadata=metadata)


def scan_mmpd(root: Path, *, fps: float = 30.0, label_tolerance_s: float = 0.5,
              video_variable: str = "video", label_variable: str = "GT_ppg") -> list[PendingRecord]:
    """Find the ``subject*/p*_*.mat`` files of an MMPD copy.

    Args:
        root: the folder holding ``subject<N>/``.
        fps: the frame rate of the videos (MMPD records at 30 fps).
        label_tolerance_s: how much of the video the label may leave uncovered at either end.
        video_variable, label_variable: the variable names inside each .mat file.
    """
    check_fs(fps, name="fps")
    files = sorted((p for d in root.iterdir() if d.is_dir() for p in d.glob("*.mat")),
                   key=lambda p: (natural_key(p.parent.name), natural_key(p.name)))
    if not files:
        raise ValueError(f"{root}: no subject*/p*_*.mat files found under this folder: is this MMPD?")
    load = partial(load_mmpd_record, fps=fps, label_tolerance_s=label_tolerance_s,
                   video_variable=video_variable, label_variable=label_variable)
    return [PendingRecord(subject=_ids(p)[0], session=_ids(p)[1], source=p, load=partial(load, p))
            for p in files]
