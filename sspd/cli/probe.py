"""``sspd probe``: the linear probe of a pretrained backbone at several label fractions, with test metrics."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from sspd.cli.evaluate import add_data_arguments, add_protocol_arguments

    p = sub.add_parser(
        "probe", help="linear probe of a pretrained backbone (frozen) at several label fractions",
        description=(
            "Freeze the backbone of a run directory or checkpoint (eval mode, no gradients), compute the pooled "
            "features of every training window once, train a per-frame linear head on them with Adam on the "
            "negative Pearson loss for each label fraction (a seeded subset of the TRAINING SUBJECTS), and "
            "score each head on the test split with the windowed HR protocol. --random-init probes the same "
            "architecture with random weights: the reference a pretrained backbone must beat."))
    p.add_argument("source", help="a run directory or .pt checkpoint")
    p.add_argument("--config", help="YAML mapping of ProbeConfig fields (steps, lr, weight_decay, batch_size, "
                                    "band_weight, band, seed); the flags below override it")
    p.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.25],
                   help="label fractions of the training subjects (default 1.0 0.25)")
    p.add_argument("--steps", type=int, help="Adam steps of each head (default 300)")
    p.add_argument("--lr", type=float, help="the head's learning rate (default 1e-2)")
    p.add_argument("--band-weight", type=float,
                   help="weight of the out-of-band energy term (default 0: negative Pearson only)")
    p.add_argument("--seed", type=int, default=0, help="seed of the subject draw and the head (default 0)")
    p.add_argument("--target", choices=("diff", "pulse"), default="diff",
                   help="what the head is trained on: the PPG's first difference (default; what a per-frame "
                        "map of frame-difference features can follow) or the PPG itself")
    p.add_argument("--which", choices=("online", "target"), default="online", help="network of the checkpoint")
    p.add_argument("--random-init", action="store_true",
                   help="probe a randomly initialised backbone of the same architecture instead")
    p.add_argument("--feature-cache", help="a .pt file to keep the training features in (reused when present)")
    p.add_argument("--out", default="sspd-probe", help="output folder (default ./sspd-probe)")
    add_data_arguments(p)
    add_protocol_arguments(p)
    p.set_defaults(func=run)


def _probe_config(args: argparse.Namespace):
    import yaml

    from sspd.eval.probe import ProbeConfig

    values = {}
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            values = yaml.safe_load(fh) or {}
        unknown = set(values) - set(ProbeConfig.__dataclass_fields__) if isinstance(values, dict) else None
        if unknown is None or unknown:
            raise ValueError(f"{args.config}: expected a mapping of ProbeConfig fields "
                             f"{sorted(ProbeConfig.__dataclass_fields__)}; unknown: {sorted(unknown or [])}")
    flags = {"steps": args.steps, "lr": args.lr, "band_weight": args.band_weight, "seed": args.seed}
    values.update({k: v for k, v in flags.items() if v is not None})
    if "band" in values:
        values["band"] = tuple(values["band"])
    return ProbeConfig(**values)


def run(args: argparse.Namespace) -> int:
    from sspd.cli.evaluate import evaluate_with_flags, evaluation_kwargs, load_videos
    from sspd.eval.finetune import build_from_scratch
    from sspd.eval.model_eval import load_network, network_signals, checkpoint_network_spec, write_evaluation
    from sspd.eval.probe import extract_features, probe_predictor, select_subjects, train_probe

    config = _probe_config(args)
    network, checkpoint = load_network(args.source, which=args.which)
    if args.random_init:
        network = build_from_scratch(checkpoint_network_spec(checkpoint, args.source), seed=args.seed).eval()
    size, window = max(network.input_size), network.backbone.frames
    train, test = load_videos(args, "train", size=size), load_videos(args, "test", size=size)
    features = extract_features(network.backbone, train, window=window, input_size=network.input_size,
                                target=args.target, cache_file=args.feature_cache, view=network.view)
    out, table = Path(args.out), {}
    for fraction in args.fractions:
        subjects = select_subjects(features.subjects, fraction, seed=args.seed)
        head, losses = train_probe(features, config=config, subjects=subjects)
        signals = network_signals(probe_predictor(network.backbone, head), test, window=window,
                                  input_size=network.input_size, target=args.target, stride=args.stride_frames,
                                  name=f"probe@{fraction:g}", view=network.view)
        results = evaluate_with_flags(signals, **evaluation_kwargs(args))
        write_evaluation(results, signals, test, out / f"fraction_{fraction:g}", label=f"probe {fraction:g}",
                         source={"model": str(args.source), "random_init": args.random_init,
                                 "train_subjects": subjects, "final_loss": losses[-1]})
        m = next(iter(results.values()))["summary"]["metrics"]
        table[f"{fraction:g}"] = {"subjects": len(subjects), "mae": m["mae"], "rmse": m["rmse"], "r": m["pearson_r"]}
        print(f"fraction {fraction:g} ({len(subjects)} subjects): MAE {m['mae']:.2f} bpm, RMSE {m['rmse']:.2f}, "
              f"r {m['pearson_r']:.3f}")
    (out / "probe.json").write_text(json.dumps(table, indent=2), encoding="utf-8")
    print(f"wrote {out}")
    return 0
