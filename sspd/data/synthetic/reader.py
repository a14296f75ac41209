"""The ``synthetic`` dataset format: synthetic videos as :class:`~sspd.data.records.VideoRecord`, rendered
on the fly or read from a folder written by :func:`~sspd.data.synthetic.generate.generate_dataset`.

Registered in :mod:`sspd.data.readers.registry` like every other format: :func:`scan_synthetic` scans a
folder, :func:`render_synthetic` makes the records when there is none (``open_dataset("synthetic")``).
:func:`open_synthetic` is the same reader without the registry's subject selection and filters.

On the fly (``root=None``), record N (1-based, ``subject == str(N)`` as the UBFC reader names
``subjectN``) renders its frames when ``read_frames()`` is called, from ``spawn_seed(seed, N)``: the
same frames ``generate_dataset`` writes with the same options (with ``crf`` set, the frames of an H.264
round trip in memory: the same bitstream as the file, decoded by PyAV). Labels are exact: ``ppg`` is p(t) at the
frame times, ``metadata["hr"]`` HR(t). Records hold only picklable settings (no rendered maps), so a
worker pool can take them.

From a folder, the UBFC-rPPG reader (:func:`~sspd.data.readers.ubfc.scan_ubfc`) does the reading
(labels resampled from the 60 Hz ground truth by timestamps, as for real data) and each record's
``metadata["synthetic"]`` is its sidecar JSON, read when the folder is scanned.
"""
from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from sspd.data.readers.loading import PendingRecord, load_pending
from sspd.data.readers.ubfc import scan_ubfc
from sspd.data.records import VideoRecord
from sspd.data.synthetic.capture import captured_frames
from sspd.data.synthetic.config import SyntheticConfig
from sspd.data.synthetic.generate import SIDECAR, VIDEO, build_subject_video, count_frames, parse_size
from sspd.data.synthetic.scene import draw_pulse, spawn_seed

__all__ = ["open_synthetic", "scan_synthetic", "render_synthetic", "DATASET"]

log = logging.getLogger(__name__)

DATASET = "synthetic"  # the registry name
_ON_THE_FLY_OPTIONS = ("subjects", "seconds", "fps", "size", "seed", "config", "chunk")
_FOLDER_OPTIONS = ("version", "video_name", "label_tolerance_s")


def _render_frames(seed: int, subject: int, seconds: float, fps: float, size: tuple[int, int],
                   config: SyntheticConfig, chunk: int) -> Iterator[np.ndarray]:
    video = build_subject_video(seed, subject, seconds=seconds, fps=fps, size=size, config=config)
    return captured_frames(video, chunk)


def _labels(seed: int, subject: int, frame_times: np.ndarray, config: SyntheticConfig, duration_s: float
            ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(T,) ppg and (T,) HR (bpm) at the frame times, from the pulse alone (no face is built), and the
    true beat times (``beat_times_s``, (P,) s) when the pulse has beat-to-beat variability."""
    if config.no_pulse:
        return np.zeros_like(frame_times), np.zeros_like(frame_times), {}
    pulse, _ = draw_pulse(spawn_seed(seed, subject), config)
    beats = {} if pulse.beats is None else {"beat_times_s": pulse.beat_times(0.0, duration_s)}
    return pulse(frame_times), pulse.hr(frame_times), beats


def _virtual_record(seed: int, subject: int, *, seconds: float, fps: float, size: tuple[int, int],
                    config: SyntheticConfig, chunk: int) -> VideoRecord:
    n_frames = count_frames(seconds, fps)
    frame_times = np.arange(n_frames) / fps
    ppg, hr, beats = _labels(seed, subject, frame_times, config, n_frames / fps)
    metadata: dict[str, Any] = {
        "layout": "synthetic", "hr": hr, "mean_hr_bpm": float(hr.mean()), "has_pulse": not config.no_pulse,
        "width": size[0], "height": size[1], "seed": seed, "subject_index": subject,
        "config": config.to_dict(), **beats}
    return VideoRecord(subject=str(subject), session="", fps=float(fps), frame_times=frame_times, ppg=ppg,
                       source=Path("synthetic") / f"seed{seed}" / f"subject{subject}",
                       frames=partial(_render_frames, seed, subject, seconds, fps, size, config, chunk),
                       metadata=metadata)


def render_synthetic(*, subjects: int = 3, seconds: float = 10.0, fps: float = 30.0,
                     size: tuple[int, int] | int | str = (320, 240), seed: int = 0,
                     config: SyntheticConfig | dict[str, Any] | None = None, chunk: int = 16
                     ) -> list[VideoRecord]:
    """Records rendered on the fly: subject ``"1"``..``"N"`` for ``subjects`` = N, each ``seconds`` long
    at ``fps``, frames of ``size`` ((W, H), an int or ``"WxH"``) drawn from ``spawn_seed(seed, n)`` with
    ``config`` (a :class:`SyntheticConfig` or its dict), ``chunk`` frames rendered at a time."""
    if isinstance(config, dict):
        config = SyntheticConfig.from_dict(config)
    config = config or SyntheticConfig()
    if subjects < 1:
        raise ValueError(f"open_synthetic: subjects must be >= 1, got {subjects}")
    width_height = parse_size(size)
    count_frames(seconds, fps)  # validates the timing before any record exists
    return [_virtual_record(seed, n, seconds=seconds, fps=fps, size=width_height, config=config, chunk=chunk)
            for n in range(1, subjects + 1)]


def _read_sidecar(folder: Path) -> dict[str, Any] | None:
    """The subject folder's ``synthetic.json`` (None, with a warning, when there is none)."""
    path = folder / SIDECAR
    if not path.is_file():
        log.warning("%s: no %s beside the video; is this a generated synthetic folder?", folder, SIDECAR)
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}); regenerate the dataset with sspd synth") from err


def _load_with_sidecar(load: Callable[[], VideoRecord], info: dict[str, Any] | None) -> VideoRecord:
    record = load()
    if info is not None:
        record.metadata.update(synthetic=info, mean_hr_bpm=info.get("mean_hr_bpm"),
                               has_pulse=info.get("has_pulse"))
    return record


def scan_synthetic(root: Path, *, version: str | int = "auto", video_name: str = VIDEO,
                   label_tolerance_s: float = 0.5) -> list[PendingRecord]:
    """Find the subject folders of a generated dataset (the UBFC-rPPG DATASET_2 layout plus a
    ``synthetic.json`` per subject); the options are the UBFC reader's (:func:`scan_ubfc`).

    Raises:
        ValueError: a folder that is not this layout, a malformed sidecar (at once, before loading).
    """
    pending = scan_ubfc(root, version=version, video_name=video_name, label_tolerance_s=label_tolerance_s)
    return [PendingRecord(subject=p.subject, session=p.session, source=p.source, metadata=p.metadata,
                          load=partial(_load_with_sidecar, p.load, _read_sidecar(p.source)))
            for p in pending]


def open_synthetic(root: str | Path | None = None, **options: Any) -> list[VideoRecord]:
    """Synthetic videos as records.

    Args:
        root: None to render on the fly; else a folder written by ``generate_dataset``/``sspd synth``.
        **options: on the fly, those of :func:`render_synthetic`: ``subjects`` (3), ``seconds`` (10.0),
            ``fps`` (30.0), ``size`` ((320, 240), (W, H), an int or ``"WxH"``), ``seed`` (0),
            ``config`` (a :class:`SyntheticConfig` or its dict), ``chunk`` (16 frames rendered at a
            time). With a root, those of :func:`scan_synthetic` (``version``, ``video_name``,
            ``label_tolerance_s``); select subjects or filter with ``open_dataset("synthetic", root, ...)``.

    Returns:
        On the fly: a list of records (subject ``"1"``..``"N"``). From a folder: a
        :class:`~sspd.data.readers.loading.RecordList` (with its ``failures``), each record's
        ``metadata["synthetic"]`` its sidecar.

    Raises:
        ValueError: unknown options, bad sizes/durations, a malformed sidecar.
        FileNotFoundError: ``root`` does not exist.
    """
    valid = _ON_THE_FLY_OPTIONS if root is None else _FOLDER_OPTIONS
    unknown = sorted(set(options) - set(valid))
    if unknown:
        where = "on-the-fly rendering" if root is None else "a synthetic folder"
        raise ValueError(f"open_synthetic: unknown option(s) {unknown} for {where}; valid: {', '.join(valid)}"
                         + (" (or pass root= to read a folder)" if root is None else ""))
    if root is None:
        return render_synthetic(**options)
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such synthetic dataset folder (write one with sspd synth)")
    return load_pending(scan_synthetic(root, **options), dataset=DATASET, root=root)
