"""Live heart rate: frames from a :class:`~sspd.infer.live_source.LiveSource` (a camera, a stream, a file
at its own pace), face-tracked, and an HR estimate with its SNR every ``update_s`` seconds from the last
``window_s`` seconds, with a slower rolling HRV figure (``sspd live``).

    source = open_live_source(0)
    summary = run_live(source, RollingHR(fps=source.fps), on_estimate=print)

Design:

- A capture thread reads the source into a :class:`~sspd.infer.live_source.FrameBuffer` of bounded size;
  when the face tracking and the method are slower than the camera, the oldest frames are dropped (and
  counted), never queued without bound. The signal is sampled at each kept frame's own timestamp and
  resampled (linear interpolation) to a uniform grid at the nominal rate before any HR, so dropped frames
  leave gaps, not a wrong time axis.
- :class:`RollingHR` keeps, per frame, the mean skin colour of the face crop (a training-free method,
  recomputed over the window at each estimate: cheap) or, for a :class:`~sspd.infer.predict.ClipPredictor`
  (a trained model), the model's pulse: at each estimate the model runs on its last ``clip_frames``
  crops, and the samples of the frames it had not seen yet are appended after matching the overlap with
  the earlier output by least squares (scale and offset), so the 1-second joins add no step to the signal.
- Each estimate is the HR sspd predict measures on a window (detrend, band-pass, periodogram peak; SNR
  at that HR), and its latency is the time from the capture of the newest frame in the window to the
  moment the estimate exists.
- HRV (:mod:`sspd.signal.hrv`) over the last ``hrv_window_s`` seconds every ``hrv_every_s`` seconds, once
  the beats span at least the shortest figure's minimum (30 s for RMSSD).
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from sspd.baselines import get_baseline, list_baselines, mean_rgb_trace
from sspd.data.face import FaceCropper
from sspd.infer.live_source import CaptureThread, FrameBuffer, LiveSource, TimedFrame
from sspd.infer.predict import BASELINE_CROP_SIZE, DEFAULT_METHOD, ClipPredictor, reads_integrated
from sspd.infer.window_hr import check_windows, overall_hr
from sspd.signal import READOUT_BAND, check_fs
from sspd.signal.hrv import HRV, MIN_DURATION_S, analyse_hrv

__all__ = ["LiveEstimate", "LiveSummary", "RollingHR", "run_live"]


@dataclass(frozen=True)
class LiveEstimate:
    """One estimate: ``time_s`` the media time of the newest frame in the window (s), ``hr_bpm``,
    ``snr_db`` (at that HR), ``window_s`` the span of the frames used, ``frames`` how many were kept in
    it, ``max_gap_s`` the longest interval between two kept frames (dropped frames leave gaps, filled by
    interpolation: a gap longer than half a beat, 0.2-0.4 s, makes the estimate unreliable),
    ``latency_s`` from the capture of its newest frame to the estimate, ``dropped`` frames dropped so far,
    ``hrv`` the HRV figures when they were updated with this estimate (else None)."""

    time_s: float
    hr_bpm: float
    snr_db: float
    window_s: float
    frames: int
    latency_s: float
    dropped: int = 0
    max_gap_s: float = 0.0
    hrv: HRV | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite numbers become None; ``hrv`` is its ``as_dict()`` or None)."""
        out = {k: getattr(self, k) for k in ("time_s", "hr_bpm", "snr_db", "window_s", "frames", "max_gap_s",
                                             "latency_s", "dropped")}
        out = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in out.items()}
        return {**out, "hrv": None if self.hrv is None else self.hrv.as_dict()}


@dataclass
class LiveSummary:
    """The run: frames received from the source, dropped by the buffer, processed; every estimate; the
    wall time (s); latency median and 95th percentile (s; None without an estimate)."""

    source: str
    method: str
    fps: float
    received: int = 0
    dropped: int = 0
    processed: int = 0
    wall_s: float = 0.0
    estimates: list[LiveEstimate] = field(default_factory=list)

    def latency_s(self, q: float) -> float | None:
        values = [e.latency_s for e in self.estimates]
        return float(np.percentile(values, q)) if values else None

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "method": self.method, "fps": self.fps, "received": self.received,
                "dropped": self.dropped, "processed": self.processed, "wall_s": self.wall_s,
                "estimates": len(self.estimates), "latency_median_s": self.latency_s(50),
                "latency_p95_s": self.latency_s(95)}


def _on_grid(times: np.ndarray, values: np.ndarray, fs: float) -> np.ndarray:
    """(..., L) ``values`` (..., N) sampled at (N,) ``times`` resampled to the uniform grid at ``fs`` that
    ends at the last time."""
    length = int(math.floor((times[-1] - times[0]) * fs + 1e-6)) + 1
    grid = times[-1] - np.arange(length)[::-1] / fs  # (L,)
    rows = np.atleast_2d(values)
    out = np.stack([np.interp(grid, times, row) for row in rows])  # (C, L)
    return out if values.ndim > 1 else out[0]


def _stitch(previous: np.ndarray, clip_out: np.ndarray, n_new: int) -> np.ndarray:
    """The last ``n_new`` samples of a clip's output, matched to ``previous`` (the earlier output of the
    clip's other frames, oldest first) by the least-squares scale and offset over that overlap."""
    overlap = clip_out[:-n_new] if n_new < clip_out.size else clip_out[:0]
    m = min(overlap.size, previous.size)
    if m < 3 or np.std(overlap[-m:]) < 1e-12:
        return clip_out[-n_new:]
    design = np.stack([overlap[-m:], np.ones(m)], axis=1)  # (m, 2)
    (scale, offset), *_ = np.linalg.lstsq(design, previous[-m:], rcond=None)
    return scale * clip_out[-n_new:] + offset


class RollingHR:
    """HR every ``update_s`` seconds over the last ``window_s`` seconds of face crops, and HRV every
    ``hrv_every_s`` seconds over the last ``hrv_window_s``.

    Args:
        fps: the nominal frame rate (Hz): the grid the signal is resampled to.
        method: a training-free method (:func:`sspd.baselines.list_baselines`, default ``pos``); not with
            ``predictor``.
        predictor: a :class:`~sspd.infer.predict.ClipPredictor` (a trained model) instead.
        window_s, update_s: the HR window and the time between estimates (s of media time).
        band: (low, high) Hz searched for the HR (default 40-180 bpm, ``READOUT_BAND``).
        skin: the baselines' skin-pixel selection (``"ycrcb"`` or None).
        hrv_window_s, hrv_every_s: the HRV window and the time between HRV updates (s); None: no HRV.
    """

    def __init__(self, *, fps: float, method: str | None = None, predictor: ClipPredictor | None = None,
                 window_s: float = 10.0, update_s: float = 1.0, band: tuple[float, float] = READOUT_BAND,
                 skin: str | None = "ycrcb", hrv_window_s: float | None = 60.0, hrv_every_s: float = 10.0):
        self.fps = check_fs(fps, name="fps")
        self.band = check_windows(window_s, update_s, band, self.fps)
        if predictor is not None and method is not None:
            raise ValueError(f"pass either method={method!r} (a training-free method) or a predictor, not both")
        self.method = (method or DEFAULT_METHOD).lower() if predictor is None else str(
            getattr(predictor, "name", type(predictor).__name__))
        if predictor is None and self.method not in list_baselines():
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(list_baselines())}")
        if hrv_window_s is not None and not hrv_window_s >= window_s:
            raise ValueError(f"hrv_window_s ({hrv_window_s}) must be at least window_s ({window_s}), or None")
        self.predictor, self.skin = predictor, skin
        self._integrated = reads_integrated(predictor)  # the octave check for a diff model's integral
        self.window_s, self.update_s = float(window_s), float(update_s)
        self.hrv_window_s, self.hrv_every_s = hrv_window_s, float(hrv_every_s)
        self.crop_size = BASELINE_CROP_SIZE if predictor is None else int(predictor.crop_size)
        keep_s = max(self.window_s, hrv_window_s or 0.0) + 2.0 * self.update_s
        self._samples: deque[tuple[float, float, np.ndarray | float]] = deque(maxlen=int(keep_s * self.fps * 1.5))
        self._crops: deque[np.ndarray] = deque(maxlen=predictor.clip_frames if predictor is not None else 1)
        self._unseen = 0  # crops the predictor has not run on yet
        self._last_rgb: np.ndarray | None = None
        self._next_update: float | None = None
        self._next_hrv: float | None = None
        self.hrv: HRV | None = None

    # ---- per frame -------------------------------------------------------------------------------------
    def push(self, crop: np.ndarray, media_s: float, captured_s: float, *, dropped: int = 0) -> LiveEstimate | None:
        """Add one face crop (S, S, 3) uint8 taken at ``media_s`` (stream time) and ``captured_s``
        (monotonic clock); returns an estimate when one is due, else None."""
        if self.predictor is None:
            self._samples.append((media_s, captured_s, self._mean_rgb(crop)))
        else:
            self._crops.append(crop)
            self._unseen += 1
            self._samples.append((media_s, captured_s, math.nan))  # filled by the model
            if self._unseen == self.predictor.clip_frames:  # a whole new clip: run it (the rest at the estimate)
                self._run_predictor()
        if self._next_update is None:
            first = self._samples[0][0]
            self._next_update, self._next_hrv = first + self.window_s, first + MIN_DURATION_S["rmssd_ms"]
        if media_s + 1e-9 < self._next_update:
            return None
        while self._next_update <= media_s + 0.5 * self.update_s:  # after a stall: no estimate twice at once
            self._next_update += self.update_s
        return self._estimate(media_s, dropped)

    def _mean_rgb(self, crop: np.ndarray) -> np.ndarray:
        """(3,) mean skin colour; the previous frame's where the crop holds no skin pixel."""
        try:
            rgb = mean_rgb_trace(crop[None], skin=self.skin)[:, 0]  # (3,)
        except ValueError:
            if self._last_rgb is None:
                rgb = crop.reshape(-1, 3).mean(axis=0, dtype=np.float64)
            else:
                rgb = self._last_rgb
        self._last_rgb = rgb
        return rgb

    # ---- estimates -------------------------------------------------------------------------------------
    def _run_predictor(self) -> None:
        """Run the model on its last crops and fill the samples of the frames it had not seen."""
        if self._unseen == 0:
            return
        clip = np.stack(self._crops)  # (T, S, S, 3)
        out = np.asarray(self.predictor(clip, self.fps), dtype=np.float64).reshape(-1)  # (T,)
        if out.shape != (len(clip),) or not np.isfinite(out).all():
            raise ValueError(f"predictor {self.method} returned {out.shape} values (finite: "
                             f"{bool(np.isfinite(out).all())}) for a clip of {len(clip)} frames; it must return "
                             "one finite value per frame")
        n_new = min(self._unseen, len(out))
        known = np.array([s[2] for s in list(self._samples)[-len(out):-n_new or None]], dtype=np.float64)
        new = _stitch(known[np.isfinite(known)], out, n_new)
        samples = list(self._samples)
        for i, value in zip(range(len(samples) - n_new, len(samples)), new):
            samples[i] = (samples[i][0], samples[i][1], float(value))
        self._samples.clear()
        self._samples.extend(samples)
        self._unseen = 0

    def _signal(self, span_s: float) -> tuple[np.ndarray, float, int, float]:
        """(L,) pulse on the uniform grid over the last ``span_s`` seconds, the span covered, the frames
        used and the longest gap between them (s)."""
        newest = self._samples[-1][0]
        chosen = [s for s in self._samples if s[0] > newest - span_s - 0.5 / self.fps and np.all(np.isfinite(s[2]))]
        times = np.array([s[0] for s in chosen])  # (N,)
        if self.predictor is None:
            rgb = _on_grid(times, np.stack([s[2] for s in chosen], axis=1), self.fps)  # (3, L)
            signal = get_baseline(self.method)(rgb, self.fps)  # (L,)
        else:
            signal = _on_grid(times, np.array([s[2] for s in chosen]), self.fps)  # (L,)
        gap = float(np.max(np.diff(times))) if times.size > 1 else 0.0
        return signal, float(times[-1] - times[0]), len(chosen), gap

    def _estimate(self, media_s: float, dropped: int) -> LiveEstimate:
        if self.predictor is not None:
            self._run_predictor()
        signal, span, frames, gap = self._signal(self.window_s)
        pulse, hr, snr = overall_hr(signal, self.fps, self.band, integrated=self._integrated)
        hrv = self._update_hrv(media_s)
        captured = self._samples[-1][1]
        return LiveEstimate(time_s=media_s, hr_bpm=hr, snr_db=snr, window_s=span, frames=frames,
                            latency_s=time.monotonic() - captured, dropped=dropped, max_gap_s=gap, hrv=hrv)

    def _update_hrv(self, media_s: float) -> HRV | None:
        if self.hrv_window_s is None or media_s + 1e-9 < self._next_hrv:
            return None
        while self._next_hrv <= media_s + 1e-9:
            self._next_hrv += self.hrv_every_s
        signal, _, _, _ = self._signal(self.hrv_window_s)
        pulse, hr, _ = overall_hr(signal, self.fps, self.band, integrated=self._integrated)
        try:
            _, self.hrv = analyse_hrv(pulse, self.fps, hr_bpm=hr, hr_band=self.band)
        except ValueError:  # no beats to speak of (a flat or broken signal): no HRV this time
            return None
        return self.hrv


def _cropped(buffer: FrameBuffer, cropper: FaceCropper, source: str, arrived: deque[TimedFrame]):
    """The face crops of the buffered frames, in order; ``arrived`` holds the frames whose crop is not
    out yet (the tracker holds a few frames until its next detection)."""
    def images():
        while (item := buffer.get()) is not None:
            arrived.append(item)
            yield item.image

    return cropper.crop(images(), source=source)


def run_live(source: LiveSource, estimator: RollingHR, *, cropper: FaceCropper | None = None,
             buffer_frames: int | None = None, on_estimate: Callable[[LiveEstimate], None] | None = None,
             on_frame: Callable[[TimedFrame, np.ndarray, LiveEstimate | None], bool | None] | None = None,
             max_seconds: float | None = None) -> LiveSummary:
    """Run until the source ends, ``max_seconds`` of media time, ``on_frame`` returns True, or Ctrl-C.

    Args:
        source: the frames (:func:`~sspd.infer.live_source.open_live_source`, or any
            :class:`~sspd.infer.live_source.LiveSource`).
        estimator: the :class:`RollingHR`.
        cropper: the face tracker (default: ``every`` strategy, detection every 10 frames as in sspd
            predict, crops of the estimator's ``crop_size``; the tracker holds frames until its next
            detection, which adds up to ``every_n`` frames of latency).
        buffer_frames: frames held between capture and processing before the oldest is dropped (default:
            one second of frames); a source that is not ``live`` (a file read as fast as it is consumed)
            waits for room instead.
        on_estimate: called with each estimate as it is made.
        on_frame: called with each processed frame, its face box (4,) and the latest estimate; returning
            True stops the run (a window's "q" key).

    Returns:
        The :class:`LiveSummary` (frames received, dropped, processed; estimates; latency percentiles).
    """
    cropper = cropper or FaceCropper(size=estimator.crop_size)
    if cropper.strategy == "median":
        raise ValueError("the median face strategy reads a video twice; live mode needs 'every' or 'first'")
    if cropper.size != estimator.crop_size:
        raise ValueError(f"the cropper makes {cropper.size}px crops but the estimator expects {estimator.crop_size}")
    buffer = FrameBuffer(buffer_frames or max(1, int(round(source.fps))), drop=getattr(source, "live", True))
    summary = LiveSummary(source=source.name, method=estimator.method, fps=estimator.fps)
    thread, arrived = CaptureThread(source, buffer), deque()
    start, latest = time.monotonic(), None
    thread.start()
    try:
        for crop, box in _cropped(buffer, cropper, source.name, arrived):
            item = arrived.popleft()
            summary.processed += 1
            estimate = estimator.push(crop, item.media_s, item.captured_s, dropped=buffer.dropped)
            if estimate is not None:
                latest = estimate
                summary.estimates.append(estimate)
                if on_estimate is not None:
                    on_estimate(estimate)
            if on_frame is not None and on_frame(item, box, latest):
                break
            if max_seconds is not None and item.media_s >= max_seconds:
                break
    except KeyboardInterrupt:
        pass
    finally:
        thread.stop()
        thread.join(timeout=5.0)
        source.close()
        summary.received, summary.dropped = buffer.received, buffer.dropped
        summary.wall_s = time.monotonic() - start
    return summary
