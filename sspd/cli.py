"""The ``sspd`` command. Config in, building blocks out: the only place config objects live.

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments (help strings
that teach: defaults, units, when to change them) and ``_run_<name>(args) -> int`` calls the library.
Register a new subcommand by adding its ``_add_`` function to ``_SUBCOMMANDS``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

import sspd

log = logging.getLogger("sspd")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sspd",
        description=(
            "Self-supervised remote photoplethysmography: recover the pulse and heart rate from face "
            "video with no labels (SSPD distillation, linear probes, collapse reports, training-free "
            "baselines). Every command runs on the embedded synthetic data when no dataset is given."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sspd {sspd.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sspd`` console script; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        # Bad input is the user's to fix: say what and where, without a traceback.
        print(f"sspd {args.command}: error: {err}", file=sys.stderr)
        return 2


def _add_preprocess(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preprocess", help="cache face crops and aligned labels of a dataset (resumable, parallel)",
        description=(
            "Turn a dataset into the face-crop cache that training reads: per video a memory-mapped uint8 "
            "array of face crops, the label at the frame times, the boxes and a manifest. Interrupt it at "
            "any time: running it again skips finished videos and redoes partial ones; changing a crop "
            "setting redoes everything. Every failed video is named with its reason at the end (exit "
            "status 1 if any failed). Flags override the values of --config."))
    p.add_argument("--config", help="YAML file of preprocess settings (keys: the long flags below with _, "
                                    "plus options: {...} for the dataset reader)")
    p.add_argument("--dataset", help="ubfc-rppg | pure | mmpd | vipl-hr | generic | synthetic (default; "
                                     "renders on the fly when --root is not given)")
    p.add_argument("--root", help="the dataset folder")
    p.add_argument("--out", help="the cache folder (required here or in --config)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a dataset reader option, VALUE read as YAML, e.g. version=2, subjects=[1,3], "
                        "filters={setup: [1, 2]}; repeatable")
    p.add_argument("--strategy", choices=("first", "every", "median"),
                   help="face detection: every N frames, smoothed and interpolated (default); first face "
                        "only (fastest, for still subjects); median box of the video (two decodes)")
    p.add_argument("--every-n", type=int, help="detect every N frames (default 10; 1 for fast motion)")
    p.add_argument("--smooth-window", type=int, help="median over the last K detections (default 3; 1 = off)")
    p.add_argument("--enlarge", choices=("square1.5", "sspd"),
                   help="crop box: square1.5 = 1.5× the face, same centre (default); sspd = 1.6×, moved "
                        "up 0.1× towards the forehead")
    p.add_argument("--size", type=int, help="crop side in pixels (default 151: the SSPD views cut 128 out "
                                            "of it; 128 or 72 for supervised backbones)")
    p.add_argument("--no-face", choices=("reuse", "centre", "error"),
                   help="frames where detection finds no face: reuse the last box (default), a centred box, "
                        "or fail the video; the manifest counts each case")
    p.add_argument("--pad", choices=("edge", "zero"), help="where the box leaves the frame: replicate the "
                                                           "border (default) or black")
    p.add_argument("--detect-width", type=int, help="downscale frames to this width for detection "
                                                    "(default 320; larger finds smaller faces, slower)")
    p.add_argument("--missing-frames", choices=("trim", "error"),
                   help="a video that decodes fewer frames than labelled: trim up to 5%% (default) or fail")
    p.add_argument("--workers", type=int, help="worker processes, one video each (default min(4, CPUs)); "
                                               "peak memory grows with it")
    p.add_argument("--limit", type=int, help="process at most N videos this run (the rest stay pending)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_preprocess)


_PREPROCESS_FLAGS = ("dataset", "root", "out", "strategy", "every_n", "smooth_window", "enlarge", "size",
                     "no_face", "pad", "detect_width", "missing_frames", "workers")


def _preprocess_config(args: argparse.Namespace):
    """The YAML config (if any) with the flags given on the command line applied over it."""
    import yaml

    from sspd.data.preprocess_config import PreprocessConfig

    config = PreprocessConfig.from_yaml(args.config) if args.config else PreprocessConfig()
    changes = {k: getattr(args, k) for k in _PREPROCESS_FLAGS if getattr(args, k) is not None}
    options = dict(config.options)
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--option {item!r}: expected KEY=VALUE, e.g. --option version=2")
        options[key.strip()] = yaml.safe_load(value)
    config = config.replace(**changes, options=options)
    if not config.out:
        raise ValueError("no output folder: pass --out DIR (or out: in the --config file)")
    return config


def _run_preprocess(args: argparse.Namespace) -> int:
    import yaml
    from tqdm import tqdm

    from sspd.data.preprocess import preprocess_dataset
    from sspd.data.readers import open_dataset

    config = _preprocess_config(args)
    records = open_dataset(config.dataset, config.root, **config.options)
    bar = tqdm(total=len(records), unit="video", desc="preprocess", disable=args.no_progress)
    try:
        summary = preprocess_dataset(records, config.out, config, limit=args.limit,
                                     progress=lambda result: (bar.set_postfix_str(result.name), bar.update(1)))
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: finished videos are kept; run the same command again to finish the rest "
              f"(see {config.out}/summary.json)", file=sys.stderr)
        return 130
    bar.close()
    with open(f"{config.out}/preprocess.yaml", "w", encoding="utf-8") as fh:  # rerun with --config
        yaml.safe_dump(config.to_dict(), fh, sort_keys=False)
    print(summary.format_report())
    return 1 if summary.failed else 0


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth", help="write a synthetic face-video dataset with a known pulse (UBFC-rPPG layout)",
        description=(
            "Render synthetic face videos with a known pulse into the UBFC-rPPG DATASET_2 layout "
            "(subject<N>/vid.avi lossless FFV1, ground_truth.txt with PPG, HR and timestamps at a 60 Hz "
            "oximeter rate, synthetic.json with the generating parameters), so every reader, "
            "preprocessing and evaluation path can run with no dataset. Same seed, same videos."))
    p.add_argument("--out", required=True, help="the dataset folder to create")
    p.add_argument("--subjects", type=int, default=3, help="number of videos, one per subject (default 3)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each video in s (default 10; "
                                                               "POS needs about 10 s for a 2 bpm estimate)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate in Hz (default 30)")
    p.add_argument("--size", default="320x240", help="WIDTHxHEIGHT (default 320x240; UBFC-rPPG is 640x480, "
                                                     "4x slower to render; the face is detectable from 320x240)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0); subject N uses child seed N")
    p.add_argument("--config", help="YAML mapping of SyntheticConfig knobs (see sspd.data.synthetic.config); "
                                    "the flags below override it")
    p.add_argument("--framing", choices=("scene", "crop"),
                   help="scene: a face in a room, half the frame high (default; for face detection); "
                        "crop: the face fills the frame, as an already-cropped face box")
    p.add_argument("--no-pulse", action="store_true",
                   help="negative clips: everything but the pulse (labels written as zeros)")
    p.add_argument("--flicker-hz", type=float,
                   help="add light flicker at this frequency, a periodic distractor (e.g. 1.5 inside the "
                        "0.7-4 Hz HR band)")
    p.add_argument("--flicker-amplitude", type=float,
                   help="relative flicker amplitude (default 0.01, ~3x the pulse in green)")
    p.add_argument("--hr-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="mean HR range in bpm, drawn per subject (default 45 150)")
    p.add_argument("--pulse-amplitude", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="relative pulse amplitude range (default 0.002 0.006; physiological 0.001-0.01)")
    p.add_argument("--motion", type=float, default=1.0,
                   help="scale every head-motion knob (default 1 = moderate; 0 = still head; 2 = double)")
    p.add_argument("--illumination", type=float, default=1.0,
                   help="scale illumination drift, gradient and specular changes (default 1; 0 = constant)")
    p.add_argument("--noise-std", type=float, help="sensor noise in grey levels (default 1.5)")
    p.add_argument("--overwrite", action="store_true", help="replace subject videos already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_synth)


def _synth_config(args: argparse.Namespace):
    """SyntheticConfig from --config (YAML) with the flags applied over it."""
    import yaml

    from sspd.data.synthetic import SyntheticConfig

    config = SyntheticConfig()
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            values = yaml.safe_load(fh) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{args.config}: expected a mapping of SyntheticConfig knobs")
        config = SyntheticConfig.from_dict(values)
    flags = {"framing": args.framing, "flicker_hz": args.flicker_hz,
             "flicker_amplitude": args.flicker_amplitude, "noise_std": args.noise_std,
             "hr_bpm": tuple(args.hr_range) if args.hr_range else None,
             "pulse_amplitude": tuple(args.pulse_amplitude) if args.pulse_amplitude else None,
             "no_pulse": True if args.no_pulse else None}
    config = config.replace(**{k: v for k, v in flags.items() if v is not None})
    return config.scale_nuisances(motion=args.motion, illumination=args.illumination)


def _run_synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sspd.data.synthetic import generate_dataset, parse_size
    from sspd.data.synthetic.generate import count_frames

    config = _synth_config(args)
    parse_size(args.size)  # a bad size fails before the progress bar appears
    total = args.subjects * count_frames(args.seconds, args.fps)
    with tqdm(total=total, unit="frame", desc="synth", disable=args.no_progress) as bar:
        infos = generate_dataset(args.out, subjects=args.subjects, seconds=args.seconds, fps=args.fps,
                                 size=args.size, seed=args.seed, config=config, overwrite=args.overwrite,
                                 on_progress=bar.update)
    first = infos[0]
    print(f"wrote {len(infos)} synthetic video(s) of {first['n_frames']} frames, {first['width']}x"
          f"{first['height']} at {first['fps']:g} fps, to {args.out} (UBFC-rPPG DATASET_2 layout)")
    for info in infos:
        hr = f"mean HR {info['mean_hr_bpm']:6.1f} bpm" if info["has_pulse"] else "no pulse"
        print(f"  {info['subject']:>10}  {hr}  skin {info['skin_tone']}")
    print(f"read it with: sspd.data.open_dataset('synthetic', '{args.out}') or --dataset ubfc-rppg")
    return 0


_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (_add_preprocess, _add_synth)
