"""Contrast-Phys rows of the learning study, and a second-domain run for its cross-domain failure.

Same protocol as experiments/learning_study.py (whose functions it reuses): the same quarter-width
SSPD-Net, synthetic training clips, batch, clip length, held-out test videos (seeds disjoint from every
training clip), 10 s windows, spectral peak after detrend and band-pass, MAE / RMSE / Pearson r in bpm,
at step 0 (the seeded initial network), midway and at the end, mean ± sd over seeds; POS on the same
videos. One more test set, "slow", draws every pulse from 45-65 bpm (the range where 64-frame clips hold
under two beats).

Rows:
  contrast-phys       the ST-rPPG head (4 spatial signals, their mean the prediction) and Contrast-Phys's
                      loss as the paper states it (windows of half the clip, PSDs at the window's own
                      bins), colour-prior views without view motion (as sinc-chroma)
  contrast-phys-pad   the same with each window zero-padded to 160 samples (bins of 0.19 Hz, as the
                      paper's 150-frame windows; a 32-frame window alone has 4 bins in 40-250 bpm)
  contrast-phys-mixed the paper's cross-domain case: half of the unlabeled training videos from a second
                      domain (the face small in a room, "scene" framing, instead of a face box), tested
                      on the first domain's sets as the others
  contrast-phys-pad-mixed  the same on the padded windows
  supervised          the labelled ceiling on the same views (for reference; optional)

    python experiments/contrast_phys_study.py --seeds 0 1 2 --steps 100 --threads 1
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

import learning_study as ls
from sspd.cli.pretrain import pretrain
from sspd.data.synthetic import SyntheticClipDataset, SyntheticConfig
from sspd.engine import derive_seed, load_pretrained
from sspd.eval.model_eval import synthetic_videos

CP = ["objective.name=contrast-phys", "model.head=st_rppg", "views.motion_px=0"]
ROWS = {
    "contrast-phys": CP,
    "contrast-phys-pad": [*CP, "objective.contrast_phys.n_fft=160"],
    "contrast-phys-mixed": CP,
    "contrast-phys-pad-mixed": [*CP, "objective.contrast_phys.n_fft=160"],
    "supervised": ["objective.name=supervised", "views.motion_px=0"],
}
TEST_SETS = {**ls.TEST_SETS, "slow": SyntheticConfig(framing="crop", hr_bpm=(45.0, 65.0))}
SECOND_DOMAIN = SyntheticConfig(framing="scene")


class _Offset(Dataset):
    """A dataset whose video ids are shifted (two concatenated synthetic sets keep distinct ids)."""

    def __init__(self, dataset: Dataset, offset: int) -> None:
        self.dataset, self.offset = dataset, offset
        self.fps = getattr(dataset, "fps", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.dataset[index])
        item["video_id"] = item["video_id"] + self.offset
        return item


def mixed_dataset(config, seed: int) -> Dataset:
    """Half the clips of the run's own domain, half of the second domain, with distinct video ids."""
    data = config.data
    half = data.clips // 2
    first = SyntheticClipDataset(half, frames=data.frames + 1, size=data.box_size, fps=data.fps,
                                 seed=derive_seed(seed, "synthetic_clips") % 2**32, config=data.synthetic_config())
    second = SyntheticClipDataset(data.clips - half, frames=data.frames + 1, size=data.box_size, fps=data.fps,
                                  seed=derive_seed(seed, "second_domain") % 2**32, config=SECOND_DOMAIN)
    mixed = ConcatDataset([first, _Offset(second, half)])
    mixed.fps = data.fps
    return mixed


def run_row(args: argparse.Namespace, row: str, seed: int, tests: dict) -> dict:
    ls.ROWS[row] = ROWS[row]
    config = ls.row_config(args, row, seed)
    run_dir = Path(config.run_dir)
    cached = run_dir / "study_scores.json"
    if cached.is_file():
        saved = json.loads(cached.read_text())
        saved["scores"] = {int(step): value for step, value in saved["scores"].items()}
        return saved
    started = time.time()
    if not (run_dir / "summary.json").is_file():
        dataset = mixed_dataset(config, seed) if row.endswith("-mixed") else None
        result = pretrain(config, dataset=dataset)
        print(f"  {row} seed {seed}: {result.steps} steps in {result.wall_time_s:.0f} s ({result.stop_reason})",
              flush=True)
    mid = max(1, args.steps // 2)
    networks = {0: ls.initial_network(config),
                mid: load_pretrained(run_dir / "checkpoints" / f"step_{mid:07d}.pt")[0],
                args.steps: load_pretrained(run_dir)[0]}
    scores = {step: ls.evaluate_network(net, config, tests) for step, net in networks.items()}
    summary = json.loads((run_dir / "summary.json").read_text())
    health = json.loads((run_dir / "health.json").read_text()) if (run_dir / "health.json").is_file() else {}
    result = {"scores": scores, "train_s": summary["wall_time_s"], "total_s": time.time() - started,
              "stop_reason": summary.get("stop_reason"), "verdict": _verdict(health)}
    cached.write_text(json.dumps(result, default=float))
    return result


def _verdict(health: dict) -> str:
    for key in ("verdict", "level", "status"):
        if isinstance(health.get(key), str):
            return health[key]
    return "-"


def table(args: argparse.Namespace, learned: dict, base: dict) -> str:
    sets = list(TEST_SETS)
    lines = ["| method | step | " + " | ".join(f"{s}: MAE / RMSE / r" for s in sets) + " | train s | verdict |",
             "|---|---|" + "---|" * len(sets) + "---|---|"]
    for row, per_seed in learned.items():
        steps = list(next(iter(per_seed.values()))["scores"])
        for step in steps:
            cells = [ls._cell([per_seed[s]["scores"][step][name] for s in per_seed]) for name in sets]
            last = step == steps[-1]
            train = f"{np.mean([per_seed[s]['train_s'] for s in per_seed]):.0f}" if last else "-"
            verdict = ", ".join(str(per_seed[s].get("verdict", "-")) for s in per_seed) if last else "-"
            lines.append(f"| {row} | {step} | " + " | ".join(cells) + f" | {train} | {verdict} |")
    lines.append("| pos | - | " + " | ".join(ls._cell([base[name]["pos"]]) for name in sets) + " | - | - |")
    protocol = (f"Seeds {args.seeds}; {args.threads} torch thread(s); {args.steps} steps, batch {args.batch_size}, "
                f"{args.frames}-frame clips, {args.backbone} width {args.width} at {args.input_size} px from "
                f"{args.box_size} px boxes; {args.test_videos} test videos x {args.test_seconds:g} s per set; 10 s "
                "windows, spectral peak, MAE ± sd over seeds / RMSE / Pearson r (bpm).")
    return "\n".join(lines) + "\n\n" + protocol + "\n"


def _done(args: argparse.Namespace, row: str, seed: int) -> bool:
    ls.ROWS[row] = ROWS[row]
    return (Path(ls.row_config(args, row, seed).run_dir) / "study_scores.json").is_file()


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--rows", nargs="+", default=["contrast-phys", "contrast-phys-pad"], choices=list(ROWS))
    p.add_argument("--steps", type=int, default=100, help="optimiser steps of every learned row")
    p.add_argument("--threads", type=int, default=1, help="torch threads of training and evaluation")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--input-size", type=int, default=66)
    p.add_argument("--box-size", type=int, default=72)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--backbone", default="sspdnet")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--clips", type=int, default=256)
    p.add_argument("--test-videos", type=int, default=6)
    p.add_argument("--test-seconds", type=float, default=20.0)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--only-done", action="store_true",
                   help="tabulate the rows and seeds already scored; train nothing")
    p.add_argument("--out", default="runs/contrast_phys_study")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    args.out = str(out / f"t{args.threads}")   # the run directories of one thread count
    tests = {name: synthetic_videos(args.test_videos, seconds=args.test_seconds, size=args.box_size,
                                    seed=900_000 + i, config=config)
             for i, (name, config) in enumerate(TEST_SETS.items())}
    base = ls.baselines(tests)
    learned: dict = {}
    for row in args.rows:
        seeds = [seed for seed in args.seeds if not args.only_done or _done(args, row, seed)]
        if not seeds:
            continue
        learned[row] = {seed: run_row(args, row, seed, tests) for seed in seeds}
        out.mkdir(parents=True, exist_ok=True)
        (out / f"study_t{args.threads}.json").write_text(
            json.dumps({"args": vars(args), "baselines": base, "learned": learned}, indent=1, default=float))
        (out / f"study_t{args.threads}.md").write_text(table(args, learned, base))
        print(table(args, learned, base), flush=True)


if __name__ == "__main__":
    main()
