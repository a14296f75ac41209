"""Transfer of SSPD features, at a scale set by the flags: linear probe and fine-tuning with few labels.

For each seed, on held-out synthetic videos with the default nuisances (test seeds apart from training):
  - a linear probe on the frozen SSPD-pretrained backbone vs the same probe on the randomly initialised
    backbone of the same seed, trained on 100 %, 25 % and 10 % of the labelled training videos;
  - the pretrained network fine-tuned on 10 % of the labels vs the same network trained from scratch on
    them, with the same budget;
  - POS and CHROM on the same test videos.
The pretrained network is a run of the library's default recipe (experiments/synthetic_cpu.yaml, no
labels), trained here or reused from a run directory per seed (e.g. the learning study's sspd_s<seed>).
Every row: MAE / RMSE / r over 10 s windows (spectral peak, detrend and band-pass), per seed, then the
mean.

    python experiments/probe_comparison.py --seeds 0 1 2 --runs runs/learning_study/sspd_s{seed}
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.engine import build_network, derive_seed, load_pretrained
from sspd.eval.baseline_eval import baseline_signals, evaluate_methods
from sspd.eval.finetune import FinetuneConfig, finetune
from sspd.eval.model_eval import merge_signals, network_signals, synthetic_videos
from sspd.eval.probe import ProbeConfig, extract_features, probe_predictor, select_subjects, train_probe

EXPERIMENTS = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--runs", default=None,
                   help="pretrained run directory per seed, with {seed} in it (default: pretrain here)")
    p.add_argument("--pretrain-steps", type=int, default=200, help="steps when pretraining here")
    p.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.25, 0.1])
    p.add_argument("--finetune-fraction", type=float, default=0.1)
    p.add_argument("--finetune-steps", type=int, default=100)
    p.add_argument("--train-videos", type=int, default=20, help="labelled training videos (probe, fine-tuning)")
    p.add_argument("--test-videos", type=int, default=6)
    p.add_argument("--out", default="runs/probe_comparison")
    return p.parse_args()


def pretrained_run(args: argparse.Namespace, seed: int) -> Path:
    """The pretrained run of this seed: reused from --runs, or trained now with the CPU recipe."""
    if args.runs:
        return Path(args.runs.format(seed=seed))
    run_dir = Path(args.out) / f"pretrain_s{seed}"
    config = load_config(RunConfig, EXPERIMENTS / "synthetic_cpu.yaml",
                         [f"seed={seed}", f"run_dir={run_dir}", f"loop.max_steps={args.pretrain_steps}"])
    if not (run_dir / "summary.json").is_file():
        pretrain(config)
    return run_dir


def random_network(checkpoint: dict, seed: int):
    """The randomly initialised network this seed's run started from."""
    torch.manual_seed(derive_seed(seed, "init"))
    return build_network(checkpoint["network"]).eval()


def probe_rows(name: str, net, train, test, fractions, frames: int, size: int, seed: int) -> list:
    features = extract_features(net.backbone, train, window=frames, input_size=size, view=net.view)
    groups = []
    for fraction in fractions:
        subset = features.select(select_subjects(features.subjects, fraction, seed=seed))
        head, _ = train_probe(subset, config=ProbeConfig(steps=300, seed=seed))
        groups.append(network_signals(probe_predictor(net.backbone, head), test, window=frames, input_size=size,
                                      target="diff", name=f"probe/{name}@{fraction:g}", view=net.view))
    return groups


def run_seed(args: argparse.Namespace, seed: int) -> dict:
    pretrained, checkpoint = load_pretrained(pretrained_run(args, seed))
    config = checkpoint["config"]
    frames, size, box = config["data"]["frames"], config["model"]["input_size"], config["data"]["box_size"]
    train = synthetic_videos(args.train_videos, seconds=20.0, size=box, seed=600_000 + seed)
    test = synthetic_videos(args.test_videos, seconds=20.0, size=box, seed=700_000 + seed)
    groups = [network_signals(pretrained.predict, test, window=frames, input_size=size, name="sspd predictor",
                              view=pretrained.view)]
    for name, net in (("sspd", pretrained), ("random", random_network(checkpoint, seed))):
        groups += probe_rows(name, net, train, test, args.fractions, frames, size, seed)
    labelled = set(select_subjects([v.subject for v in train], args.finetune_fraction, seed=seed))
    few = [v for v in train if v.subject in labelled]
    tune = FinetuneConfig(steps=args.finetune_steps, window=frames, seed=seed, target="diff")
    for name, net, scale in (("finetune/sspd", load_pretrained(pretrained_run(args, seed))[0], 0.1),
                             ("scratch", random_network(checkpoint, seed), 1.0)):
        tuned = finetune(net.train(), few, config=dataclasses.replace(tune, backbone_lr_scale=scale)).network.eval()
        groups.append(network_signals(tuned.predict, test, window=frames, input_size=size, target="diff",
                                      name=f"{name}@{args.finetune_fraction:g}", view=tuned.view))
    groups.append([baseline_signals(v, ["pos", "chrom"]) for v in test])
    results = evaluate_methods(merge_signals(*groups), window_s=10.0, split="test")
    return {m: {k: r["summary"]["metrics"][k] for k in ("mae", "rmse", "pearson_r")} for m, r in results.items()}


def main() -> None:
    args = parse_args()
    per_seed = {seed: run_seed(args, seed) for seed in args.seeds}
    methods = list(next(iter(per_seed.values())))
    lines = ["| method | " + " | ".join(f"seed {s}: MAE / RMSE / r" for s in args.seeds) + " | mean MAE |",
             "|---|" + "---|" * (len(args.seeds) + 1)]
    for m in methods:
        cells = [f"{per_seed[s][m]['mae']:.2f} / {per_seed[s][m]['rmse']:.2f} / {per_seed[s][m]['pearson_r']:.2f}"
                 for s in args.seeds]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {np.mean([per_seed[s][m]['mae'] for s in args.seeds]):.2f} |")
    print("\n".join(lines))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps({"args": vars(args), "results": per_seed}, indent=2))
    (out / "comparison.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
