"""Write a synthetic dataset in the UBFC-rPPG DATASET_2 layout, so the real reader path is exercised.

    ROOT/subject<N>/vid.avi            FFV1 (lossless) video, frames streamed to the writer; H.264 at the
                                       config's ``crf`` (yuv420p, x264 preset medium) when that is set
    ROOT/subject<N>/ground_truth.txt   three lines: PPG, HR (bpm), timestamps (s), sampled at the
                                       oximeter rate ``label_fs`` (60 Hz by default, with clock jitter),
                                       NOT one sample per frame: readers must resample by timestamps
    ROOT/subject<N>/synthetic.json     the generating parameters of that video (mean HR, seed, ...; with
                                       beat_jitter > 0 the true beat times, beat_times_s)
    ROOT/synthetic.json                the dataset: config, size, fps and every subject's parameters

Subject N (1-based) is rendered from ``spawn_seed(seed, N)``: ``open_synthetic(None, ...)`` with the same
options renders exactly the frames written here.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

import sspd
from sspd.data.synthetic.camera import write_h264
from sspd.data.synthetic.config import SyntheticConfig
from sspd.data.synthetic.pulse import PulseModel
from sspd.data.synthetic.render import SyntheticVideo
from sspd.data.synthetic.scene import spawn_seed
from sspd.data.video import write_video
from sspd.files import TMP_SUFFIX, atomic_path, atomic_write_json, atomic_write_text
from sspd.signal import check_fs

__all__ = ["generate_dataset", "write_ground_truth", "draw_label_times", "build_subject_video",
           "parse_size", "count_frames", "describe_video", "SIDECAR", "GROUND_TRUTH", "VIDEO"]

log = logging.getLogger(__name__)

SIDECAR = "synthetic.json"
GROUND_TRUTH = "ground_truth.txt"
VIDEO = "vid.avi"
_LABEL_STREAM = 5  # child seed of a subject reserved for the label clock jitter (0-4: the scene)


#: the largest frame side parse_size accepts (8K video is 7680 wide)
MAX_SIDE = 8192


def parse_size(size: tuple[int, int] | int | str) -> tuple[int, int]:
    """(width, height) from ``(W, H)``, an int (square) or ``"WxH"``; ValueError if malformed."""
    if isinstance(size, str):
        parts = size.lower().replace("×", "x").split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"size {size!r} must look like WIDTHxHEIGHT, e.g. 320x240")
        size = (int(parts[0]), int(parts[1]))
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    width, height = (int(v) for v in size)
    if width < 16 or height < 16:
        raise ValueError(f"size {width}x{height} is too small: synthetic frames need at least 16x16 pixels")
    if max(width, height) > MAX_SIDE:
        raise ValueError(f"size {width}x{height} is too large: synthetic frames are at most {MAX_SIDE} pixels a "
                         "side (each frame is rendered in memory in float); UBFC-rPPG is 640x480")
    return width, height


def count_frames(seconds: float, fps: float) -> int:
    """round(seconds·fps), checked: both > 0 and at least 2 frames."""
    check_fs(fps, name="fps")
    if not (seconds > 0 and np.isfinite(seconds)):
        raise ValueError(f"seconds must be a finite number > 0, got {seconds}")
    n_frames = int(round(seconds * fps))
    if n_frames < 2:
        raise ValueError(f"{seconds} s at {fps} fps gives {n_frames} frame(s); need at least 2")
    return n_frames


def build_subject_video(seed: int, subject: int, *, seconds: float, fps: float, size: tuple[int, int],
                  config: SyntheticConfig) -> SyntheticVideo:
    """The video of 1-based ``subject`` in a dataset generated with ``seed``."""
    n_frames = count_frames(seconds, fps)
    width, height = parse_size(size)
    return SyntheticVideo(spawn_seed(seed, subject), n_frames=n_frames, fps=fps, width=width,
                          height=height, config=config)


def draw_label_times(duration_s: float, label_fs: float, jitter_s: float, rng: np.random.Generator
                     ) -> np.ndarray:
    """(M,) oximeter timestamps (s) from 0 to at least ``duration_s``: a regular clock at ``label_fs``
    with uniform jitter of ±``jitter_s`` (capped below half a period, so times stay increasing)."""
    n = int(np.ceil(duration_s * label_fs)) + 1
    jitter = min(jitter_s, 0.45 / label_fs)
    times = np.arange(n) / label_fs + rng.uniform(-jitter, jitter, n)
    times[0] = 0.0
    return times


def write_ground_truth(path: Path, ppg: np.ndarray, hr: np.ndarray, times: np.ndarray) -> None:
    """Write UBFC DATASET_2 ``ground_truth.txt``: PPG, HR (bpm) and timestamps (s), one line each."""
    if not len(ppg) == len(hr) == len(times):
        raise ValueError(f"{path}: PPG, HR and times must have equal lengths, got "
                         f"{len(ppg)}, {len(hr)}, {len(times)}")
    lines = [" ".join(f"{v:.8e}" for v in row) for row in (ppg, hr, times)]
    atomic_write_text(path, "\n".join(lines) + "\n", fsync=False)


def _counted(frames: Iterator[np.ndarray], on_progress: Callable[[int], None] | None) -> Iterator[np.ndarray]:
    for frame in frames:
        yield frame
        if on_progress is not None:
            on_progress(1)


def describe_video(video: SyntheticVideo, *, seed: int, subject: int) -> dict[str, Any]:
    """The JSON sidecar of one video: what generated it and its summary labels."""
    scene, pulse = video.scene, video.scene.pulse
    return {
        "subject": f"subject{subject}", "seed": int(seed), "subject_index": int(subject),
        "n_frames": video.n_frames, "fps": video.fps, "width": video.width, "height": video.height,
        "has_pulse": video.has_pulse, "mean_hr_bpm": video.mean_hr, "hr0_bpm": float(pulse.hr_bpm),
        "pulse_amplitude": scene.pulse_amplitude, "skin_tone": scene.skin_tone,
        "respiration_hz": float(pulse.respiration.freqs[0]),
        "respiration_depth": float(pulse.respiration.amps[0]),
        "flicker_hz": video.config.flicker_hz, "framing": video.config.framing,
        **_realism(video),
        "config": video.config.to_dict(), "sspd_version": sspd.__version__,
        **_beat_times(video.scene.pulse, video.n_frames / video.fps),
    }


def _realism(video: SyntheticVideo) -> dict[str, Any]:
    """The webcam framing's face width (px), the codec's CRF and the blink times (s), where they apply."""
    out: dict[str, Any] = {}
    if video.config.framing == "webcam":
        out["face_width_px"] = round(2.0 * video.scene.face.geometry.rx, 2)
    if video.config.crf is not None:
        out["crf"] = video.config.crf
    if video.scene.expressions.blinking:
        starts = video.scene.expressions.blinks.times(0.0, video.n_frames / video.fps)
        out["blink_times_s"] = [round(float(t), 4) for t in starts]
    return out


def _beat_times(pulse: PulseModel, duration_s: float) -> dict[str, Any]:
    """``beat_times_s``: the true systolic peaks (s) within the video, when it has beat-to-beat variability."""
    if pulse.beats is None:
        return {}
    return {"beat_times_s": [round(float(t), 6) for t in pulse.beat_times(0.0, duration_s)]}


def _write_subject(folder: Path, video: SyntheticVideo, info: dict[str, Any], chunk: int,
                   on_progress: Callable[[int], None] | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = video.config
    duration = video.n_frames / video.fps
    jitter_rng = np.random.default_rng(spawn_seed(info["seed"], info["subject_index"], _LABEL_STREAM))
    times = draw_label_times(duration, cfg.label_fs, cfg.label_jitter_s, jitter_rng)
    write_ground_truth(folder / GROUND_TRUTH, video.ppg(times), video.hr(times), times)
    video_path = folder / VIDEO
    # the temporary file keeps the .avi suffix: cv2 picks the container from it
    frames = _counted(video.iter_frames(chunk), on_progress)
    with atomic_path(video_path, suffix=TMP_SUFFIX + video_path.suffix, fsync=False) as tmp:
        if cfg.crf is None:
            write_video(tmp, frames, video.fps)
        else:
            write_h264(tmp, frames, video.fps, crf=cfg.crf)
    atomic_write_json(folder / SIDECAR, info, fsync=False, indent=1, sort_keys=True)


def generate_dataset(out: str | Path, *, subjects: int = 3, seconds: float = 10.0, fps: float = 30.0,
                     size: tuple[int, int] | int | str = (320, 240), seed: int = 0,
                     config: SyntheticConfig | None = None, overwrite: bool = False, chunk: int = 16,
                     on_progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Render ``subjects`` videos into ``out`` in the UBFC-rPPG DATASET_2 layout (see module docstring).

    Args:
        out: the dataset root to create (``ROOT/subject1 ... subject<N>``).
        subjects: number of videos (one per subject), >= 1.
        seconds: length of each video (s). fps: frame rate (Hz).
        size: (width, height), an int for a square, or ``"WxH"``; UBFC itself is 640x480.
        seed: the dataset seed; subject N is rendered from ``spawn_seed(seed, N)``.
        config: the model's knobs (default :class:`SyntheticConfig`, the "scene" framing).
        overwrite: replace subject folders that already hold a video; otherwise that raises.
        chunk: frames rendered at a time (memory ~ chunk frames, never the whole video).
        on_progress: called with 1 after each frame is written (a progress bar's ``update``).

    Returns:
        One sidecar dict per subject (``mean_hr_bpm``, ``hr0_bpm``, ``has_pulse``, ``skin_tone``, ...).
    """
    config = config or SyntheticConfig()
    if subjects < 1:
        raise ValueError(f"subjects must be >= 1, got {subjects}")
    root = Path(out).expanduser()
    _refuse_existing(root, subjects, overwrite)
    videos = [build_subject_video(seed, n, seconds=seconds, fps=fps, size=size, config=config)
              for n in range(1, subjects + 1)]
    infos = []
    for n, video in enumerate(videos, start=1):
        info = describe_video(video, seed=seed, subject=n)
        _write_subject(root / f"subject{n}", video, info, chunk, on_progress)
        log.info("wrote %s: %d frames, mean HR %.1f bpm", root / f"subject{n}", video.n_frames, video.mean_hr)
        infos.append(info)
    dataset = {"layout": "ubfc-rppg DATASET_2", "seed": seed, "subjects": subjects, "seconds": seconds,
               "fps": fps, "size": list(parse_size(size)), "config": config.to_dict(), "videos": infos}
    atomic_write_json(root / SIDECAR, dataset, fsync=False, indent=1, sort_keys=True)
    return infos


def _refuse_existing(root: Path, subjects: int, overwrite: bool) -> None:
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root}: exists and is not a folder; choose another output folder")
    videos = [root / f"subject{n}" / VIDEO for n in range(1, subjects + 1)]
    taken = [path for path in videos if path.exists()]
    if taken and not overwrite:
        raise ValueError(f"{taken[0]} already exists ({len(taken)} subject video(s) in {root}); "
                         "pass overwrite=True (sspd synth --overwrite) or choose another output folder")
