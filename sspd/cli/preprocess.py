"""``sspd preprocess``: cache face crops and aligned labels of a dataset."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

#: The library's setting names in failure reasons → this command's flags (pattern, replacement).
_FLAG_WORDS = ((r"\bmissing_frames='(\w+)'", r"--missing-frames \1"), (r"\bno_face='(\w+)' or '(\w+)'",
                r"--no-face \1 or \2"), (r"\bno_face='(\w+)'", r"--no-face \1"),
               (r"raise max_missing_fraction\b", "raise max_missing_fraction (in the --config file)"))


def in_flags(text: str) -> str:
    """A report with setting names replaced by this command's flags."""
    for pattern, replacement in _FLAG_WORDS:
        text = re.sub(pattern, replacement, text)
    return text

def register(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--dataset", help="ubfc-rppg | pure | mmpd | vipl-hr | generic | videos (any folder of videos "
                                     "or image folders, recursive, no labels: --option image_fps=30 for image "
                                     "folders) | synthetic (default; renders on the fly when --root is not given)")
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
    p.set_defaults(func=run)


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


def run(args: argparse.Namespace) -> int:
    import yaml
    from tqdm import tqdm

    from sspd.data.preprocess import preprocess_dataset
    from sspd.data.readers import open_dataset

    from sspd.cli.paths import check_out_folder
    from sspd.data.cache_lock import CacheBusyError
    from sspd.data.preprocess import check_cache_folder
    from sspd.files import atomic_write_text

    config = _preprocess_config(args)
    check_out_folder(config.out)
    check_cache_folder(config.out)  # before any video is read: never another command's folder or the user's files
    records = open_dataset(config.dataset, config.root, **config.options)
    bar = tqdm(total=len(records), unit="video", desc="preprocess", disable=args.no_progress)
    try:
        summary = preprocess_dataset(records, config.out, config, limit=args.limit,
                                     progress=lambda result: (bar.set_postfix_str(result.name), bar.update(1)))
    except CacheBusyError as err:
        bar.close()
        print(f"sspd preprocess: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: finished videos are kept; run the same command again to finish the rest "
              f"(see {config.out}/summary.json)", file=sys.stderr)
        return 130
    bar.close()
    atomic_write_text(Path(config.out) / "preprocess.yaml",   # rerun with --config
                      yaml.safe_dump(config.to_dict(), sort_keys=False), fsync=False)
    print(in_flags(summary.format_report()))
    return 1 if summary.failed else 0
