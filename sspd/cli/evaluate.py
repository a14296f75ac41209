"""``sspd evaluate``: windowed HR metrics of a model (run directory or checkpoint) and/or training-free
baselines on a dataset's test split, with a per-subject CSV, a summary JSON and PNG plots; or
``--compare`` several evaluations in one Markdown table.

The data options are shared with ``sspd probe`` and ``sspd finetune`` (:func:`add_data_arguments`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """Where the videos come from: a preprocessing cache split by subject, or synthetic videos."""
    g = p.add_argument_group("data (a preprocessing cache, or synthetic videos by default)")
    g.add_argument("--cache", help="a folder written by sspd preprocess; split by subject with --test-fraction "
                                   "or --test-subjects. Default: synthetic face-crop videos")
    g.add_argument("--test-subjects", nargs="+", help="the cache's test subjects (the rest train)")
    g.add_argument("--test-fraction", type=float, default=0.3,
                   help="share of the cache's subjects held out for testing, drawn with --split-seed "
                        "(default 0.3)")
    g.add_argument("--split-seed", type=int, default=0, help="seed of the subject split (default 0)")
    g.add_argument("--train-videos", type=int, default=8, help="synthetic training videos (default 8)")
    g.add_argument("--test-videos", type=int, default=4, help="synthetic test videos (default 4)")
    g.add_argument("--seconds", type=float, default=20.0, help="synthetic video length in s (default 20; "
                                                               "at least --window-s)")
    g.add_argument("--train-seed", type=int, default=0, help="seed of the synthetic training videos")
    g.add_argument("--test-seed", type=int, default=1000,
                   help="seed of the synthetic test videos (default 1000; keep it apart from --train-seed "
                        "so the test subjects are new)")
    g.add_argument("--size", type=int, help="synthetic frame side in pixels (default: the network's input "
                                            "size, or 72 for baselines alone)")


def load_videos(args: argparse.Namespace, part: str, *, size: int) -> list[Any]:
    """The ``part`` ("train" or "test") videos the data options name."""
    from sspd.eval.model_eval import synthetic_videos, videos_from_cache

    if args.cache:
        return videos_from_cache(args.cache, subjects=_cache_split(args)[part], command=f"sspd {args.command}")
    count, seed = (args.train_videos, args.train_seed) if part == "train" else (args.test_videos, args.test_seed)
    if count < 1 or not args.seconds > 0:
        raise ValueError(f"--{part}-videos must be at least 1 and --seconds > 0; got {count} and {args.seconds}")
    return synthetic_videos(count, seconds=args.seconds, fps=30.0, size=args.size or size, seed=seed)


def _cache_split(args: argparse.Namespace) -> dict[str, list[str]]:
    import numpy as np

    from sspd.data.cache import open_cache, require_labels

    videos = open_cache(args.cache)
    require_labels(videos, args.cache, command=f"sspd {args.command}")  # before the split: it needs labels
    subjects = sorted({v.subject for v in videos})
    if args.test_subjects:
        test = [s for s in subjects if s in set(args.test_subjects)]
        missing = sorted(set(args.test_subjects) - set(subjects))
        if missing:
            raise ValueError(f"{args.cache}: no cached video of test subjects {missing}; it has {subjects}")
    else:
        if not 0 < args.test_fraction < 1 or len(subjects) < 2:
            raise ValueError(f"{args.cache}: a subject split needs >= 2 subjects and 0 < --test-fraction < 1; "
                             f"got {len(subjects)} subjects and {args.test_fraction}")
        count = min(len(subjects) - 1, max(1, round(args.test_fraction * len(subjects))))
        order = np.random.default_rng(args.split_seed).permutation(len(subjects))
        test = sorted(subjects[i] for i in order[:count])
    return {"train": [s for s in subjects if s not in test], "test": test}


def add_protocol_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("HR protocol (stated in every output)")
    g.add_argument("--window-s", type=float, default=10.0,
                   help="HR window in s (default 10; the field reports 10 s or 30 s windows)")
    g.add_argument("--hr-method", choices=("fft", "welch", "peaks"), default="fft",
                   help="HR estimator: spectral peak (default), Welch peak, or peak intervals")
    g.add_argument("--band", type=float, nargs=2, metavar=("LOW_HZ", "HIGH_HZ"),
                   help="HR band in Hz (default 0.75 2.5, 45-150 bpm)")
    g.add_argument("--stride-frames", type=int,
                   help="frames between the network's windows (default: the window; overlaps are averaged)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="HR metrics, per-subject CSV and plots of a model or baselines on a test split",
        description=(
            "Evaluate a pretrained or fine-tuned model (a run directory or checkpoint) and/or training-free "
            "baselines (--method pos chrom) on the test split: the network runs over sliding windows, the "
            "window signals are stitched per video, and HR is scored in --window-s windows against the "
            "reference HR measured from the PPG with the same estimator. Writes evaluation.json, "
            "subjects.csv and PNGs (Bland-Altman, HR scatter, waveforms, loss/LR curves of a run). "
            "--compare A B ... prints a Markdown table of earlier evaluations instead."))
    p.add_argument("source", nargs="?", help="a run directory or .pt checkpoint, or an rPPG-Toolbox PhysNet/PhysFormer "
                                                  ".pth (run on its own input convention, output integrated); "
                                                  "omit for baselines only")
    p.add_argument("--method", nargs="+", default=[], metavar="BASELINE",
                   help="training-free baselines to evaluate too, e.g. pos chrom (see sspd.baselines)")
    p.add_argument("--which", choices=("online", "target"), default="online",
                   help="which network of the checkpoint (default online)")
    p.add_argument("--target", choices=("pulse", "diff"),
                   help="what the model's output follows: pulse (the SSPD predictor; default) or diff (the "
                        "PPG's first difference; the default for sspd finetune outputs, read from the "
                        "checkpoint)")
    p.add_argument("--out", help="output folder (default: SOURCE/evaluation for a run directory, else "
                                 "./sspd-evaluation)")
    p.add_argument("--label", help="the name of this evaluation in comparison tables (default: the source)")
    p.add_argument("--compare", nargs="+", metavar="RUN_OR_EVALUATION",
                   help="print a Markdown table of these evaluations (evaluation.json files or folders)")
    add_data_arguments(p)
    add_protocol_arguments(p)
    p.set_defaults(func=run)


def evaluation_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"window_s": args.window_s, "method": args.hr_method,
            "band": tuple(args.band) if args.band else None, "split": "test"}


def _model_target(args: argparse.Namespace, predictor: Any) -> str:
    """--target, else what the model's output follows (its input spec's signal: a fine-tuned run's target,
    a toolbox model's difference, else the pulse)."""
    return args.target or predictor.input.signal


def _default_label(source: str | None) -> str:
    """A run directory's name, a checkpoint's stem, or "baselines"."""
    if not source:
        return "baselines"
    path = Path(source)
    return path.stem if path.is_file() else path.name


#: the library's argument names in evaluation errors → the flags of evaluate, probe and demo
_FLAG_WORDS = ((r"\buse a shorter window or window_s=None to score whole signals",
                "use a shorter --window or longer videos (--seconds)"),
               (r"\bwindow_s=(\S+) s\b", r"--window \1 s"), (r"\bwindow_s\b", "--window"),
               (r"\bstride_s\b", "the window stride"))


def evaluate_with_flags(signals, **options):
    """:func:`sspd.eval.baseline_eval.evaluate_methods`, its errors in this command's flags."""
    import re

    from sspd.eval.baseline_eval import evaluate_methods

    try:
        return evaluate_methods(signals, **options)
    except ValueError as err:
        message = str(err)
        for pattern, replacement in _FLAG_WORDS:
            message = re.sub(pattern, replacement, message)
        raise ValueError(message) from None


def _result_line(method: str, m: dict, windows: int) -> str:
    """One method's metrics; a single window has no spread (no standard error, no correlation)."""
    if windows == 1:
        return (f"{method}: MAE {m['mae']:.2f} bpm from one window (one window gives no spread or correlation: "
                "use longer videos, more videos, or a shorter --window)")
    return (f"{method}: MAE {m['mae']:.2f} ± {m['mae_se']:.2f} bpm, RMSE {m['rmse']:.2f}, r {m['pearson_r']:.3f} "
            f"over {windows} windows")


def run(args: argparse.Namespace) -> int:
    if args.compare:
        from sspd.eval.compare import format_comparison

        sys.stdout.write(format_comparison(args.compare))
        return 0
    if not args.source and not args.method:
        raise ValueError("nothing to evaluate: give a run directory or checkpoint, and/or --method pos ...")
    from sspd.cli.paths import check_out_folder
    from sspd.eval.baseline_eval import baseline_signals
    from sspd.engine.runfiles.run_dir import METRICS
    from sspd.eval.model_eval import merge_signals, network_signals, write_evaluation
    from sspd.infer.checkpoint_predictor import build_predictor

    if args.out:
        check_out_folder(args.out)  # before any video is read
    groups, source_info, size = [], {"data": args.cache or "synthetic"}, 72
    if args.source:
        predictor = build_predictor(args.source, which=args.which)
        spec = predictor.input
        size = max(spec.input_size)
    videos = load_videos(args, "test", size=size)
    if args.source:
        target = _model_target(args, predictor)
        groups.append(network_signals(predictor.network.predict, videos, window=spec.frames,
                                      input_size=spec.input_size, target=target, stride=args.stride_frames,
                                      view=spec.view))
        source_info.update(model=str(args.source), which=args.which, target=target, step=predictor.step)
    if args.method:
        groups.append([baseline_signals(v, args.method) for v in videos])
    signals = merge_signals(*groups)
    results = evaluate_with_flags(signals, **evaluation_kwargs(args))
    run_dir = Path(args.source) if args.source and Path(args.source).is_dir() else None
    out = Path(args.out) if args.out else (run_dir / "evaluation" if run_dir else Path("sspd-evaluation"))
    paths = write_evaluation(results, signals, videos, out, label=args.label or _default_label(args.source),
                             source=source_info, metrics_jsonl=run_dir / METRICS if run_dir else None)
    for method, result in results.items():
        m = result["summary"]["metrics"]
        print(_result_line(method, m, result["summary"]["n_windows"]))
    print(f"protocol: {results[next(iter(results))]['summary']['protocol']['estimator']}")
    print(f"wrote {len(paths)} files to {out}")
    return 0
