"""``sspd finetune``: supervised fine-tuning of a pretrained network, or the from-scratch baseline."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from sspd.cli.evaluate import add_data_arguments

    p = sub.add_parser(
        "finetune", help="fine-tune a pretrained network on labels (or --from-scratch, the baseline)",
        description=(
            "Train the whole inference network (backbone + SSPD predictor) of a run directory or checkpoint "
            "on the training split's PPG with the negative Pearson loss, the backbone at --backbone-lr-scale "
            "times the rate. --from-scratch trains the same architecture from random weights with the same "
            "steps, batch and rates: the supervised baseline. The output folder is a run directory "
            "(checkpoints/last.pt, metrics.jsonl) that sspd evaluate reads."))
    p.add_argument("source", help="a run directory or .pt checkpoint, or an rPPG-Toolbox PhysNet/PhysFormer "
                                        ".pth (for --from-scratch: its architecture)")
    p.add_argument("--from-scratch", action="store_true", help="random weights, same budget")
    p.add_argument("--config", help="YAML mapping of FinetuneConfig fields; the flags below override it")
    p.add_argument("--steps", type=int, help="optimiser steps (default 200)")
    p.add_argument("--batch-size", type=int, help="windows per step (default 4)")
    p.add_argument("--lr", type=float, help="the predictor's peak learning rate (default 1e-3, cosine decay)")
    p.add_argument("--backbone-lr-scale", type=float,
                   help="backbone learning-rate multiplier (default 0.1: keep the pretrained features close; "
                        "1 trains everything at one rate)")
    p.add_argument("--target", choices=("diff", "pulse"), help="train on the PPG's difference (default) or the PPG")
    p.add_argument("--seed", type=int, help="seed of the initialisation, windows and flips (default 0)")
    p.add_argument("--which", choices=("online", "target"), default="online", help="network of the checkpoint")
    p.add_argument("--out", required=True, help="the run directory to write")
    add_data_arguments(p)
    p.set_defaults(func=run)


def _finetune_config(args: argparse.Namespace, window: int):
    """FinetuneConfig from --config (checked key by key: unknown keys and wrong types are named) with the
    flags over it; ``window`` (the network's clip length) unless the file sets it."""
    from sspd.configuration import load_config, read_yaml
    from sspd.eval.finetune import FinetuneConfig

    values = {"window": window}
    if args.config:
        loaded = read_yaml(args.config)
        if not isinstance(loaded, dict):
            raise ValueError(f"{args.config}: expected a mapping of FinetuneConfig fields "
                             f"{sorted(FinetuneConfig.__dataclass_fields__)}, got "
                             f"{'an empty file' if loaded is None else type(loaded).__name__}")
        values.update(loaded)
    flags = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
             "backbone_lr_scale": args.backbone_lr_scale, "target": args.target, "seed": args.seed}
    values.update({k: v for k, v in flags.items() if v is not None})
    try:
        return load_config(FinetuneConfig, values)
    except ValueError as err:
        raise ValueError(f"{args.config or 'the finetune flags'}: {err}") from None


#: what sspd finetune writes into --out
_OUTPUTS = ("checkpoints", "metrics.jsonl")


def _is_finetune_output(out: Path) -> bool:
    """Whether ``out`` (made before folders were claimed) holds a fine-tuned checkpoint of sspd finetune."""
    from sspd.engine import load_checkpoint

    try:
        state = load_checkpoint(out / "checkpoints" / "last.pt")
    except (OSError, ValueError):  # missing, unreadable or foreign: not ours
        return False
    return isinstance(state, dict) and state.get("finetune") is not None


def check_out(out: str) -> Path:
    """``--out`` as a Path, refused (before any work) when it is another command's folder (a pretraining
    run: its last.pt and metrics.jsonl would be replaced) or holds the user's files of the names written."""
    from sspd.files import check_folder

    check_folder(out, "finetune", outputs=_OUTPUTS, where="--out", legacy=_is_finetune_output)
    return Path(out)


def run(args: argparse.Namespace) -> int:
    from sspd.cli.evaluate import load_videos
    from sspd.engine import JSONLSink
    from sspd.eval.finetune import build_from_scratch, finetune, finetuned_input_spec, save_finetuned
    from sspd.eval.model_eval import load_network, checkpoint_network_spec

    from sspd.files import claim_folder
    from sspd.models import read_input_spec

    out = check_out(args.out)
    network, checkpoint = load_network(args.source, which=args.which)
    spec = checkpoint_network_spec(checkpoint, args.source)
    config = _finetune_config(args, network.backbone.frames)
    if args.from_scratch:
        network = build_from_scratch(spec, seed=config.seed)
    train = load_videos(args, "train", size=max(network.input_size))
    claim_folder(out, "finetune", outputs=_OUTPUTS, where="--out", legacy=_is_finetune_output)
    with JSONLSink(out / "metrics.jsonl") as sink:
        result = finetune(network, train, config=config, sink=sink)
    start, _ = read_input_spec(checkpoint, args.source)
    path = save_finetuned(result, out, spec=spec, config=config,
                          source=None if args.from_scratch else str(args.source),
                          input_spec=finetuned_input_spec(start, train, target=config.target))
    print(f"{'from scratch' if args.from_scratch else 'fine-tuned'}: {config.steps} steps, final loss "
          f"{result.history[-1]['loss']:.4f}; wrote {path} (evaluate with: sspd evaluate {out})")
    return 0
