"""``open_synthetic``: synthetic videos as :class:`~sspd.data.records.VideoRecord`, rendered on the fly
or read from a folder written by :func:`~sspd.data.synthetic.generate.generate_dataset`.

On the fly (``root=None``), record N (1-based, ``subject == str(N)`` as the UBFC reader names
``subjectN``) renders its frames when ``read_frames()`` is called, from ``spawn_seed(seed, N)``: the
same frames ``generate_dataset`` writes with the same options. Labels are exact: ``ppg`` is p(t) at the
frame times, ``metadata["hr"]`` HR(t). Records hold only picklable settings (no rendered maps), so a
worker pool can take them.

From a folder, the UBFC-rPPG reader does the reading (labels resampled from the 60 Hz ground truth by
timestamps, as for real data) and each record's ``metadata["synthetic"]`` is its sidecar JSON.
"""
from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from sspd.data.records import VideoRecord
from sspd.data.synthetic.config import SyntheticConfig
from sspd.data.synthetic.generate import SIDECAR, count_frames, parse_size, build_subject_video
from sspd.data.synthetic.scene import spawn_seed, draw_pulse

__all__ = ["open_synthetic"]

log = logging.getLogger(__name__)

_ON_THE_FLY_OPTIONS = ("subjects", "seconds", "fps", "size", "seed", "config", "chunk")


def _render_frames(seed: int, subject: int, seconds: float, fps: float, size: tuple[int, int],
                   config: SyntheticConfig, chunk: int) -> Iterator[np.ndarray]:
    video = build_subject_video(seed, subject, seconds=seconds, fps=fps, size=size, config=config)
    return video.iter_frames(chunk)


def _labels(seed: int, subject: int, frame_times: np.ndarray, config: SyntheticConfig
            ) -> tuple[np.ndarray, np.ndarray]:
    """(T,) ppg and (T,) HR (bpm) at the frame times, from the pulse alone (no face is built)."""
    if config.no_pulse:
        return np.zeros_like(frame_times), np.zeros_like(frame_times)
    pulse, _ = draw_pulse(spawn_seed(seed, subject), config)
    return pulse(frame_times), pulse.hr(frame_times)


def _virtual_record(seed: int, subject: int, *, seconds: float, fps: float, size: tuple[int, int],
                    config: SyntheticConfig, chunk: int) -> VideoRecord:
    n_frames = count_frames(seconds, fps)
    frame_times = np.arange(n_frames) / fps
    ppg, hr = _labels(seed, subject, frame_times, config)
    metadata: dict[str, Any] = {
        "layout": "synthetic", "hr": hr, "mean_hr_bpm": float(hr.mean()), "has_pulse": not config.no_pulse,
        "width": size[0], "height": size[1], "seed": seed, "subject_index": subject,
        "config": config.to_dict()}
    return VideoRecord(subject=str(subject), session="", fps=float(fps), frame_times=frame_times, ppg=ppg,
                       source=Path("synthetic") / f"seed{seed}" / f"subject{subject}",
                       frames=partial(_render_frames, seed, subject, seconds, fps, size, config, chunk),
                       metadata=metadata)


def _render_on_the_fly(*, subjects: int = 3, seconds: float = 10.0, fps: float = 30.0,
                       size: tuple[int, int] | int | str = (320, 240), seed: int = 0,
                       config: SyntheticConfig | dict[str, Any] | None = None, chunk: int = 16
                       ) -> list[VideoRecord]:
    if isinstance(config, dict):
        config = SyntheticConfig.from_dict(config)
    config = config or SyntheticConfig()
    if subjects < 1:
        raise ValueError(f"open_synthetic: subjects must be >= 1, got {subjects}")
    width_height = parse_size(size)
    count_frames(seconds, fps)  # validates the timing before any record exists
    return [_virtual_record(seed, n, seconds=seconds, fps=fps, size=width_height, config=config, chunk=chunk)
            for n in range(1, subjects + 1)]


def _attach_sidecars(records: list[VideoRecord]) -> None:
    for record in records:
        path = Path(record.source).parent / SIDECAR
        if not path.is_file():
            log.warning("%s: no %s beside the video; is this a generated synthetic folder?",
                        path.parent, SIDECAR)
            continue
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err}); regenerate the dataset with "
                             "sspd synth") from err
        record.metadata["synthetic"] = info
        record.metadata["mean_hr_bpm"] = info.get("mean_hr_bpm")
        record.metadata["has_pulse"] = info.get("has_pulse")


def open_synthetic(root: str | Path | None = None, **options: Any) -> list[VideoRecord]:
    """Synthetic videos as records.

    Args:
        root: None to render on the fly; else a folder written by ``generate_dataset``/``sspd synth``.
        **options: on the fly: ``subjects`` (3), ``seconds`` (10.0), ``fps`` (30.0), ``size``
            ((320, 240), (W, H), an int or ``"WxH"``), ``seed`` (0), ``config`` (a
            :class:`SyntheticConfig` or its dict), ``chunk`` (16 frames rendered at a time). With a
            root: passed on to the UBFC-rPPG reader (``open_dataset("ubfc-rppg", root, **options)``).

    Returns:
        On the fly: a list of records (subject ``"1"``..``"N"``). From a folder: the UBFC reader's
        record list (with its ``failures``), each record's ``metadata["synthetic"]`` its sidecar.

    Raises:
        ValueError: unknown options, bad sizes/durations, a malformed sidecar.
        FileNotFoundError: ``root`` does not exist.
    """
    if root is None:
        unknown = sorted(set(options) - set(_ON_THE_FLY_OPTIONS))
        if unknown:
            raise ValueError(f"open_synthetic: unknown option(s) {unknown} for on-the-fly rendering; "
                             f"valid: {', '.join(_ON_THE_FLY_OPTIONS)} (or pass root= to read a folder)")
        return _render_on_the_fly(**options)
    from sspd.data.readers import open_dataset  # lazy: the readers import this package lazily too

    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such synthetic dataset folder (write one with sspd synth)")
    records = open_dataset("ubfc-rppg", root, **options)
    _attach_sidecars(records)
    return records

