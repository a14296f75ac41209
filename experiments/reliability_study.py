"""Does a pretraining recipe learn the pulse in every run? Many seeds, two thread counts, the whole HR range.

One run = one (recipe, seed, torch threads) triple: unlabeled pretraining with the recipe's run config,
then the final checkpoint scored on held-out synthetic sets rendered from generator seeds no training clip
uses. The thread count stands in for another CPU: float results differ between thread counts, so a recipe
that learns only on one summation order is caught here.

Sets (each `--videos` videos of `--seconds` s, 10 s windows with a 5 s stride):
  wide          HR over 40-180 bpm: a quarter of the videos (at least 6 of 24) stratified over 40-65 bpm,
                the rest stratified over 65-180 bpm; the default nuisances
  motion-heavy  the same HRs with every head-motion knob x3
  realistic     the same HRs with the generator's `realistic` preset: 640x480 webcam framing, H.264 at CRF 28,
                camera exposure and white-balance drift, blinks and mouth motion
Per run: MAE / RMSE / r over the windows of a set (spectral peak in 40-180 bpm, the reference HR from the
ground-truth PPG with the same estimator), the MAE of the videos under 65 bpm, and the run's own health
verdict (RUN_DIR/health.json, label-free). Per recipe: median and worst run, the fraction of runs within
2 bpm, and how often the health verdict agrees with the truth (learning <=> wide MAE <= 5 bpm).
POS and CHROM are scored on the same videos.

Runs are cached (RUN_DIR/study_scores.json): run the study in several processes with disjoint seeds and
read the table of everything finished with `--table`; `--rescore` scores finished runs again with the
current estimator (the health verdict stays the one the run wrote while training).

    python experiments/reliability_study.py --recipe default --seeds 0 1 2 --threads 1 2
    python experiments/reliability_study.py --recipe default --table
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

BAND = (40 / 60, 180 / 60)  # Hz: the study's HR range, so every test pulse is reachable
BASE_CONFIG = "experiments/synthetic_cpu.yaml"
SHORT = ["loop.max_steps=200", "data.clips=256", "loop.epochs=4"]  # the CPU recipe's first version
RECIPES = {  # recipe -> run-config overrides on top of BASE_CONFIG (the library's CPU recipe)
    "default": [],
    "short": SHORT,
    # SiNC's priors on the predictor's signal (an anchor besides online/target agreement, and a batch-variance
    # term against every clip drifting to one rate) and training pulses over the study's whole 40-180 bpm
    "priors-wide": [*SHORT, "objective.sspd.predictor_priors=1.0", "data.synthetic.hr_bpm=[40,180]"],
    "wide-train": [*SHORT, "data.synthetic.hr_bpm=[40,180]"],
    "priors-wide-128": [*SHORT, "objective.sspd.predictor_priors=1.0", "data.synthetic.hr_bpm=[40,180]",
                        "data.frames=128"],
    # three times the steps over twice the clips: the default since; the runs named so were made before
    "long": ["loop.max_steps=600", "data.clips=512", "loop.epochs=5"],
    "long-priors-wide": ["objective.sspd.predictor_priors=1.0", "data.synthetic.hr_bpm=[40,180]",
                         "loop.max_steps=600", "data.clips=512", "loop.epochs=5"],
    # the default before collapse.restart_after (a network the health check still finds not learning at step
    # 200 starts over from new weights, once); runs that learn by step 200 are the same run either way
    "no-restart": ["collapse.restart_after=0"],
    # the default before collapse.restarts=2: one restart only; runs learning 200 steps after their first
    # restart (or never restarted) are the same run either way
    "one-restart": ["collapse.restarts=1"],
}
LEARNED_MAE = 5.0  # bpm on the wide set: the truth the health verdict is compared with


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="default", help=f"one of {sorted(RECIPES)} (or name a --set list)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra run-config overrides of this recipe (repeatable; give the recipe a new name)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts, each a run")
    p.add_argument("--sets", nargs="+", default=["wide", "motion-heavy"],
                   choices=list(SETS))
    p.add_argument("--videos", type=int, default=24, help="videos per set")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--test-seed", type=int, default=770_000, help="generator seed of the test sets")
    p.add_argument("--out", default="runs/reliability_study")
    p.add_argument("--read", choices=["checkpoint", "pulse", "diff"], default="checkpoint",
                   help="how the predictor's output is read: as the checkpoint says (its model.signal), as the "
                        "pulse, or as the pulse's difference (integrated before the HR)")
    p.add_argument("--table", action="store_true", help="only print the table of the finished runs")
    p.add_argument("--rescore", action="store_true",
                   help="score finished runs again on --sets with the current estimator (no training)")
    return p.parse_args()


def test_hrs(n: int, seed: int) -> np.ndarray:
    """Stratified HRs (bpm): a quarter (at least 6 of 24) over 40-65, the rest over 65-180."""
    rng = np.random.default_rng(seed)
    slow = max(1, round(n / 4))
    strata = lambda lo, hi, k: lo + (hi - lo) * (np.arange(k) + rng.uniform(size=k)) / k  # noqa: E731
    return np.concatenate([strata(40.0, 65.0, slow), strata(65.0, 180.0, n - slow)])


SETS = ("wide", "motion-heavy", "realistic")  # a set's generator seeds follow its place here, not in --sets


def set_config(name: str, hr: float) -> SyntheticConfig:
    base = SyntheticConfig(framing="crop", hr_bpm=(hr, hr))
    if name == "motion-heavy":
        return base.scale_nuisances(motion=3.0)
    if name == "realistic":  # the webcam framing, H.264 at CRF 28, camera drift, blinks (the face box cut out)
        return SyntheticConfig.from_preset("realistic", hr_bpm=(hr, hr))
    return base


def build_sets(args: argparse.Namespace, box_size: int, fps: float) -> dict:
    hrs = test_hrs(args.videos, args.test_seed)
    sets = {}
    for name in args.sets:
        videos = []
        for i, hr in enumerate(hrs):  # one generator seed per video, disjoint from training (spawned from 770k+)
            videos += synthetic_videos(1, seconds=args.seconds, fps=fps, size=box_size,
                                       seed=args.test_seed + 1000 * SETS.index(name) + i,
                                       config=set_config(name, float(hr)))
        sets[name] = (videos, hrs)
    return sets


def score(result: dict, hrs: np.ndarray, names: list[str]) -> dict:
    metrics = result["summary"]["metrics"]
    per_video = [result["videos"][n]["metrics"]["mae"] for n in names]
    slow = [m for m, hr in zip(per_video, hrs) if hr < 65.0]
    return {"mae": metrics["mae"], "rmse": metrics["rmse"], "r": metrics["pearson_r"],
            "slow_mae": float(np.mean(slow)) if slow else float("nan"), "videos": per_video}


def evaluate(signals: list, hrs: np.ndarray) -> dict:
    results = evaluate_methods(signals, window_s=10.0, stride_s=5.0, band=BAND)
    names = [s.name for s in signals]
    return {method: score(result, hrs, names) for method, result in results.items()}


def score_sets(network, config: RunConfig, sets: dict, read: str = "checkpoint") -> dict:
    target = network.signal if read == "checkpoint" else read
    scores = {}
    for name, (videos, hrs) in sets.items():
        signals = network_signals(network.predict, videos, window=config.data.frames, target=target,
                                  input_size=config.model.input_size, view=network.view)
        scores[name] = evaluate(signals, hrs)["model"]
    return scores


def run_one(args: argparse.Namespace, seed: int, threads: int, sets: dict) -> dict:
    run_dir = Path(args.out) / f"{args.recipe}_s{seed}_t{threads}"
    cached = run_dir / "study_scores.json"
    if cached.is_file():  # a finished run is scored again only on the sets it lacks (all of --sets: --rescore)
        out = json.loads(cached.read_text())
        missing = [name for name in sets if args.rescore or name not in out["scores"]]
        if missing:
            network, _ = load_pretrained(run_dir)
            config = load_config(RunConfig, str(run_dir / "config.yaml"), [])
            out["scores"].update(score_sets(network.eval(), config, {n: sets[n] for n in missing}, args.read))
            cached.write_text(json.dumps(out, default=float))
        return out
    torch.set_num_threads(threads)
    overrides = [f"seed={seed}", f"run_dir={run_dir}", *RECIPES.get(args.recipe, []), *args.overrides]
    config = load_config(RunConfig, BASE_CONFIG, overrides)
    started = time.time()
    if not (run_dir / "summary.json").is_file():
        result = pretrain(config)
        print(f"  {args.recipe} seed {seed} threads {threads}: {result.steps} steps in {result.wall_time_s:.0f} s "
              f"({result.stop_reason})", flush=True)
    network, _ = load_pretrained(run_dir)
    scores = score_sets(network.eval(), config, sets, args.read)
    health_file = run_dir / "health.json"
    verdict = json.loads(health_file.read_text()).get("verdict") if health_file.is_file() else None
    summary = json.loads((run_dir / "summary.json").read_text())
    out = {"recipe": args.recipe, "seed": seed, "threads": threads, "overrides": overrides, "scores": scores,
           "verdict": verdict, "train_s": summary["wall_time_s"], "total_s": time.time() - started}
    cached.write_text(json.dumps(out, default=float))
    return out


def baselines(args: argparse.Namespace, sets: dict) -> dict:
    path = Path(args.out) / f"baselines_{args.videos}x{args.seconds:g}.json"
    out = json.loads(path.read_text()) if path.is_file() else {}
    for name, (videos, hrs) in sets.items():
        if name not in out:
            out[name] = evaluate([baseline_signals(v, ["pos", "chrom"]) for v in videos], hrs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, default=float))
    return out


def table(args: argparse.Namespace, base: dict | None) -> str:
    runs = [json.loads(p.read_text()) for p in sorted(Path(args.out).glob("*/study_scores.json"))]
    lines = ["| recipe | runs | set | median MAE | worst MAE | within 2 bpm | median RMSE | median r "
             "| median MAE < 65 bpm | health agrees | train s |", "|---" * 11 + "|"]
    by_recipe: dict = {}
    for run in runs:
        by_recipe.setdefault(run["recipe"], []).append(run)
    for recipe, group in sorted(by_recipe.items()):
        agree = [((r["verdict"] == "learning") == (r["scores"]["wide"]["mae"] <= LEARNED_MAE))
                 for r in group if r["verdict"] is not None and "wide" in r["scores"]]
        for name in sorted({s for r in group for s in r["scores"]}):
            rows = [r["scores"][name] for r in group if name in r["scores"]]
            mae = np.array([s["mae"] for s in rows])
            lines.append(
                f"| {recipe} | {len(rows)} | {name} | {np.median(mae):.2f} | {mae.max():.2f} | "
                f"{np.mean(mae <= 2.0):.0%} | {np.median([s['rmse'] for s in rows]):.2f} | "
                f"{np.nanmedian([s['r'] for s in rows]):.2f} | {np.nanmedian([s['slow_mae'] for s in rows]):.2f} | "
                f"{sum(agree)}/{len(agree)} | {np.median([r['train_s'] for r in group]):.0f} |")
        lines.append("")
        lines.append(f"{recipe} runs: " + ", ".join(
            f"s{r['seed']}/t{r['threads']} {r['scores'].get('wide', {}).get('mae', float('nan')):.1f} "
            f"({r['verdict']})" for r in sorted(group, key=lambda r: (r['seed'], r['threads']))))
        lines.append("")
    for name, methods in (base or {}).items():
        for method, s in methods.items():
            if method != "label":
                lines.append(f"{method} on {name}: MAE {s['mae']:.2f} / RMSE {s['rmse']:.2f} / r {s['r']:.2f}, "
                             f"MAE < 65 bpm {s['slow_mae']:.2f}")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.table:
        base = sorted(Path(args.out).glob("baselines_*.json"))
        print(table(args, json.loads(base[-1].read_text()) if base else None))
        return
    first = load_config(RunConfig, BASE_CONFIG, [*RECIPES.get(args.recipe, []), *args.overrides])
    sets = build_sets(args, first.data.box_size, first.data.fps)
    base = baselines(args, sets)
    for seed in args.seeds:
        for threads in args.threads:
            run_one(args, seed, threads, sets)
            print(table(args, base), flush=True)


if __name__ == "__main__":
    main()
