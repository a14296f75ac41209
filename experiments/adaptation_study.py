"""The adaptation study: a supervised model of one synthetic domain, adapted without labels to another.

Rows (per seed, every run on synthetic clips rendered on the fly, the target domain's clips unlabeled):
  source-supervised  trained with labels (negative Pearson to the PPG's difference) on the source domain
  adapted            the source model (model.init) adapted with SiNC's priors on its integrated output,
                     on unlabeled target clips, every layer, BatchNorm in train mode
  adapted-norm       the same adaptation, only the normalisation layers' affine parameters (adapt.layers=norm)
  adapted-bnfrozen   the same adaptation, every layer, BatchNorm statistics frozen (adapt.batchnorm=frozen)
  bn-stats           no gradient step: only the BatchNorm statistics re-estimated on the target clips
                     (adapt.layers=none), the same number of steps
  scratch-sinc       SiNC from random weights on the same target clips with the same number of steps
  pos                the training-free baseline on the same test videos
The network is the rPPG-Toolbox's form, at toy size: a PhysNet (width --width) whose own head gives the
pulse's difference (model.output=backbone, model.signal=diff) on DiffNormalized views (normalised frame
difference divided by its standard deviation), so the path is the one a toolbox checkpoint takes.
Domains: source = fair skin, half the default motion and illumination changes; target = dark skin, three
times the default motion and illumination changes (--target-motion, --target-illumination).
Columns: HR MAE / RMSE / r on held-out test videos of each domain (seeds disjoint from every training
clip): 10 s windows, spectral peak after detrend and band-pass, the reference HR from the ground-truth
PPG with the same estimator; mean ± sd over the seeds. The label-free check (SiNC L_b + L_s of the
inference signal on clips of the training data, adapt/held_priors) is reported beside each adapted step.

    python experiments/adaptation_study.py --seeds 0 1 2 --out runs/adaptation_study
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
from sspd.engine import load_pretrained
from sspd.eval.baseline_eval import baseline_signals, evaluate_methods
from sspd.eval.model_eval import network_signals, synthetic_videos

SOURCE = {"skin_tone": "fair", "motion": 0.5, "illumination": 0.5}
ROWS = {  # row -> its overrides, from the arguments and the adaptation's (model.init, learning rate)
    "adapted": lambda args, adapt: adapt,
    "adapted-norm": lambda args, adapt: [*adapt, "adapt.layers=norm"],
    "adapted-bnfrozen": lambda args, adapt: [*adapt, "adapt.batchnorm=frozen"],
    "bn-stats": lambda args, adapt: [*adapt, "adapt.layers=none"],
    "scratch-sinc": lambda args, adapt: [f"optim.lr={args.lr}"],
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--rows", nargs="+", default=["adapted", "adapted-norm", "adapted-bnfrozen", "bn-stats",
                                                  "scratch-sinc"],
                   choices=list(ROWS))
    p.add_argument("--source-steps", type=int, default=120, help="supervised steps on the source domain")
    p.add_argument("--steps", type=int, default=80, help="steps of every target-domain run")
    p.add_argument("--adapt-lr", type=float, default=3e-4, help="Adam learning rate of the adaptation")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate of the source and scratch runs")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--box-size", type=int, default=36)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--clips", type=int, default=128)
    p.add_argument("--target-skin", default="dark")
    p.add_argument("--target-motion", type=float, default=3.0)
    p.add_argument("--target-illumination", type=float, default=3.0)
    p.add_argument("--test-videos", type=int, default=6)
    p.add_argument("--test-seconds", type=float, default=20.0)
    p.add_argument("--out", default="runs/adaptation_study")
    return p.parse_args()


def domains(args: argparse.Namespace) -> dict[str, dict]:
    return {"source": SOURCE, "target": {"skin_tone": args.target_skin, "motion": args.target_motion,
                                         "illumination": args.target_illumination}}


def config(args: argparse.Namespace, run_dir: Path, seed: int, domain: dict, steps: int,
           extra: list[str]) -> RunConfig:
    shared = [f"seed={seed}", f"run_dir={run_dir}", f"data.frames={args.frames}", f"data.box_size={args.box_size}",
              f"data.clips={args.clips}", f"data.synthetic.skin_tone={domain['skin_tone']}",
              f"data.motion_scale={domain['motion']}", f"data.illumination_scale={domain['illumination']}",
              "model.backbone=physnet", f"model.input_size={args.input_size}", f"model.width={args.width}",
              "model.output=backbone", "model.signal=diff", "views.difference=normalized", "views.luminance=keep",
              "views.scale=std", "views.motion_px=0", f"loop.batch_size={args.batch_size}",
              f"loop.max_steps={steps}", "loop.epochs=1000", f"loop.checkpoint_every={max(1, steps // 2)}",
              "loop.keep_last=4", "collapse.enabled=false", "probe.every_n_steps=0"]
    return load_config(RunConfig, None, [*shared, *extra])


def test_sets(args: argparse.Namespace) -> dict[str, list]:
    out = {}
    for i, (name, domain) in enumerate(domains(args).items()):
        synthetic = SyntheticConfig(framing="crop", skin_tone=domain["skin_tone"]).scale_nuisances(
            motion=domain["motion"], illumination=domain["illumination"])
        out[name] = synthetic_videos(args.test_videos, seconds=args.test_seconds, size=args.box_size,
                                     seed=950_000 + i, config=synthetic)
    return out


def score(result: dict) -> dict:
    metrics = result["summary"]["metrics"]
    return {"mae": metrics["mae"], "rmse": metrics["rmse"], "r": metrics["pearson_r"]}


def evaluate(network, args: argparse.Namespace, tests: dict) -> dict:
    return {name: score(evaluate_methods(network_signals(network.predict, videos, window=args.frames,
                                                         input_size=args.input_size, target=network.signal,
                                                         view=network.view), window_s=10.0)["model"])
            for name, videos in tests.items()}


def train(cfg: RunConfig) -> None:
    if not (Path(cfg.run_dir) / "summary.json").is_file():
        result = pretrain(cfg)
        print(f"  {Path(cfg.run_dir).name}: {result.steps} steps in {result.wall_time_s:.0f} s ({result.stop_reason})",
              flush=True)


def held_priors(run_dir: Path) -> dict[int, float]:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {int(r["step"]): r["adapt/held_priors"] for r in lines if "adapt/held_priors" in r}


def _cached(path: Path, compute) -> dict:
    """``compute()``, saved to ``path`` as JSON (read back when the study is rerun)."""
    if not path.is_file():
        started = time.time()
        value = compute()
        path.write_text(json.dumps({"value": value, "seconds": time.time() - started}, default=float))
    return json.loads(path.read_text())


def run_seed(args: argparse.Namespace, seed: int, tests: dict) -> dict:
    root = Path(args.out) / f"seed{seed}"
    source_dir, (source, target) = root / "source-supervised", domains(args).values()

    def source_scores() -> dict:
        train(config(args, source_dir, seed, source, args.source_steps,
                     ["objective.name=supervised", "objective.supervised.target=diff", f"optim.lr={args.lr}"]))
        return {args.source_steps: evaluate(load_pretrained(source_dir)[0], args, tests)}

    first = _cached(root / "source_scores.json", source_scores)
    scores, checks, seconds = {"source-supervised": first["value"]}, {}, first["seconds"]
    sinc = ["objective.name=sinc", "objective.sinc.signal=diff", f"adapt.check_every={max(1, args.steps // 4)}"]
    adapt = [f"model.init={source_dir}", f"optim.lr={args.adapt_lr}"]
    for row in args.rows:
        run_dir = root / row

        def row_scores() -> dict:
            train(config(args, run_dir, seed, target, args.steps, [*sinc, *ROWS[row](args, adapt)]))
            return {step: evaluate(load_pretrained(run_dir / "checkpoints" / f"step_{step:07d}.pt")[0], args, tests)
                    for step in (max(1, args.steps // 2), args.steps)}

        done = _cached(root / f"{row}_scores.json", row_scores)
        scores[row], checks[row], seconds = done["value"], held_priors(run_dir), seconds + done["seconds"]
    return {"scores": scores, "checks": {r: {str(k): v for k, v in c.items()} for r, c in checks.items()},
            "seconds": seconds}


def baselines(tests: dict) -> dict:
    return {name: score(evaluate_methods([baseline_signals(v, ["pos"]) for v in videos], window_s=10.0)["pos"])
            for name, videos in tests.items()}


def _cell(values: list[dict]) -> str:
    mae, rmse, r = (np.array([v[k] for v in values], dtype=float) for k in ("mae", "rmse", "r"))
    spread = f" ± {mae.std(ddof=1):.2f}" if mae.size > 1 else ""
    return f"{mae.mean():.2f}{spread} / {rmse.mean():.2f} / {np.nanmean(r):.2f}"


def table(args: argparse.Namespace, per_seed: dict, base: dict) -> str:
    lines = ["| row | step | target: MAE / RMSE / r | source: MAE / RMSE / r | label-free check L_b+L_s |",
             "|---|---|---|---|---|"]
    rows = ["source-supervised", *args.rows]
    for row in rows:
        for step in map(str, next(iter(per_seed.values()))["scores"][row]):
            cells = [_cell([s["scores"][row][step][name] for s in per_seed.values()]) for name in ("target", "source")]
            checks = [s["checks"].get(row, {}).get(step) for s in per_seed.values()]
            check = f"{np.mean(checks):.3f}" if all(c is not None for c in checks) else "-"
            lines.append(f"| {row} | {step} | {cells[0]} | {cells[1]} | {check} |")
    lines.append(f"| pos | - | {_cell([base['target']])} | {_cell([base['source']])} | - |")
    protocol = (f"Seeds {list(per_seed)}; PhysNet width {args.width} at {args.input_size} px from {args.box_size} px "
                f"boxes, {args.frames}-frame clips, batch {args.batch_size}, DiffNormalized views, output = the "
                f"pulse's difference (integrated). Source: {args.source_steps} supervised steps at lr {args.lr} "
                f"(fair skin, motion and illumination x0.5). Target: {args.target_skin} skin, motion "
                f"x{args.target_motion:g}, illumination x{args.target_illumination:g}; {args.steps} SiNC steps "
                f"(adaptation at lr {args.adapt_lr}, scratch at lr {args.lr}). {args.test_videos} test videos x "
                f"{args.test_seconds:g} s per domain; 10 s windows; MAE ± sd over seeds / RMSE / r (bpm); the "
                "check: adapt/held_priors at that step (mean over seeds).")
    return "\n".join(lines) + "\n\n" + protocol + "\n"


def main() -> None:
    args = parse_args()
    tests = test_sets(args)
    base = baselines(tests)
    per_seed = {}
    for seed in args.seeds:
        per_seed[seed] = run_seed(args, seed, tests)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "study.json").write_text(json.dumps({"args": vars(args), "pos": base, "seeds": per_seed}, indent=1,
                                                   default=float))
        (out / "study.md").write_text(table(args, per_seed, base))
        print(table(args, per_seed, base), flush=True)


if __name__ == "__main__":
    main()
