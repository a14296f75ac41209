"""``sspd live``: heart rate every second from a camera, a stream or a video file played at its own pace."""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Any, TextIO

_CSV_FIELDS = ("time_s", "hr_bpm", "snr_db", "window_s", "frames", "max_gap_s", "latency_s", "dropped",
               "hrv_window_s", "sdnn_ms", "rmssd_ms", "pnn50", "lf_hf")
_MAX_GAP_S = 0.2  # a gap of dropped frames longer than half the shortest beat (150 bpm) breaks the pulse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live", help="live heart rate from a camera, a stream or a video file: one estimate per second",
        description=(
            "Track the face in frames as they arrive and print an HR estimate with its SNR every --every "
            "seconds, measured on the last --window seconds, plus a slower HRV figure (RMSSD, SDNN, pNN50, "
            "LF/HF) once enough beats are in. Frames are read on their own thread; when the method is slower "
            "than the camera the oldest frames are dropped (never queued without bound) and the output says "
            "how many. At the end (the stream ends, --duration, Ctrl-C or q in the --show window) it prints "
            "the latency from a frame's capture to the HR that includes it (median and 95th percentile). "
            "Works headless; --csv/--jsonl write each estimate as it is made."))
    p.add_argument("source", metavar="SOURCE",
                   help="a camera index (0 is usually the built-in camera), a video file, or a stream URL "
                        "(rtsp://, http://...) that OpenCV's FFmpeg backend can read")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--method", help="training-free method: pos (default), chrom, lgi, pbv, ica, green")
    group.add_argument("--checkpoint", metavar="RUN_DIR|CKPT",
                       help="a trained SSPD network instead (a run directory of sspd pretrain/finetune or a .pt "
                            "checkpoint); it runs once per estimate on its last clip of frames")
    p.add_argument("--which", choices=("online", "target"), default="online",
                   help="with --checkpoint: the online network (default) or its EMA target")
    p.add_argument("--checkpoint-file", choices=("last", "best"), default="last",
                   help="with --checkpoint RUN_DIR: checkpoints/last.pt (default) or best.pt")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="with --checkpoint: where the network runs (default auto)")
    p.add_argument("--realtime", action="store_true",
                   help="play a video file at its own frame rate, as a camera would deliver it (default: as "
                        "fast as it can be processed). Cameras and streams always run at their own pace")
    p.add_argument("--fps", type=float,
                   help="nominal frame rate in Hz when the source reports none or a wrong one (cameras that "
                        "report none are taken as 30)")
    p.add_argument("--window", type=float, default=10.0,
                   help="HR window in s (default 10; the first estimate comes after one window)")
    p.add_argument("--every", type=float, default=1.0, help="seconds between estimates (default 1)")
    p.add_argument("--band", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="HR search band in Hz (default 0.667 3.0 = 40-180 bpm)")
    p.add_argument("--hrv-window", type=float, default=60.0,
                   help="HRV window in s (default 60; RMSSD needs 30 s of beats, SDNN and pNN50 60 s, LF/HF "
                        "120 s); 0 turns HRV off")
    p.add_argument("--hrv-every", type=float, default=10.0, help="seconds between HRV updates (default 10)")
    p.add_argument("--buffer", type=float, default=1.0,
                   help="seconds of frames held between capture and processing before the oldest are dropped "
                        "(default 1)")
    p.add_argument("--every-n", type=int, default=10,
                   help="face detection every N frames (default 10; the tracker holds up to N frames until its "
                        "next detection, so a smaller N lowers the latency, but moves the box more often: on "
                        "synthetic videos every 5 frames made the first windows of a 53 bpm face read 106)")
    p.add_argument("--detect-width", type=int, default=320,
                   help="downscale frames to this width for face detection (default 320)")
    p.add_argument("--duration", type=float, help="stop after this many seconds of video (default: until the "
                                                  "source ends or Ctrl-C)")
    p.add_argument("--csv", metavar="FILE", help="append each estimate to this CSV file as it is made")
    p.add_argument("--jsonl", metavar="FILE", help="write each estimate as one JSON line as it is made")
    p.add_argument("--show", action="store_true",
                   help="a window with the video, the face box and the HR (needs a display and an OpenCV "
                        "build with windows; q closes it)")
    p.set_defaults(func=run)


def _check_display() -> None:
    """Fail in one line, before any frame is read, when no window can be shown."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ValueError("--show needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set: run without "
                         "--show (the terminal line and --csv/--jsonl work headless)")
    import cv2

    try:
        cv2.namedWindow("sspd live")
    except cv2.error:
        raise ValueError("--show: this OpenCV build has no window support (opencv-python-headless): install "
                         "opencv-python, or run without --show") from None


def _show(frame, box, estimate) -> bool:
    """Draw the frame, its face box and the latest HR; True when q or Esc was pressed."""
    import cv2

    image = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
    x0, y0, x1, y1 = (int(v) for v in box)
    cv2.rectangle(image, (x0, y0), (x1, y1), (0, 255, 0), 2)
    text = ("waiting for a full window" if estimate is None
            else f"{estimate.hr_bpm:.0f} bpm  SNR {estimate.snr_db:.1f} dB")
    cv2.putText(image, text, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 255, 255), 2)
    cv2.imshow("sspd live", image)
    return (cv2.waitKey(1) & 0xFF) in (ord("q"), 27)


def _hrv_text(hrv) -> str:
    if hrv is None:
        return ""
    parts = [f"{name} {value:.0f} {unit}" for name, value, unit in
             (("RMSSD", hrv.rmssd_ms, "ms"), ("SDNN", hrv.sdnn_ms, "ms"), ("pNN50", hrv.pnn50, "%"))
             if value is not None]
    if hrv.lf_hf is not None:
        parts.append(f"LF/HF {hrv.lf_hf:.2f}")
    return f"  | HRV over {hrv.duration_s:.0f} s: " + (", ".join(parts) if parts else next(iter(hrv.reasons.values())))


def _line(estimate) -> str:
    gap = (f"  UNRELIABLE: a {estimate.max_gap_s:.2f} s gap of dropped frames" if estimate.max_gap_s > _MAX_GAP_S
           else "")
    return (f"t {estimate.time_s:7.1f} s  HR {estimate.hr_bpm:6.1f} bpm  SNR {estimate.snr_db:5.1f} dB  "
            f"latency {estimate.latency_s:5.2f} s  dropped {estimate.dropped}" + gap + _hrv_text(estimate.hrv))


def _row(estimate) -> dict[str, Any]:
    hrv = estimate.hrv
    row = {k: v for k, v in estimate.as_dict().items() if k in _CSV_FIELDS}
    row.update({"hrv_window_s": None if hrv is None else hrv.duration_s,
                **{k: getattr(hrv, k) if hrv is not None else None for k in ("sdnn_ms", "rmssd_ms", "pnn50", "lf_hf")}})
    return {k: "" if v is None else v for k, v in row.items()}


class _Writers:
    """The --csv and --jsonl files, each estimate written and flushed as it is made."""

    def __init__(self, csv_path: str | None, jsonl_path: str | None):
        self.files: list[TextIO] = []
        self.csv = self.jsonl = None
        if csv_path:
            handle = self._open(csv_path, "--csv")
            self.csv = csv.DictWriter(handle, fieldnames=_CSV_FIELDS)
            self.csv.writeheader()
        if jsonl_path:
            self.jsonl = self._open(jsonl_path, "--jsonl")

    def _open(self, path: str, flag: str) -> TextIO:
        try:
            handle = open(path, "w", encoding="utf-8", newline="")
        except OSError as err:
            raise ValueError(f"{flag} {path}: cannot write it ({err.strerror}); choose another file") from None
        self.files.append(handle)
        return handle

    def write(self, estimate) -> None:
        if self.csv is not None:
            self.csv.writerow(_row(estimate))
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(estimate.as_dict()) + "\n")
        for handle in self.files:
            handle.flush()

    def close(self) -> None:
        for handle in self.files:
            handle.close()


def _estimator(args: argparse.Namespace, fps: float):
    from sspd.infer.live import RollingHR

    predictor = None
    if args.checkpoint is not None:
        from sspd.infer.checkpoint_predictor import build_predictor

        predictor = build_predictor(args.checkpoint, which=args.which, which_file=args.checkpoint_file,
                                    device=args.device)
    return RollingHR(fps=fps, method=args.method, predictor=predictor, window_s=args.window, update_s=args.every,
                     band=_band(args.band), hrv_window_s=args.hrv_window or None, hrv_every_s=args.hrv_every)


def _summary_lines(summary) -> list[str]:
    median, p95 = summary.latency_s(50), summary.latency_s(95)
    latency = (f"latency from capture to HR: median {median:.3f} s, 95th percentile {p95:.3f} s"
               if median is not None else "no estimate (the run was shorter than one window)")
    dropped = f"{summary.dropped} dropped" + (" (processing was slower than the source; the signal is sampled "
                                              "at the kept frames' timestamps)" if summary.dropped else "")
    return [f"{summary.source}: {summary.received} frames received, {summary.processed} processed, {dropped}, "
            f"{len(summary.estimates)} estimates in {summary.wall_s:.1f} s, method {summary.method}", latency]


def run(args: argparse.Namespace) -> int:
    from sspd.data.face import FaceCropper
    from sspd.infer.live import run_live
    from sspd.infer.live_source import open_live_source

    if args.show:
        _check_display()
    if args.buffer <= 0:
        raise ValueError(f"--buffer must be > 0 s, got {args.buffer}")
    source = open_live_source(args.source, realtime=args.realtime, fps=args.fps)
    try:
        estimator = _estimator(args, source.fps)
        trained = getattr(estimator.predictor, "input", None)  # the model's own face-box enlargement, if recorded
        cropper = FaceCropper(size=estimator.crop_size, every_n=args.every_n, detect_width=args.detect_width,
                              **({"enlarge": trained.enlarge} if trained is not None and trained.enlarge else {}))
        writers = _Writers(args.csv, args.jsonl)
    except BaseException:
        source.close()
        raise
    tty = sys.stdout.isatty()

    def on_estimate(estimate) -> None:
        writers.write(estimate)
        print(("\r" if tty else "") + _line(estimate), end="" if tty else "\n", flush=True)

    print(f"{source.name}: {source.fps:g} fps, method {estimator.method}; first HR after {args.window:g} s",
          file=sys.stderr)
    try:
        summary = run_live(source, estimator, cropper=cropper, buffer_frames=max(1, round(args.buffer * source.fps)),
                           on_estimate=on_estimate, on_frame=_show if args.show else None, max_seconds=args.duration)
    finally:
        writers.close()
    print(("\n" if tty and summary.estimates else "") + "\n".join(_summary_lines(summary)))
    return 0


def _band(band: list[float] | None) -> tuple[float, float]:
    """``--band LOW HIGH``, or the read-out band (:data:`sspd.signal.READOUT_BAND`, 40-180 bpm)."""
    from sspd.signal import READOUT_BAND

    return tuple(band) if band else READOUT_BAND
