"""``sspd demo``: the main job on embedded synthetic data, end to end, with nothing on disk beforehand.

Stages (each writes under ``--out``):
  1. render a small synthetic face-video dataset with a known pulse (UBFC-rPPG layout);
  2. read it back with the dataset reader, detect and crop faces into the preprocessing cache;
  3. pretrain SSPD on synthetic clips rendered on the fly (experiments/synthetic_demo.yaml = the defaults
     of sspd.cli.config.RunConfig), writing a run directory (config, checkpoints, JSONL, TensorBoard);
  4. run the training-free baselines and the pretrained SSPD predictor on the cached videos and score
     windowed HR against the PPG with one protocol;
  5. write the metrics (JSON, Markdown) and figures (waveforms, Bland-Altman, HR scatter).
Later stages (a linear probe, the collapse report) extend ``STAGES``: each is a function of
(args, context) that reads and adds entries of the shared ``context`` dict and returns printable lines.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

_DEFAULT_METHODS = ("pos", "chrom", "lgi", "pbv", "ica", "green")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="the main job on embedded synthetic data: synthesise, crop faces, estimate HR, report",
        description=(
            "Run the library end to end on synthetic face videos with a known pulse: render the videos, "
            "read them back, detect and crop the faces into the preprocessing cache, estimate the pulse "
            "with the training-free baselines, and score windowed HR against the ground truth. Ends by "
            "printing the metrics table and where the files are. Most of its time is the SSPD pretraining (600 "
            "steps: about 30 minutes on 2 cores of an AVX2-only AMD EPYC, measured; about 6 with AVX-512, "
            "estimated from the 200-step recipe's time; "
            "--pretrain-steps 0 skips it: under a minute). --out must be a new folder, an "
            "earlier demo's, or one without files of the names it writes (data/, cache/, pretrain/, "
            "baselines.json...): the user's own files are never overwritten."))
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo); rerunning reuses "
                                                      "finished stages whose inputs did not change")
    p.add_argument("--subjects", type=int, default=3, help="synthetic videos, one per subject (default 3)")
    p.add_argument("--seconds", type=float, default=21.0,
                   help="length of each video in s (default 21: two full 10 s evaluation windows, with a "
                        "second to spare)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate in Hz (default 30; any rate works)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    p.add_argument("--methods", default=",".join(_DEFAULT_METHODS),
                   help=f"comma-separated baselines (default {','.join(_DEFAULT_METHODS)})")
    p.add_argument("--window", type=float, default=10.0, help="HR evaluation window in s (default 10)")
    p.add_argument("--pretrain-steps", type=int, default=600,
                   help="SSPD pretraining steps on synthetic clips (default 600, the CPU recipe's; 0 skips "
                        "pretraining; fewer steps learn the pulse in some seeds only). The rest of the run is "
                        "experiments/synthetic_demo.yaml")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _synthesise(args: argparse.Namespace, root: Path) -> None:
    from tqdm import tqdm

    from sspd.data.synthetic import generate_dataset
    from sspd.data.synthetic.generate import count_frames

    sidecar = root / "synthetic.json"
    wanted = {"subjects": args.subjects, "seconds": args.seconds, "fps": args.fps, "seed": args.seed}
    if sidecar.is_file() and all(json.loads(sidecar.read_text()).get(k) == v for k, v in wanted.items()):
        return  # same data as last time: keep it, so the cache stage can skip too
    total = args.subjects * count_frames(args.seconds, args.fps)
    with tqdm(total=total, unit="frame", desc="1/4 synthesise", disable=args.no_progress) as bar:
        generate_dataset(root, subjects=args.subjects, seconds=args.seconds, fps=args.fps, size="320x240",
                         seed=args.seed, overwrite=True, on_progress=bar.update)


def _preprocess(args: argparse.Namespace, root: Path, cache: Path):
    from tqdm import tqdm

    from sspd.data import PreprocessConfig, open_dataset, preprocess_dataset

    config = PreprocessConfig(dataset="synthetic", root=str(root), out=str(cache), size=72, workers=1)
    records = open_dataset("synthetic", root)
    with tqdm(total=len(records), unit="video", desc="2/4 crop faces", disable=args.no_progress) as bar:
        summary = preprocess_dataset(records, cache, config, progress=lambda _: bar.update(1))
    if summary.failed:
        raise ValueError(f"preprocessing failed:\n{summary.format_report()}")


def _table(results: dict) -> str:
    lines = ["| method | MAE (bpm) | RMSE (bpm) | MAPE (%) | r | SNR (dB) | windows |",
             "|---|---|---|---|---|---|---|"]
    for name, res in sorted(results.items(), key=lambda kv: kv[1]["summary"]["metrics"]["mae"]):
        m, s = res["summary"]["metrics"], res["summary"]
        lines.append(f"| {name} | {m['mae']:.2f} ± {m['mae_se']:.2f} | {m['rmse']:.2f} | {m['mape']:.2f} | "
                     f"{m['pearson_r']:.3f} | {s['snr_db']:.1f} | {s['n_windows']} |")
    return "\n".join(lines)


def _report(out: Path, videos, results: dict) -> list[Path]:
    import numpy as np

    from sspd.eval.plots import plot_bland_altman, plot_hr_scatter, plot_waveforms

    best = min(results, key=lambda k: results[k]["summary"]["metrics"]["mae"])
    pred = np.array([r.hr_pred for _, r in results[best]["rows"]])
    true = np.array([r.hr_true for _, r in results[best]["rows"]])
    figures = [plot_waveforms(videos[0].signals, videos[0].fps, out / "waveforms.png",
                              reference=videos[0].label, title=f"video {videos[0].name}: baselines vs ground-truth PPG"),
               plot_bland_altman(pred, true, out / f"bland_altman_{best}.png", title=best)[0],
               plot_hr_scatter(pred, true, out / f"hr_scatter_{best}.png", title=best)]
    return figures


def _remove_demo_run(run_dir: Path) -> None:
    """Delete the demo's previous run directory, only if it is one : it must hold config.yaml, metrics.jsonl,
    checkpoints/ or summary.json, as every run directory does).

    Raises:
        ValueError: ``run_dir`` exists but is not an sspd run directory (nothing is deleted).
    """
    import shutil

    from sspd.engine.runfiles import run_dir as run_files

    if not run_dir.exists():
        return
    held = (run_files.CONFIG, run_files.METRICS, run_files.CHECKPOINTS, run_files.SUMMARY)
    if run_dir.is_symlink() or not run_dir.is_dir() or not any((run_dir / n).exists() for n in held):
        raise ValueError(f"{run_dir} exists but is not an sspd run directory, so the demo leaves it alone: "
                         "move it away or pass another --out")
    shutil.rmtree(run_dir)


def _pretrain(args: argparse.Namespace, run_dir: Path):
    """A short SSPD pretraining run (reused when a finished one with the same steps is there)."""
    from sspd.cli.config import RunConfig
    from sspd.cli.pretrain import pretrain, progress_callback
    from sspd.configuration import load_config
    from sspd.engine.runfiles import run_dir as run_files

    done = run_files.read_json(run_dir, run_files.SUMMARY)  # a corrupt one is named
    if done is not None and done.get("stop_reason") == "completed" and done.get("total_steps") == args.pretrain_steps:
        return done
    _remove_demo_run(run_dir)   # the demo's own run directory: start it afresh
    config = load_config(RunConfig, None, [f"run_dir={run_dir}", f"loop.max_steps={args.pretrain_steps}",
                                           f"seed={args.seed}"])
    on_step, state = progress_callback(args.no_progress, "3/4 pretrain SSPD")
    result = pretrain(config, on_step=on_step)
    if state.get("bar") is not None:
        state["bar"].close()
    if result.stop_reason != "completed":
        raise ValueError(f"SSPD pretraining stopped ({result.stop_reason}): {result.message}")
    return run_files.read_json(run_dir, run_files.SUMMARY)


def _sspd_signals(videos, cached, run_dir: Path):
    """The baselines' signals with the pretrained predictor's pulse ("sspd") added to every video,
    scored on the same frames."""
    from sspd.engine import load_pretrained
    from sspd.eval.model_eval import merge_signals, network_signals

    network, _ = load_pretrained(run_dir)
    backbone = network.backbone
    model = network_signals(network.predict, cached, window=backbone.frames, input_size=backbone.input_size,
                            target=network.signal, name="sspd", view=network.view)
    return merge_signals(videos, model)


def _first_loss(run_dir: Path) -> tuple[float, float]:
    """Mean total loss of the first and the last 8 logged steps."""
    from sspd.engine.runfiles import run_dir as run_files

    lines, _ = run_files.read_metrics(run_dir / run_files.METRICS)   # a corrupt line is named
    totals = [r["total"] for r in lines if "total" in r]
    head, tail = totals[:8], totals[-8:]
    return sum(head) / len(head), sum(tail) / len(tail)


#: what the demo writes into --out (besides its figures, named after the best method)
_OUTPUTS = ("data", "cache", "pretrain", "baselines.json", "baselines.md", "waveforms.png")


def _claim_out(out: Path) -> None:
    """Make ``out`` the demo's folder, refusing (before any work) the user's files of the names it writes,
    e.g. a dataset of their own in ``out/data``; a demo folder of an older sspd (``data/synthetic.json``,
    the sidecar of the rendered data) is reused."""
    from sspd.cli.paths import check_out_folder
    from sspd.files import claim_folder

    check_out_folder(out)
    claim_folder(out, "demo", outputs=_OUTPUTS, where="--out",
                 legacy=lambda folder: (folder / "data" / "synthetic.json").is_file())


def run(args: argparse.Namespace) -> int:
    from sspd.baselines import list_baselines
    from sspd.data import open_cache
    from sspd.cli.evaluate import evaluate_with_flags
    from sspd.eval.baseline_eval import baseline_signals

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(list_baselines()))
    if unknown or not methods:
        raise ValueError(f"--methods: unknown {unknown or 'empty list'}; valid: {', '.join(list_baselines())}")
    if args.pretrain_steps < 0:
        raise ValueError(f"--pretrain-steps must be >= 0, got {args.pretrain_steps}")
    out = Path(args.out)
    _claim_out(out)
    root, cache, run_dir = out / "data", out / "cache", out / "pretrain"
    _synthesise(args, root)
    _preprocess(args, root, cache)
    pretrained = _pretrain(args, run_dir) if args.pretrain_steps else None
    cached = open_cache(cache)
    videos = [baseline_signals(v, methods) for v in cached]
    if pretrained is not None:
        videos = _sspd_signals(videos, cached, run_dir)
    results = evaluate_with_flags(videos, window_s=args.window, split="synthetic demo")
    table = _table(results)
    protocol = next(iter(results.values()))["summary"]["protocol"]
    (out / "baselines.json").write_text(json.dumps(
        {k: {"summary": v["summary"], "videos": v["videos"]} for k, v in results.items()}, indent=2))
    (out / "baselines.md").write_text(f"# Training-free baselines on synthetic data\n\n{table}\n\n"
                                      f"Estimator: {protocol['estimator']}, band {protocol['band_hz']} Hz, "
                                      f"{protocol['window_s']} s windows.\n")
    figures = _report(out, videos, results)
    print(f"\nHR from {len(videos)} synthetic videos ({args.seconds:g} s at {args.fps:g} fps), "
          f"{protocol['window_s']:g} s windows, {protocol['estimator']}:\n")
    print(table)
    print(f"\nmetrics: {out / 'baselines.json'} and {out / 'baselines.md'}")
    print("figures: " + ", ".join(str(f) for f in figures))
    if pretrained is not None:
        first, last = _first_loss(run_dir)
        print(f"SSPD pretraining: {pretrained['steps']} steps in {pretrained['wall_time_s']:.0f} s, total loss "
              f"{first:.3f} (first 8 steps) -> {last:.3f} (last 8); run directory {run_dir} (config.yaml, "
              f"checkpoints/, metrics.jsonl, tb/: tensorboard --logdir {run_dir / 'tb'}, collapse.json)")
    context = {"out": out, "cache": cache, "run_dir": run_dir if pretrained else None, "results": results}
    for name, stage in STAGES:
        for line in stage(args, context):
            print(f"{name}: {line}")
    return 0


def _collapse_report(args: argparse.Namespace, context: dict) -> list[str]:
    """Write the collapse report of the pretraining run (``RUN_DIR/report``)."""
    if context["run_dir"] is None:
        return ["skipped: no pretraining run (--pretrain-steps 0)"]
    from sspd.diagnostics.report import write_report

    files = write_report(context["run_dir"])
    verdict = files.verdict
    decided = f" (decided by {verdict.decided_by})" if verdict.decided_by else ""
    lines = [f"is the run learning the pulse? {verdict.level}{decided}; open {files.html} in a browser "
             f"(self-contained), or read {files.markdown}"]
    if verdict.labels:
        lines.append(f"  labels (shown apart, never used by the verdict): {verdict.labels}")
    return lines + [f"  {reason}" for reason in verdict.reasons[:5]]


#: Stages after the HR comparison: (name, fn(args, context) -> printable lines). ``context`` holds out,
#: cache, run_dir (None without pretraining) and results.
STAGES: list = [("collapse report", _collapse_report)]
