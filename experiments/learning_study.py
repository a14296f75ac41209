"""The learning study: which objectives learn the pulse without labels, measured against controls.

Rows (each on exactly the same synthetic clips, network, clip length and number of steps):
  supervised  the same network trained with labels (negative Pearson to the PPG) on the colour-prior
              views (no view motion): the ceiling
  sinc        SiNC (bandwidth, sparsity, variance priors), no target network, the release's raw views
  sinc-chroma SiNC on the colour-prior views (normalised difference, luminance removed), no view motion
  sspd-paper  SSPD with the release's views (raw frame difference, luminance kept)
  sspd-static-views  SSPD with the colour prior but no view motion
  sspd-cosine        the same with a cosine learning-rate schedule
  sspd        SSPD, the library default: the colour prior (normalised difference, luminance removed) and a
              per-frame motion drawn independently for each view (views.motion_px=3)
  pos, chrom  the training-free baselines on the same test videos
Columns: HR MAE / RMSE / r on three held-out synthetic test sets (default nuisances; motion-heavy, every
motion knob x3; motion-free), for each learned row at step 0 (the seeded initial network), midway and
at the end; mean ± sd over the seeds, and the per-video errors in the JSON. Protocol: windowed
evaluation (sspd.eval.metrics.evaluate_signals), 10 s windows, spectral peak after detrend and
band-pass, the reference HR from the ground-truth PPG with the same estimator. Test videos come from
seeds disjoint from every training clip.

    python experiments/learning_study.py --seeds 0 1 2 --steps 200 --out runs/learning_study
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.data.synthetic import SyntheticConfig
from sspd.engine import build_network, derive_seed, load_pretrained
from sspd.eval.baseline_eval import baseline_signals, evaluate_methods
from sspd.eval.model_eval import network_signals, synthetic_videos

ROWS = {  # row -> run-config overrides on top of the shared ones
    "supervised": ["objective.name=supervised", "views.motion_px=0"],
    "sinc": ["objective.name=sinc", "views.difference=raw", "views.luminance=keep", "views.motion_px=0"],
    "sinc-chroma": ["objective.name=sinc", "views.motion_px=0"],
    "sspd-paper": ["objective.name=sspd", "views.difference=raw", "views.luminance=keep", "views.motion_px=0"],
    "sspd-static-views": ["objective.name=sspd", "views.motion_px=0"],
    "sspd-cosine": ["objective.name=sspd", "views.motion_px=0", "schedule.name=cosine"],
    "sspd": ["objective.name=sspd"],
}
TEST_SETS = {
    "default": SyntheticConfig(framing="crop"),
    "motion-heavy": SyntheticConfig(framing="crop").scale_nuisances(motion=3.0),
    "motion-free": SyntheticConfig(framing="crop").scale_nuisances(motion=0.0),
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--rows", nargs="+", default=["supervised", "sinc", "sinc-chroma", "sspd-paper", "sspd"],
                   choices=list(ROWS))
    p.add_argument("--steps", type=int, default=200, help="optimiser steps of every learned row")
    p.add_argument("--frames", type=int, default=64, help="difference frames per clip")
    p.add_argument("--input-size", type=int, default=66, help="network input side (SSPD-Net needs >= 66)")
    p.add_argument("--box-size", type=int, default=72, help="face-box side the views are cut from")
    p.add_argument("--width", type=float, default=0.25, help="backbone width multiplier")
    p.add_argument("--backbone", default="sspdnet")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--clips", type=int, default=256, help="synthetic training clips per epoch")
    p.add_argument("--test-videos", type=int, default=6, help="videos per test set")
    p.add_argument("--test-seconds", type=float, default=20.0)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="an extra run-config override for every learned row (repeatable)")
    p.add_argument("--out", default="runs/learning_study")
    return p.parse_args()


def row_config(args: argparse.Namespace, row: str, seed: int) -> RunConfig:
    shared = [f"seed={seed}", f"run_dir={Path(args.out) / f'{row}_s{seed}'}", f"data.frames={args.frames}",
              f"data.box_size={args.box_size}", f"data.clips={args.clips}", f"model.backbone={args.backbone}",
              f"model.input_size={args.input_size}", f"model.width={args.width}",
              f"loop.batch_size={args.batch_size}", f"loop.max_steps={args.steps}", "loop.epochs=1000",
              f"loop.checkpoint_every={max(1, args.steps // 2)}", "loop.keep_last=4"]
    return load_config(RunConfig, None, [*shared, *ROWS[row], *args.overrides])


def initial_network(config: RunConfig):
    """The network a run starts from (the loop seeds its initial weights the same way)."""
    torch.manual_seed(derive_seed(config.seed, "init"))
    return build_network(config.network_spec()).eval()


def score(results: dict) -> dict:
    out = {}
    for method, result in results.items():
        metrics = result["summary"]["metrics"]
        out[method] = {"mae": metrics["mae"], "rmse": metrics["rmse"], "r": metrics["pearson_r"],
                       "videos": {name: v["metrics"]["mae"] for name, v in result["videos"].items()}}
    return out


def evaluate_network(network, config: RunConfig, tests: dict) -> dict:
    output = network.signal  # what the run's objective makes the prediction follow (model.signal auto)
    return {name: score(evaluate_methods(network_signals(network.predict, videos, window=config.data.frames,
                                                         input_size=config.model.input_size, target=output,
                                                         view=network.view), window_s=10.0))["model"]
            for name, videos in tests.items()}


def run_row(args: argparse.Namespace, row: str, seed: int, tests: dict) -> dict:
    config = row_config(args, row, seed)
    run_dir = Path(config.run_dir)
    cached = run_dir / "study_scores.json"  # a finished row is not evaluated again when the study is rerun
    if cached.is_file():
        saved = json.loads(cached.read_text())
        saved["scores"] = {int(step): value for step, value in saved["scores"].items()}
        return saved
    started = time.time()
    if not (run_dir / "summary.json").is_file():
        result = pretrain(config)
        print(f"  {row} seed {seed}: {result.steps} steps in {result.wall_time_s:.0f} s ({result.stop_reason})",
              flush=True)
    mid = max(1, args.steps // 2)
    networks = {0: initial_network(config),
                mid: load_pretrained(run_dir / "checkpoints" / f"step_{mid:07d}.pt")[0],
                args.steps: load_pretrained(run_dir)[0]}
    scores = {step: evaluate_network(net, config, tests) for step, net in networks.items()}
    summary = json.loads((run_dir / "summary.json").read_text())
    result = {"scores": scores, "train_s": summary["wall_time_s"], "total_s": time.time() - started}
    cached.write_text(json.dumps(result, default=float))
    return result


def baselines(tests: dict) -> dict:
    return {name: score(evaluate_methods([baseline_signals(v, ["pos", "chrom"]) for v in videos], window_s=10.0))
            for name, videos in tests.items()}


def _cell(values: list[dict]) -> str:
    mae = np.array([v["mae"] for v in values])
    rmse = np.array([v["rmse"] for v in values])
    r = np.array([v["r"] for v in values])
    spread = f" ± {mae.std(ddof=1):.2f}" if mae.size > 1 else ""
    return f"{mae.mean():.2f}{spread} / {rmse.mean():.2f} / {np.nanmean(r):.2f}"


def table(args: argparse.Namespace, learned: dict, base: dict) -> str:
    sets = list(TEST_SETS)
    lines = ["| method | step | " + " | ".join(f"{s}: MAE / RMSE / r" for s in sets) + " | train s |",
             "|---|---|" + "---|" * len(sets) + "---|"]
    for row, per_seed in learned.items():
        steps = list(next(iter(per_seed.values()))["scores"])
        for step in steps:
            cells = [_cell([per_seed[s]["scores"][step][name] for s in per_seed]) for name in sets]
            train = np.mean([per_seed[s]["train_s"] for s in per_seed]) if step == steps[-1] else float("nan")
            lines.append(f"| {row} | {step} | " + " | ".join(cells) + f" | {train:.0f} |")
    for method in ("pos", "chrom"):
        lines.append(f"| {method} | - | " + " | ".join(_cell([base[name][method]]) for name in sets) + " | - |")
    protocol = (f"Seeds {args.seeds}; {args.steps} steps, batch {args.batch_size}, {args.frames}-frame clips, "
                f"{args.backbone} width {args.width} at {args.input_size} px from {args.box_size} px boxes; "
                f"{args.test_videos} test videos x {args.test_seconds:g} s per set; 10 s windows, spectral "
                "peak, MAE ± sd over seeds / RMSE / Pearson r (bpm).")
    return "\n".join(lines) + "\n\n" + protocol + "\n"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    tests = {name: synthetic_videos(args.test_videos, seconds=args.test_seconds, size=args.box_size,
                                    seed=900_000 + i, config=config)
             for i, (name, config) in enumerate(TEST_SETS.items())}
    base = baselines(tests)
    learned: dict = {}
    for row in args.rows:
        learned[row] = {seed: run_row(args, row, seed, tests) for seed in args.seeds}
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "study.json").write_text(json.dumps({"args": vars(args), "baselines": base, "learned": learned},
                                                   indent=1, default=float))
        (out / "study.md").write_text(table(args, learned, base))
    print(table(args, learned, base))


if __name__ == "__main__":
    main()
