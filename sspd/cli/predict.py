"""``sspd predict``: heart rate from any face video (or folder of frames) a user has."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

_FACE_FLAGS = ("strategy", "every_n", "no_face", "enlarge", "detect_width")
DEFAULT_ENLARGE = "square1.5"  # --enlarge without a model's own
_CHECKPOINT_FLAGS = {"which": "online", "checkpoint_file": "last", "device": "auto",
                     "format": "auto"}  # name → default
#: The library's argument names in error messages → this command's flags (pattern, replacement).
_FLAG_WORDS = ((r"\bskin=None\b", "--skin all"), (r"\bno_face='(\w+)' or '(\w+)'", r"--no-face \1 or \2"),
               (r"\bno_face='(\w+)'", r"--no-face \1"), (r"\bmethod='(\w+)' or '(\w+)'", r"--method \1 or \2"),
               (r"\bmethod='(\w+)'", r"--method \1"), (r"\bwindow_s=(\S+)", r"--window \1"),
               (r"\bwindow_s\b", "--window"), (r"\bstride_s\b", "--stride"),
               (r"with fps= \(sspd predict --fps HZ\)", "with --fps HZ"),
               (r"raise the band's lower edge", "raise the band's lower edge (--band LOW HIGH)"),
               (r"or raise the band\b", "or raise the band (--band LOW HIGH)"),
               (r"\bloop\.device is 'cuda'", "--device cuda was given"),
               (r"\buse loop\.device=auto or cpu", "use --device auto or cpu"))


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
    p.add_argument("--band", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="HR search band in Hz (default 0.667 3.0 = 40-180 bpm, resting athletes to exercise; "
                        "0.6 3.3 for infants; 0.75 2.5 = 45-150 bpm, the paper's band, on noisy video)")
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
                        "or stop with an error; the JSON counts the frames of each kind. A video with no face "
                        "at all still gives an HR (an already cropped face is fine) with a warning on stderr; "
                        "error makes it exit 2")
    p.add_argument("--enlarge", choices=("square1.5", "sspd"),
                   help="crop box around the face: square1.5 = 1.5x the detection (default); sspd = 1.6x, "
                        "moved up towards the forehead. With --checkpoint the default is the enlargement the "
                        "model's training crops were made with, when its checkpoint records one")
    p.add_argument("--detect-width", type=int, default=320,
                   help="downscale frames to this width for detection (default 320; larger finds smaller "
                        "faces, slower)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


#: what sspd predict writes into its output folder
_OUTPUTS = ("prediction.json", "waveform.csv", "hr.csv", "prediction.png")


def _source_of(folder: Path) -> Path | None:
    """The video an earlier prediction in ``folder`` was made from (its prediction.json), else None."""
    try:
        return Path(json.loads((folder / "prediction.json").read_text(encoding="utf-8"))["source"]).resolve()
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _check_predict_folder(folder: Path, video: Path, where: str) -> None:
    """Refuse ``folder`` when it holds the user's files of the names predict writes, or the prediction of
    another video (two UBFC subjects are both ``vid.avi``: the second must not replace the first)."""
    from sspd.files import check_folder

    check_folder(folder, "predict", outputs=_OUTPUTS, where=where,
                 legacy=lambda f: _source_of(f) is not None)
    previous = _source_of(folder)
    if previous is not None and previous != video:
        raise ValueError(f"{folder} holds the prediction of another video ({previous}); choose another {where}")


def _out_dir(args: argparse.Namespace) -> Path:
    """The output folder, checked before the video is read: ``--out``, or ``./<video name>_sspd/``
    numbered ``_2``, ``_3``... when that holds another video's prediction or the user's files."""
    from sspd.cli.paths import check_out_folder

    video = Path(args.video).expanduser().resolve()
    if args.out:
        folder = check_out_folder(args.out)
        _check_predict_folder(folder, video, "--out")
        return folder
    base = Path.cwd() / f"{video.stem if video.is_file() else video.name}_sspd"
    for number in range(1, 1000):
        folder = check_out_folder(base if number == 1 else base.with_name(f"{base.name}_{number}"),
                                  "the default output folder (--out)")
        try:
            _check_predict_folder(folder, video, "--out")
        except ValueError:
            continue
        return folder
    raise ValueError(f"{base}_2 to _999 all hold other predictions; pass --out")


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
    hrv = result.get("hrv")
    if hrv:
        figures = [f"{name} {hrv[key]:.3g}{unit}" for name, key, unit in (("RMSSD", "rmssd_ms", " ms"),
                   ("SDNN", "sdnn_ms", " ms"), ("pNN50", "pnn50", " %"), ("LF/HF", "lf_hf", "")) if hrv[key] is not None]
        lines.append(f"HRV from {hrv['n_beats']} beats over {hrv['duration_s']:.0f} s: "
                     + (", ".join(figures) or "none: " + next(iter(hrv["reasons"].values()))))
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
    from sspd.infer.checkpoint_predictor import build_predictor

    which, which_file, device, format = (getattr(args, name) or default
                                         for name, default in _CHECKPOINT_FLAGS.items())
    try:
        return build_predictor(args.checkpoint, which=which, which_file=which_file, device=device, format=format)
    except ValueError as err:
        raise ValueError(in_flags(str(err))) from None


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sspd.data.face import FaceCropper
    from sspd.files import claim_folder
    from sspd.infer.predict import BASELINE_CROP_SIZE, predict_video, write_prediction

    out = _out_dir(args)
    predictor = _predictor(args)
    size = BASELINE_CROP_SIZE if predictor is None else predictor.crop_size
    trained = None if predictor is None else predictor.input.enlarge  # the model's own crops, when recorded
    face = {name: getattr(args, name) for name in _FACE_FLAGS}
    face["enlarge"] = face["enlarge"] or trained or DEFAULT_ENLARGE
    cropper = FaceCropper(size=size, **face)
    bar = tqdm(unit="frame", desc="predict", disable=args.no_progress, file=sys.stderr)

    def progress(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        prediction = predict_video(args.video, method=args.method, predictor=predictor, fps=args.fps,
                                   window_s=args.window, stride_s=args.stride, band=_band(args.band), cropper=cropper,
                                   skin=None if args.skin == "all" else args.skin, progress=progress)
    except ValueError as err:
        raise ValueError(in_flags(str(err))) from err
    finally:
        bar.close()
    warnings = _warnings(args, prediction)
    prediction.notes.extend(w for w in warnings if w.startswith("the run of"))  # no face: already a note
    claim_folder(out, "predict", outputs=_OUTPUTS, where="--out", legacy=lambda f: _source_of(f) is not None)
    files = write_prediction(prediction, out)
    result = json.loads(files["json"].read_text(encoding="utf-8"))
    print(json.dumps(result, indent=1) if args.json else _summary(result, files))
    for warning in warnings:   # loud, on stderr (also in prediction.json's notes)
        print(f"sspd predict: warning: {warning}", file=sys.stderr)
    return 0


def _warnings(args: argparse.Namespace, prediction) -> list[str]:
    """What makes the printed HR untrustworthy: no face anywhere in the video, or a checkpoint whose run
    its own health check found not learning the pulse (or collapsed)."""
    warnings = []
    if prediction.face.found == 0:
        warnings.append(f"no face was detected in {args.video}: the HR is that of a centred box of the frame, "
                        "not of a face, unless the video is an already cropped face (--no-face error makes "
                        "this an error)")
    if args.checkpoint is not None:
        verdict = _run_verdict(Path(args.checkpoint).expanduser())
        if verdict is not None and verdict["verdict"] in ("not learning", "collapsed"):
            reason = f": {verdict['verdict_reason']}" if verdict.get("verdict_reason") else ""
            warnings.append(f"the run of {args.checkpoint} is '{verdict['verdict']}' by its own health check"
                            f"{reason}; its HR is not a pulse measurement (see sspd report)")
    return warnings


def _run_verdict(checkpoint: Path) -> dict | None:
    """The verdict of the run a checkpoint belongs to (its health.json and collapse.json), None when the
    checkpoint is not in a run directory or the run has no readable record."""
    from sspd.diagnostics.health import run_verdict
    from sspd.engine.runfiles.run_dir import COLLAPSE, HEALTH, read_json

    run_dir = checkpoint.parent.parent if checkpoint.is_file() and checkpoint.parent.name == "checkpoints" \
        else checkpoint
    try:
        collapse, health = read_json(run_dir, COLLAPSE), read_json(run_dir, HEALTH)
    except ValueError:
        return None
    return run_verdict(collapse, health) if collapse or health else None


def _band(band: list[float] | None) -> tuple[float, float]:
    """``--band LOW HIGH``, or the read-out band (:data:`sspd.signal.READOUT_BAND`, 40-180 bpm)."""
    from sspd.signal import READOUT_BAND

    return tuple(band) if band else READOUT_BAND
