"""``sspd predict``: heart rate from any face video (or folder of frames) a user has."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

_FACE_FLAGS = ("strategy", "every_n", "no_face", "enlarge", "detect_width")
_CHECKPOINT_FLAGS = {"which": "online", "checkpoint_file": "last", "device": "auto",
                     "format": "auto"}  # name → default
#: The library's argument names in error messages → this command's flags (pattern, replacement).
_FLAG_WORDS = ((r"\bskin=None\b", "--skin all"), (r"\bno_face='(\w+)' or '(\w+)'", r"--no-face \1 or \2"),
               (r"\bno_face='(\w+)'", r"--no-face \1"), (r"\bmethod='(\w+)' or '(\w+)'", r"--method \1 or \2"),
               (r"\bmethod='(\w+)'", r"--method \1"), (r"\bwindow_s=(\S+)", r"--window \1"),
               (r"\bwindow_s\b", "--window"), (r"\bstride_s\b", "--stride"),
               (r"with fps= \(sspd predict --fps HZ\)", "with --fps HZ"),
               (r"raise the band's lower edge", "raise the band's lower edge (--band LOW HIGH)"),
               (r"or raise the band\b", "or raise the band (--band LOW HIGH)"))


def in_flags(message: str) -> str:
    """A library error message with argument names replaced by this command's flags."""
    for pattern, replacement in _FLAG_WORDS:
        message = re.sub(pattern, replacement, message)
    return message


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="heart rate from a face video: HR over time, overall HR, waveform, plot",
        description=(
            "Estimate the pulse and heart rate of one face video: detect and crop the face frame by "
            "frame, then recover the pulse with a training-free method on the mean skin colour (POS by "
            "default) or with a trained SSPD network (--checkpoint, a run of sspd pretrain or sspd "
            "finetune), and measure HR over sliding windows and over the whole video. Writes waveform.csv, "
            "hr.csv, prediction.json and prediction.png to --out. The video is streamed, never held in "
            "memory, so any length works."))
    p.add_argument("video", metavar="VIDEO", help="a video file, or a folder of frame images (sorted by "
                                                  "name, frame2 before frame10; needs --fps)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--method",
                        help="training-free method: pos (default), chrom, lgi, pbv, ica, green "
                             "(green fails under changing light)")
    source.add_argument("--checkpoint", metavar="RUN_DIR|CKPT",
                        help="a trained SSPD network instead: a run directory of sspd pretrain or sspd "
                             "finetune, or one of their .pt checkpoints. It runs on clips of its training "
                             "length; the face crop is the run's data.box_size (else the network's input). "
                             "An rPPG-Toolbox PhysNet or PhysFormer .pth is recognised by its keys and runs on "
                             "the toolbox's input (128 frames at 72x72 or 160 at 128x128, DiffNormalized, "
                             "output integrated)")
    p.add_argument("--which", choices=("online", "target"),
                   help="with --checkpoint: the online network (default, trained by gradients) or its EMA "
                        "target")
    p.add_argument("--checkpoint-file", choices=("last", "best"),
                   help="with --checkpoint RUN_DIR: checkpoints/last.pt (default) or best.pt")
    p.add_argument("--format", choices=("auto", "sspd", "rppg-toolbox"),
                   help="with --checkpoint: what the file is (default auto: recognised by its contents)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"),
                   help="with --checkpoint: where the network runs (default auto: CUDA when available)")
    p.add_argument("--fps", type=float, help="frame rate in Hz: required for image folders and for videos "
                                             "whose container has none; overrides the container otherwise, frames then "
                                             "taken as equally spaced (without it, each frame's own timestamp "
                                             "is used, so variable-frame-rate phone videos are timed right)")
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
                   help="pixels of the face crop averaged by the training-free methods: ycrcb "
                        "skin-colour pixels (default; drops hair, eyes, background) or all")
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
    """The output folder, checked to be writable as a folder before the video is read."""
    from sspd.cli.paths import check_out_folder

    if args.out:
        return check_out_folder(args.out)
    video = Path(args.video).expanduser()
    return check_out_folder(Path.cwd() / f"{video.stem if video.is_file() else video.resolve().name}_sspd",
                            "the default output folder (--out)")


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
    model = result["protocol"].get("model")
    if model:
        lines.insert(1, f"model {model['checkpoint']} ({model['which']} network, step {model['step']}, "
                        f"{model['backbone']} on {model['crop_size']}px face crops)")
    lines += [f"note: {note}" for note in result["notes"]]
    lines.append("wrote " + ", ".join(str(path) for path in files.values()))
    return "\n".join(lines)


def _predictor(args: argparse.Namespace):
    """The checkpoint's network as a ClipPredictor, or None for a training-free method."""
    if args.checkpoint is None:
        given = [f"--{name.replace('_', '-')}" for name in _CHECKPOINT_FLAGS if getattr(args, name) is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: these options choose a checkpoint's network; use them with "
                             "--checkpoint RUN_DIR|CKPT, or drop them for --method")
        return None
    from sspd.infer.checkpoint_predictor import CheckpointPredictor

    which, which_file, device, format = (getattr(args, name) or default
                                         for name, default in _CHECKPOINT_FLAGS.items())
    return CheckpointPredictor(args.checkpoint, which=which, which_file=which_file, device=device, format=format)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sspd.data.face import FaceCropper
    from sspd.infer.predict import BASELINE_CROP_SIZE, predict_video, write_prediction

    out = _out_dir(args)
    predictor = _predictor(args)
    size = BASELINE_CROP_SIZE if predictor is None else predictor.crop_size
    cropper = FaceCropper(size=size, **{name: getattr(args, name) for name in _FACE_FLAGS})
    bar = tqdm(unit="frame", desc="predict", disable=args.no_progress, file=sys.stderr)

    def progress(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        prediction = predict_video(args.video, method=args.method, predictor=predictor, fps=args.fps,
                                   window_s=args.window, stride_s=args.stride, band=tuple(args.band), cropper=cropper,
                                   skin=None if args.skin == "all" else args.skin, progress=progress)
    except ValueError as err:
        raise ValueError(in_flags(str(err))) from err
    finally:
        bar.close()
    files = write_prediction(prediction, out)
    result = json.loads(files["json"].read_text(encoding="utf-8"))
    print(json.dumps(result, indent=1) if args.json else _summary(result, files))
    return 0
