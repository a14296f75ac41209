"""The evaluation issue's acceptance comparison, at a scale set by the flags (small by default, CPU).

On held-out synthetic videos with motion and illumination nuisances (test seed apart from training):
  - linear probe on an SSPD-pretrained backbone vs the same probe on a randomly initialised backbone;
  - POS and CHROM on the same test videos;
  - the pretrained network fine-tuned vs the same network trained from scratch, same budget.
Every row: MAE / RMSE / r over 10 s windows (spectral peak, 0.75-2.5 Hz), for each seed, then the mean.

    python experiments/probe_comparison.py --seeds 0 1 --pretrain-steps 60 --out probe_comparison
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from sspd.data.synthetic import SyntheticClipDataset
from sspd.engine import SSPDRecipe, build_sspd_training
from sspd.eval.baseline_eval import baseline_signals, evaluate_methods
from sspd.eval.finetune import FinetuneConfig, build_from_scratch, finetune
from sspd.eval.model_eval import merge_signals, network_signals, synthetic_videos
from sspd.eval.probe import ProbeConfig, extract_features, probe_predictor, train_probe


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--pretrain-steps", type=int, default=60)
    p.add_argument("--finetune-steps", type=int, default=60)
    p.add_argument("--train-videos", type=int, default=8)
    p.add_argument("--test-videos", type=int, default=6)
    p.add_argument("--frames", type=int, default=64, help="difference frames per clip (multiple of 4)")
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--width", type=float, default=0.5, help="PhysNet width multiplier")
    p.add_argument("--out", default="probe_comparison")
    return p.parse_args()


def pretrain(args: argparse.Namespace, seed: int):
    """SSPD on unlabeled synthetic clips (training seeds), returns the online network and its spec."""
    torch.manual_seed(seed)
    box = args.input_size + args.input_size // 4
    recipe = SSPDRecipe(backbone="physnet", backbone_options={"width": args.width}, frames=args.frames,
                        input_size=args.input_size, box_size=box, batch_size=4, mixed_precision=False)
    trainer = build_sspd_training(recipe, seed=seed)
    clips = SyntheticClipDataset(args.pretrain_steps * 4, frames=args.frames + 1, size=box, seed=10_000 + seed)
    for step in range(args.pretrain_steps):
        video = torch.stack([clips[4 * step + i]["video"] for i in range(4)])  # (B, C, T+1, S, S)
        trainer.train_step({"video": video, "fps": 30.0}, step=step, total_steps=args.pretrain_steps)
    spec = {"backbone": "physnet", "stack": {},
            "backbone_kwargs": {"width": args.width, "frames": args.frames, "input_size": args.input_size}}
    return trainer.online_network.eval(), spec


def metrics_of(results: dict) -> dict:
    return {m: {k: r["summary"]["metrics"][k] for k in ("mae", "rmse", "pearson_r")} for m, r in results.items()}


def run_seed(args: argparse.Namespace, seed: int) -> dict:
    size = args.input_size + args.input_size // 4
    train = synthetic_videos(args.train_videos, seconds=20.0, size=size, seed=100 + seed)
    test = synthetic_videos(args.test_videos, seconds=20.0, size=size, seed=5000 + seed)
    pretrained, spec = pretrain(args, seed)
    groups = []
    for name, net in (("probe/sspd", pretrained), ("probe/random", build_from_scratch(spec, seed=seed).eval())):
        features = extract_features(net.backbone, train, window=args.frames, input_size=args.input_size)
        head, _ = train_probe(features, config=ProbeConfig(steps=300, seed=seed))
        groups.append(network_signals(probe_predictor(net.backbone, head), test, window=args.frames,
                                      input_size=args.input_size, target="diff", name=name))
    config = FinetuneConfig(steps=args.finetune_steps, window=args.frames, seed=seed)
    for name, net, scale in (("finetune/sspd", pretrained, 0.1), ("scratch", build_from_scratch(spec, seed=seed), 1.0)):
        tuned = finetune(net, train, config=FinetuneConfig(**{**config.__dict__, "backbone_lr_scale": scale})).network
        groups.append(network_signals(tuned.predict, test, window=args.frames, input_size=args.input_size,
                                      target="diff", name=name))
    groups.append([baseline_signals(v, ["pos", "chrom"]) for v in test])
    return metrics_of(evaluate_methods(merge_signals(*groups), window_s=10.0, split="test"))


def main() -> None:
    args = parse_args()
    per_seed = {seed: run_seed(args, seed) for seed in args.seeds}
    methods = list(next(iter(per_seed.values())))
    print(f"{'method':<15}" + "".join(f"  seed {s}: MAE / RMSE / r   " for s in args.seeds) + "  mean MAE")
    for m in methods:
        cells = [f"  {per_seed[s][m]['mae']:6.2f} / {per_seed[s][m]['rmse']:6.2f} / {per_seed[s][m]['pearson_r']:5.2f}"
                 for s in args.seeds]
        print(f"{m:<15}" + "      ".join(cells) + f"      {np.mean([per_seed[s][m]['mae'] for s in args.seeds]):6.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps({"args": vars(args), "results": per_seed}, indent=2))


if __name__ == "__main__":
    main()
