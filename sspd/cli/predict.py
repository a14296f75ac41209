"""``sspd predict``: heart rate from any face video (or folder of frames) a user has."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_FACE_FLAGS = ("strategy", "every_n", "no_face", "enlarge", "detect_width")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="heart rate from a face video: HR over time, overall HR, waveform, plot",
        description=(
            "Estimate the pulse and heart rate of one face video with a training-free method: detect and "
            "crop the face frame by frame, take the mean skin colour, recover the pulse (POS by default), "
            "and measure HR over sliding windows and over the whole video. Writes waveform.csv, hr.csv, "
            "prediction.json and prediction.png to --out. The video is streamed, never held in memory, "
            "so any length works. (Trained SSPD checkpoints will plug in here once training writes them.)"))
    p.add_argument("video", metavar="VIDEO", help="a video file, or a folder of frame images (sorted by "
                                                  "name, frame2 before frame10; needs --fps)")
    p.add_argument("--method", default="pos",
                   help="training-free method: pos (default), chrom, lgi, pbv, ica, green "
                        "(green fails under changing light)")
    p.add_argument("--fps", type=float, help="frame rate in Hz: required for image folders and for videos "
                                             "whose container has none; overrides the container otherwise")
    p.add_argument("--out", help="output folder (default ./<video name>_sspd/)")
    p.add_argument("--json", action="store_true",
                   help="print the prediction as one JSON object on stdout and nothing else (progress and "
                        "warnings go to stderr)")
    p.add_argument("--window", type=float, default=10.0,
                   help="HR-over-time window in s (default 10: 2 bpm resolution on steady HR; shorter "
                        "follows changes faster but is noisier; at least 1/band-low)")
    p.add_argument("--stride", type=float, default=1.0, help="step between windows in s (default 1)")
    p.add_argument("--band", type=float, nargs=2, default=(0.75, 2.5), metavar=("LOW", "HIGH"),
                   help="HR search band in Hz (default 0.75 2.5 = 45-150 bpm; widen to 0.6 3.3 for "
                        "exercise or infants)")
    p.add_argument("--skin", choices=("ycrcb", "all"), default="ycrcb",
                   help="pixels of the face crop averaged: ycrcb skin-colour pixels (default; drops hair, "
                        "eyes, background) or all")
    p.add_argument("--strategy", choices=("first", "every", "median"), default="every",
                   help="face detection: every N frames, smoothed and interpolated (default); first face "
                        "only (fastest, still subjects); median box (reads the video twice)")
    p.add_argument("--every-n", type=int, default=10, help="detect every N frames (default 10; 1 for fast "
                                                           "head motion, slower)")
    p.add_argument("--no-face", choices=("reuse", "centre", "error"), default="reuse",
                   help="frames where no face is found: reuse the last face box (default), a centred box, "
                        "or stop with an error; the JSON counts the frames of each kind")
    p.add_argument("--enlarge", choices=("square1.5", "sspd"), default="square1.5",
                   help="crop box around the face: square1.5 = 1.5x the detection (default); sspd = 1.6x, "
                        "moved up towards the forehead")
    p.add_argument("--detect-width", type=int, default=320,
                   help="downscale frames to this width for detection (default 320; larger finds smaller "
                        "faces, slower)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _out_dir(args: argparse.Namespace) -> Path:
    if args.out:
        return Path(args.out)
    video = Path(args.video).expanduser()
    return Path.cwd() / f"{video.stem if video.is_file() else video.resolve().name}_sspd"


def _summary(result: dict, files: dict) -> str:
    """The human-readable report printed without --json."""
    median = result["hr_window_median_bpm"]
    windows = (f"median of {len(result['windows'])} windows of {result['protocol']['window_s']:g} s: "
               f"{median:.1f} bpm" if median is not None else "no full window")
    face = result["face"]
    lines = [f"{result['source']}: {result['n_frames']} frames at {result['fps']:g} fps "
             f"({result['duration_s']:.1f} s), method {result['method']}",
             f"HR {result['hr_bpm']:.1f} bpm (spectral peak of the whole signal; {windows})",
             f"face found in {face['frames_with_face']} of {face['frames']} frames"]
    lines += [f"note: {note}" for note in result["notes"]]
    lines.append("wrote " + ", ".join(str(path) for path in files.values()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sspd.data.face import FaceCropper
    from sspd.eval.predict import BASELINE_CROP_SIZE, predict_video, write_prediction

    cropper = FaceCropper(size=BASELINE_CROP_SIZE, **{name: getattr(args, name) for name in _FACE_FLAGS})
    bar = tqdm(unit="frame", desc="predict", disable=args.no_progress, file=sys.stderr)

    def progress(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        prediction = predict_video(args.video, method=args.method, fps=args.fps, window_s=args.window,
                                   stride_s=args.stride, band=tuple(args.band), cropper=cropper,
                                   skin=None if args.skin == "all" else args.skin, progress=progress)
    finally:
        bar.close()
    files = write_prediction(prediction, _out_dir(args))
    result = json.loads(files["json"].read_text(encoding="utf-8"))
    print(json.dumps(result, indent=1) if args.json else _summary(result, files))
    return 0
