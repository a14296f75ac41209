"""Heart rate from any face video a user has: face crop, pulse signal, HR over time and overall HR.

Streamed: frames are decoded, face-cropped (:class:`~sspd.data.face.FaceCropper`) and reduced one at a
time, keeping only the mean skin colour (3, T) for a training-free baseline, or one clip of crops for a
:class:`ClipPredictor` (a model); the video is never held in memory. Then the pulse (T,) → HR.

HR protocol, :func:`sspd.signal.prepare_pulse` (what :func:`sspd.eval.metrics.evaluate_signals` applies
with preset ``sspd``): smoothness-priors detrend (trend half-gain at half the band's lower edge), order-2
zero-phase Butterworth band-pass over ``band``, then the peak of the Hann periodogram (:func:`sspd.signal.estimate_hr`, "fft").

- ``hr_bpm``: the spectral peak of the whole signal (one estimate from the whole video).
- ``hr_window_median_bpm``: the median HR of windows of ``window_s`` every ``stride_s`` s (robust to a
  stretch of video that went wrong; None when the video is shorter than one window).
- Timing: each frame's own presentation timestamp (:mod:`sspd.infer.frame_timing`); a trace whose spacing
  varies by more than 1 % (a phone's variable frame rate) is resampled to a uniform grid before any HR.
  A video that decodes fewer frames than its container declares is noted, and fails beyond 5 %.
- SNR (de Haan & Jeanne 2013) at each estimate's own HR (there is no reference): how clearly the peak
  stands out, not whether it is right.
"""
from __future__ import annotations

import inspect
import json
import logging
import math
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Protocol, runtime_checkable

import numpy as np

import sspd
from sspd.baselines import get_baseline, list_baselines, mean_rgb_trace
from sspd.data.face import FaceCropper, FaceCropStats
from sspd.data.video import stream_timing
from sspd.infer.frame_source import (MAX_MISSING_FRACTION, CountedReader, FrameSource, Progress,  # re-exported
                                     check_decoded, frame_times_s, open_frame_source, resolve_fps)
from sspd.infer.frame_timing import FrameTiming, resolve_timing
from sspd.infer.window_hr import WindowHR, check_windows, estimate_window_hr, overall_hr  # re-exported
from sspd.signal import BANDPASS_ORDER, READOUT_BAND
from sspd.signal.hrv import HRV, IntervalSeries, analyse_hrv

__all__ = ["ClipPredictor", "FrameSource", "WindowHR", "VideoPrediction", "open_frame_source", "resolve_fps",
           "estimate_window_hr", "predict_video", "write_prediction", "DEFAULT_METHOD", "BASELINE_CROP_SIZE",
           "MAX_MISSING_FRACTION", "reads_integrated"]

log = logging.getLogger(__name__)

DEFAULT_METHOD = "pos"
#: Face-crop side for the baselines: they only need the mean skin colour, which a small crop keeps.
BASELINE_CROP_SIZE = 72


@runtime_checkable
class ClipPredictor(Protocol):
    """What a model must offer to run under :func:`predict_video` (e.g. a checkpoint-backed network).

    Attributes:
        clip_frames: T, the frames per call. The video is cut into consecutive clips of T frames; the
            last, shorter remainder is passed as the last T frames of the video (overlapping the clip
            before it) and only its new frames are kept. A video shorter than T is passed whole, so a
            predictor must accept any clip length up to T.
        crop_size: S, the face-crop side in pixels the model expects.
        name (optional): the ``method`` reported; ``describe()`` (optional): a JSON-ready dict of which
            model produced the signal, kept as ``protocol["model"]``.
        target (optional): ``"diff"`` when the returned pulse is the integral of the model's output, which
            follows the pulse's difference; its HR is then read with the estimator's octave check
            (:func:`reads_integrated`). Default ``"pulse"``.

    Call: ``predictor(clip, fs)``, ``clip`` (T, S, S, 3) uint8 RGB face crops (the cache's layout), ``fs``
    in Hz; returns the pulse (T,), finite (anything ``np.asarray`` takes, e.g. a CPU tensor). Outputs
    are concatenated as they are: a predictor whose scale drifts between clips should normalise itself.
    """

    clip_frames: int
    crop_size: int

    def __call__(self, clip: np.ndarray, fs: float) -> np.ndarray: ...


def reads_integrated(predictor: ClipPredictor | None) -> bool:
    """Whether a predictor's pulse is a difference signal's integral (its optional ``target`` is
    ``"diff"``, as a checkpoint of a ``diff`` network's): its HR is read with ``integrated=True``."""
    return getattr(predictor, "target", "pulse") == "diff"


@dataclass
class VideoPrediction:
    """The pulse and heart rate of one video.

    Attributes:
        signal: (T,) the method's raw output per frame. pulse: (T,) the same, detrended and
            band-passed over the whole video (what ``hr_bpm`` is measured on).
        frame_times: (T,) seconds, ``i / fps``: the uniform grid the signal is on (resampled to it from
            the frames' own timestamps when their spacing varies, see ``timing``).
        hr_bpm: spectral peak of the whole signal; snr_db its SNR.
        hr_window_median_bpm: median of the window HRs (None without windows).
        windows: the HR over time.
        face: how every frame got its face box (see :mod:`sspd.data.face`).
        timing: how the frames were timed (container timestamps or equal spacing; resampled or not).
        frames_declared: the frame count the container declares (None: it declares none, or an image
            folder); frames_decoded: the frames actually decoded.
        intervals, hrv: the beats and inter-beat intervals of ``pulse`` and the HRV figures over the whole
            video (:mod:`sspd.signal.hrv`; figures the video is too short for are None, with reasons).
    """

    source: FrameSource
    method: str
    signal: np.ndarray
    pulse: np.ndarray
    frame_times: np.ndarray
    hr_bpm: float
    snr_db: float
    hr_window_median_bpm: float | None
    windows: list[WindowHR]
    face: FaceCropStats
    protocol: dict[str, Any]
    notes: list[str]
    timing: FrameTiming
    frames_declared: int | None
    frames_decoded: int
    intervals: IntervalSeries | None = None
    hrv: HRV | None = None

    @property
    def fps(self) -> float:
        """The rate of ``signal`` (the mean rate of the frame timestamps, or the nominal rate)."""
        return self.timing.fps

    @property
    def n_frames(self) -> int:
        return int(self.signal.size)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-frame arrays; non-finite numbers become None)."""
        face = {**self.face.as_dict(), "frames_with_face": self.face.detected + self.face.tracked,
                "frames_without_face": self.face.reused + self.face.centre}
        return {"source": str(self.source.path), "kind": self.source.kind, "method": self.method,
                "fps": self.fps, "container_fps": _finite_or_none(self.source.container_fps),
                "n_frames": self.n_frames, "duration_s": self.n_frames / self.fps,
                "frames_declared": self.frames_declared, "frames_decoded": self.frames_decoded,
                "timing": {k: [_finite_or_none(v) for v in x] if isinstance(x, tuple) else x
                           for k, x in self.timing.as_dict().items()},
                "hr_bpm": _finite_or_none(self.hr_bpm), "hr_bpm_is": "spectral peak of the whole signal",
                "snr_db": _finite_or_none(self.snr_db),
                "hr_window_median_bpm": _finite_or_none(self.hr_window_median_bpm),
                "windows": [{k: _finite_or_none(v) for k, v in vars(w).items()} for w in self.windows],
                "face": face, "protocol": self.protocol, "notes": list(self.notes),
                "hrv": None if self.hrv is None else {**self.hrv.as_dict(), "window": "the whole video",
                                                      "beats": "sspd.signal.hrv.detect_beats on the pulse"},
                "sspd_version": sspd.__version__}


def _finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _named(err: Exception, source: Path) -> ValueError:
    """The error as a ValueError whose message names ``source`` (once)."""
    text = str(err)
    return ValueError(text if str(source) in text else f"{source}: {text}")


def _baseline_signal(crops: Iterable[tuple[np.ndarray, np.ndarray]], method: str, fs: float,
                     skin: str | None) -> np.ndarray:
    """(T,) pulse of a baseline on the mean skin colour of the face crops (only the means are kept)."""
    rgb = mean_rgb_trace((crop for crop, _ in crops), skin=skin, on_empty="hold")  # (3, T)
    _check_long_enough(method, rgb.shape[1], fs)
    return get_baseline(method)(rgb, fs)


def _method_window_s(method: str) -> float | None:
    """The analysis window (s) a baseline uses by default, None for one without (GREEN, ICA)."""
    parameter = inspect.signature(get_baseline(method)).parameters.get("window_s")
    return None if parameter is None else parameter.default


def _check_long_enough(method: str, n_frames: int, fs: float) -> None:
    """Raise, saying what can be done, when the video is shorter than the baseline's window."""
    window_s = _method_window_s(method)
    if window_s is None or int(round(window_s * fs)) <= n_frames:
        return
    without = [m for m in list_baselines() if _method_window_s(m) is None]
    raise ValueError(f"the video is {n_frames / fs:.2f} s ({n_frames} frames at {fs:g} fps), shorter than the "
                     f"{window_s:g} s window of method={method!r}: use a video of at least {window_s:g} s (10 s "
                     f"or more for a reliable HR), or method={' or '.join(repr(m) for m in without)}, which have "
                     "no window")


def _call_predictor(predictor: ClipPredictor, recent: deque, fs: float, source: Path) -> np.ndarray:
    clip = np.stack(recent)  # (T, S, S, 3) uint8
    out = np.asarray(predictor(clip, fs), dtype=np.float64)
    name = type(predictor).__name__
    if out.shape != (len(clip),):
        raise ValueError(f"{source}: predictor {name} returned shape {out.shape} for a clip of {len(clip)} "
                         f"frames; it must return one value per frame, shape ({len(clip)},)")
    if not np.isfinite(out).all():
        raise ValueError(f"{source}: predictor {name} returned NaN/inf for a clip of {len(clip)} frames")
    return out


def _predictor_signal(crops: Iterable[tuple[np.ndarray, np.ndarray]], predictor: ClipPredictor, fs: float,
                      source: Path) -> np.ndarray:
    """(T,) pulse of a predictor over consecutive clips (see :class:`ClipPredictor` for the tail)."""
    recent: deque[np.ndarray] = deque(maxlen=predictor.clip_frames)  # the last clip_frames crops
    parts, pending = [], 0
    for crop, _ in crops:
        recent.append(crop)
        pending += 1
        if pending == predictor.clip_frames:
            parts.append(_call_predictor(predictor, recent, fs, source))
            pending = 0
    if pending:
        parts.append(_call_predictor(predictor, recent, fs, source)[-pending:])
    return np.concatenate(parts)  # (T,)


def _check_method(method: str | None, predictor: ClipPredictor | None) -> str:
    """The method's name; exactly one of a baseline ``method`` or a ``predictor``."""
    if predictor is None:
        method = DEFAULT_METHOD if method is None else method
        if method.lower() not in list_baselines():
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(list_baselines())}")
        return method.lower()
    if method is not None:
        raise ValueError(f"pass either method={method!r} (a training-free baseline) or a predictor, not both")
    kind = type(predictor).__name__
    if not callable(predictor):
        raise ValueError(f"predictor {kind} is not callable: see sspd.infer.predict.ClipPredictor")
    for name in ("clip_frames", "crop_size"):
        value = getattr(predictor, name, None)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"predictor {kind} needs an integer attribute {name} >= 1 (see "
                             f"sspd.infer.predict.ClipPredictor), got {value!r}")
    return str(getattr(predictor, "name", kind))


def _default_cropper(cropper: FaceCropper | None, predictor: ClipPredictor | None) -> FaceCropper:
    size = BASELINE_CROP_SIZE if predictor is None else int(predictor.crop_size)
    if cropper is None:
        return FaceCropper(size=size)
    if predictor is not None and cropper.size != size:
        raise ValueError(f"the cropper makes {cropper.size}px crops but the predictor expects "
                         f"crop_size={size}: build the FaceCropper with size={size}")
    return cropper


def _notes(face: FaceCropStats, windows: list[WindowHR], n_frames: int, fs: float,
           window_s: float) -> list[str]:
    """What a reader of the numbers must know; the frames without a face box come first, if any."""
    notes = []
    missing = face.reused + face.centre
    if missing:
        notes.append(f"{missing} of {face.frames} frames had no face box ({face.reused} reused the last "
                     f"face box, {face.centre} used a centred box)")
    if face.found == 0:
        notes.append("no face was detected in the video: the crop is a centred box, the HR may be wrong")
    if not windows:
        notes.append(f"the video ({n_frames / fs:.1f} s) is shorter than one {window_s:g} s window: no HR "
                     "over time; hr_bpm is from the whole signal")
    return notes


def predict_video(path: str | Path, *, method: str | None = None, predictor: ClipPredictor | None = None,
                  fps: float | None = None, window_s: float = 10.0, stride_s: float = 1.0,
                  band: tuple[float, float] = READOUT_BAND, cropper: FaceCropper | None = None,
                  skin: str | None = "ycrcb", progress: Progress | None = None) -> VideoPrediction:
    """Pulse and heart rate of one face video, streamed frame by frame.

    Args:
        path: a video file, or a folder of images (frames sorted by name; needs ``fps``).
        method: a training-free baseline (:func:`sspd.baselines.list_baselines`; default ``pos``) run on
            the mean skin colour of the face crops. Not with ``predictor``.
        predictor: a :class:`ClipPredictor` run on the face crops instead (a trained model).
        fps: frame rate in Hz; required for image folders and videos whose container has none,
            overrides the container's rate otherwise.
        window_s, stride_s: the HR-over-time windows (s); window_s >= 1 / band[0].
        band: (low, high) Hz searched for the HR; default 0.667-3 Hz (40-180 bpm, ``READOUT_BAND``).
        cropper: the face cropper (default: Haar detection every 10 frames, ``reuse`` the last face box
            where none is found; crops of ``BASELINE_CROP_SIZE`` or the predictor's ``crop_size``).
        skin: pixel selection inside the crop for the baselines' mean colour: ``"ycrcb"`` or None (all).
        progress: called after each frame with (frames done, the container's frame count or None).

    Raises:
        FileNotFoundError: no such file or folder. ValueError (naming the file): unreadable video, no
        frame rate, a video too short for the method or the band, a predictor output of the wrong shape.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"predict_video: path must be a video file or image folder (str or Path), got "
                        f"{type(path).__name__}")
    name = _check_method(method, predictor)
    source = open_frame_source(path, fps=fps)
    band = check_windows(window_s, stride_s, band, source.fps)  # before decoding anything
    cropper = _default_cropper(cropper, predictor)
    reader = CountedReader(source, passes=2 if cropper.strategy == "median" else 1, progress=progress)
    crops = cropper.crop(reader, source=str(source.path))
    try:
        if predictor is None:
            signal = _baseline_signal(crops, name, source.fps, skin)
        else:
            signal = _predictor_signal(crops, predictor, source.fps, source.path)
        stream = stream_timing(source.path) if source.kind == "video" else None  # the frames' own times
        decoded_notes = check_decoded(source, signal.size, stream)
        signal, frame_times, timing = resolve_timing(signal, frame_times_s(source, stream, signal.size),
                                                     source.fps, fps_given=fps is not None)
        integrated = reads_integrated(predictor)
        pulse, hr, snr = overall_hr(signal, timing.fps, band, integrated=integrated)
        intervals, hrv = _video_hrv(pulse, timing.fps, hr, band)
        windows = estimate_window_hr(signal, timing.fps, window_s=window_s, stride_s=stride_s, band=band,
                                     integrated=integrated)
    except ValueError as err:
        raise _named(err, source.path) from err
    median = float(np.median([w.hr_bpm for w in windows])) if windows else None
    notes = _notes(crops.stats, windows, signal.size, timing.fps, window_s)
    logged_by_cropper = crops.stats.reused + crops.stats.centre > 0  # the frames without a face box
    notes += decoded_notes + _timing_notes(timing)
    for note in notes[int(logged_by_cropper):]:
        log.warning("%s: %s", source.path, note)
    return VideoPrediction(source=source, method=name, signal=signal, pulse=pulse,
                           frame_times=frame_times, hr_bpm=hr, snr_db=snr,
                           hr_window_median_bpm=median, windows=windows, face=crops.stats,
                           protocol=_protocol(cropper, band, window_s, stride_s, timing.fps, skin, predictor),
                           notes=notes, timing=timing, frames_declared=_declared(source, stream),
                           frames_decoded=int(signal.size), intervals=intervals, hrv=hrv)


def _video_hrv(pulse: np.ndarray, fs: float, hr_bpm: float, band: tuple[float, float]
               ) -> tuple[IntervalSeries | None, HRV | None]:
    """Beats, intervals and HRV of the whole pulse; (None, None) when no beat can be found."""
    try:
        return analyse_hrv(pulse, fs, hr_bpm=hr_bpm, hr_band=band)
    except ValueError as err:
        log.info("no HRV: %s", err)
        return None, None


def _declared(source: FrameSource, stream: Any) -> int | None:
    """The frame count the video declares: its stream header's (None when the header has none, as in
    Matroska, where OpenCV's count is duration x nominal rate, wrong for a variable rate); the container's
    count without PyAV; None for an image folder."""
    if source.kind != "video":
        return None
    if stream is not None and (stream.frames is not None or stream.duration_s is not None):
        return stream.frames
    return source.n_frames


def _timing_notes(timing: FrameTiming) -> list[str]:
    if not timing.resampled:
        return []
    low, mid, high = timing.interval_ms
    return [f"variable frame rate (frame intervals {low:.1f}-{high:.1f} ms, median {mid:.1f}): the signal was "
            f"resampled to a uniform {timing.fps:.3f} fps grid before measuring HR"]


def _protocol(cropper: FaceCropper, band: tuple[float, float], window_s: float, stride_s: float, fs: float,
              skin: str | None, predictor: ClipPredictor | None) -> dict[str, Any]:
    """How every number was made: estimator, band, windows, face crop (and the predictor's
    ``describe()``, when it has one, as ``model``)."""
    estimator = (f"smoothness-priors detrend (trend half-gain at {band[0] / 2:g} Hz), order-{BANDPASS_ORDER} "
                 "zero-phase Butterworth band-pass, Hann periodogram peak with log-parabolic interpolation")
    if reads_integrated(predictor):
        estimator += ", octave-checked against the peak of the difference (the pulse is a difference's integral)"
    protocol = {"estimator": estimator,
                "band_hz": [float(band[0]), float(band[1])], "window_s": window_s, "stride_s": stride_s,
                "window_frames": int(round(window_s * fs)), "snr": "at the estimate's own HR (no reference)",
                "face": {"strategy": cropper.strategy, "every_n": cropper.every_n, "enlarge": cropper.enlarge,
                         "size": cropper.size, "no_face": cropper.no_face},
                "signal": ("mean skin colour of the face crop, skin pixels: " + (skin or "all")
                           if predictor is None else f"predictor on clips of {predictor.clip_frames} frames")}
    if callable(getattr(predictor, "describe", None)):
        protocol["model"] = predictor.describe()
    return protocol


def write_prediction(prediction: VideoPrediction, out_dir: str | Path) -> dict[str, Path]:
    """Write ``waveform.csv`` (time_s, signal, pulse), ``hr.csv`` (start_s, end_s, hr_bpm, snr_db),
    ``ibi.csv`` (time_s of the beat ending each interval, ibi_ms, valid 1/0 for normal-to-normal),
    ``prediction.json`` (:meth:`VideoPrediction.as_dict` plus the file names) and ``prediction.png``
    (waveform and HR over time) into ``out_dir``; returns name → path."""
    from sspd.infer.plots import plot_hr_over_time  # matplotlib only when writing figures

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"waveform": out / "waveform.csv", "hr": out / "hr.csv", "ibi": out / "ibi.csv",
             "json": out / "prediction.json", "plot": out / "prediction.png"}
    columns = np.stack([prediction.frame_times, prediction.signal, prediction.pulse], axis=1)  # (T, 3)
    np.savetxt(files["waveform"], columns, fmt=("%.6f", "%.8g", "%.8g"), delimiter=",",
               header="time_s,signal,pulse", comments="")
    rows = np.array([[w.start_s, w.end_s, w.hr_bpm, w.snr_db] for w in prediction.windows]).reshape(-1, 4)
    np.savetxt(files["hr"], rows, fmt=("%.6f", "%.6f", "%.4f", "%.4f"), delimiter=",",
               header="start_s,end_s,hr_bpm,snr_db", comments="")
    series = prediction.intervals
    ibi = np.zeros((0, 3)) if series is None else np.stack([series.ibi_times_s, 1e3 * series.ibi_s,
                                                             series.valid.astype(float)], axis=1)  # (N, 3)
    np.savetxt(files["ibi"], ibi, fmt=("%.6f", "%.3f", "%d"), delimiter=",", header="time_s,ibi_ms,valid",
               comments="")
    title = f"{prediction.source.path.name}: {prediction.method}"
    plot_hr_over_time(prediction.pulse, prediction.fps, rows[:, :2], rows[:, 2], files["plot"],
                      overall_bpm=prediction.hr_bpm, title=title)
    summary = {**prediction.as_dict(), "files": {k: str(v) for k, v in files.items()}}
    files["json"].write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return files
