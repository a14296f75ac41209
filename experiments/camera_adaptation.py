"""Does a synthetic-trained model get better on a compressed camera by adapting to its unlabeled videos?

A pretrained run (the library default, trained on clean synthetic clips) starts a short SSPD run on the
unlabeled clips of a target camera (`model.init`, `data.source: cache`), once per adaptation variant; the
start model and every adapted model are then scored on held-out videos of that camera with the reliability
study's protocol (`experiments/reliability_study.py`: 24 videos of 20 s, HR over 40-180 bpm, 10 s windows
with a 5 s stride, the octave check), split at 125 bpm, against POS on the same videos. `--sets wide` adds
the clean wide set, to see what the adapted model forgets of the domain it was trained on.

The target camera here is the generator's `realistic` preset (640x480 webcam framing, H.264 at CRF 28,
exposure and white-balance drift, blinks): the held-out set uses the study's generator seeds (770000 on),
the unlabeled training videos other ones. Make the training cache once (no labels are read in training):

    sspd synth --out VIDEOS --preset realistic --hr-range 40 180 --seed 5150 --subjects 23 --seconds 30
    sspd preprocess --dataset videos --root VIDEOS --out CACHE --size 72

then

    python experiments/camera_adaptation.py --start RUN_DIR [RUN_DIR ...] --cache CACHE

Variants (`--variants`, NAME=LAYERS:LR[:STEPS]): LAYERS is the run's `adapt.layers` (all: every weight,
norm: the normalisation layers' affine weights, none: no gradient step, the BatchNorm statistics
re-estimated on the new clips), LR the Adam learning rate, STEPS the optimiser steps (default `--steps`).
The health verdict of each run (label-free, RUN_DIR/health.json: the start model's on its own clean training
clips, an adapted model's on the camera's clips) is printed beside its score. Adapted runs are cached
(OUT/START__VARIANT): a second call only scores.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.engine import load_pretrained

import reliability_study as study

DEFAULT_VARIANTS = ["bn-stats=none:1e-4", "norm=norm:1e-3", "all=all:1e-4", "all-3e-4=all:3e-4"]
SPLIT_BPM = 125.0  # the realistic preset's CRF 28 leaves little of the pulse above this rate (README)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--start", nargs="+", required=True, help="pretrained run directories to adapt")
    p.add_argument("--cache", required=True, help="preprocessed cache of the target camera's unlabeled videos")
    p.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, metavar="NAME=LAYERS:LR[:STEPS]")
    p.add_argument("--steps", type=int, default=100, help="optimiser steps of a variant that names none")
    p.add_argument("--windows-per-video", type=int, default=26,
                   help="training clips drawn per cached video and epoch (data.windows_per_video)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--sets", nargs="+", default=["realistic"], choices=list(study.SETS))
    p.add_argument("--videos", type=int, default=24)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--test-seed", type=int, default=770_000)
    p.add_argument("--out", default="runs/camera_adaptation")
    return p.parse_args()


def parse_variant(text: str, steps: int) -> tuple[str, list[str]]:
    """``NAME=LAYERS:LR[:STEPS]`` -> (name, run-config overrides)."""
    name, _, spec = text.partition("=")
    parts = spec.split(":")
    if not name or len(parts) not in (2, 3):
        raise SystemExit(f"--variants {text!r}: expected NAME=LAYERS:LR[:STEPS], e.g. all=all:1e-4:100")
    n = int(parts[2]) if len(parts) == 3 else steps
    return name, [f"adapt.layers={parts[0]}", f"optim.lr={float(parts[1])}", f"loop.max_steps={n}",
                  f"loop.checkpoint_every={n}"]


def adapt(start: Path, name: str, overrides: list[str], args: argparse.Namespace) -> Path:
    """The adapted run of ``start`` (trained unless its summary exists)."""
    run_dir = Path(args.out) / f"{start.name}__{name}"
    if not (run_dir / "summary.json").is_file():
        config = load_config(RunConfig, str(start / "config.yaml"), [
            f"run_dir={run_dir}", f"model.init={start}", "data.source=cache", f"data.cache_dir={args.cache}",
            f"data.windows_per_video={args.windows_per_video}", *overrides])
        result = pretrain(config)
        print(f"  {run_dir.name}: {result.steps} steps in {result.wall_time_s:.0f} s", flush=True)
    return run_dir


def row(label: str, s: dict, hrs: np.ndarray, pos: np.ndarray | None, verdict: str) -> str:
    """A table row: MAE, r, the MAE of the videos at or under / over SPLIT_BPM, the videos beating POS."""
    v, fast = np.array(s["videos"]), hrs > SPLIT_BPM
    better = "-" if pos is None else f"{int((v < pos).sum())}/{len(v)}"
    return (f"| {label} | {s['mae']:.2f} | {s['r']:.2f} | {v[~fast].mean():.2f} | {v[fast].mean():.2f} | "
            f"{better} | {verdict} |")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    variants = [parse_variant(v, args.steps) for v in args.variants]
    starts = [Path(s) for s in args.start]
    first = load_config(RunConfig, str(starts[0] / "config.yaml"), [])
    sets = study.build_sets(args, first.data.box_size, first.data.fps)
    runs = [(start, name, run_dir) for start in starts
            for name, run_dir in [(None, start)] + [(n, adapt(start, n, o, args)) for n, o in variants]]
    models = {}   # run_dir -> (network, config, health verdict), loaded once for every set
    for _, _, run_dir in runs:
        network, _ = load_pretrained(run_dir)
        health = run_dir / "health.json"
        models[run_dir] = (network.eval(), load_config(RunConfig, str(run_dir / "config.yaml"), []),
                           json.loads(health.read_text()).get("verdict") if health.is_file() else "-")
    base = study.baselines(args, sets)   # POS and CHROM per set, cached in OUT as the study caches them
    scores = {}
    for set_name, (videos, hrs) in sets.items():
        pos = np.array(base[set_name]["pos"]["videos"])
        print(f"\n{set_name} ({len(videos)} videos; POS {base[set_name]['pos']['mae']:.2f}):\n\n| model | MAE | r "
              f"| MAE <= {SPLIT_BPM:g} bpm | MAE > {SPLIT_BPM:g} bpm | videos better than POS | health verdict |\n"
              + "|---" * 7 + "|")
        print(row("POS", base[set_name]["pos"], hrs, None, "-"))
        for start, name, run_dir in runs:
            network, config, verdict = models[run_dir]
            s = study.score_sets(network, config, {set_name: (videos, hrs)})[set_name]
            scores.setdefault(str(run_dir), {})[set_name] = s
            print(row(f"{start.name} {name or 'start'}", s, hrs, pos, verdict), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "scores.json").write_text(json.dumps(scores, default=float))


if __name__ == "__main__":
    main()
