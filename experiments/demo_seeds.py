"""`sspd demo --seed k` over several seeds: the SSPD row's MAE per seed, how many are within 2 bpm, the median.

Each demo is the library's own command (`python -m sspd demo --seed K --out OUT/seed_K --no-progress`), so
a seed's row is exactly what a user gets. A demo spends nearly all its time pretraining (600 steps: about 30
minutes on 2 cores of an AVX2-only CPU). With --runs-from DIR the pretraining stage is taken from a
finished run of the same config and seed, DIR/<--pattern with {seed}> (the reliability study's runs of its
default recipe are the demo's config: `default_s{seed}_t1`, `default_s{seed}_t2`): the demo is first run
with --pretrain-steps 0 (it renders, preprocesses and scores the baselines), the run is copied into its
`pretrain/` (the last checkpoint and the run's records), and the demo run again reuses the finished
pretraining, as it does for any earlier demo of its folder. A seed whose run is missing is skipped and named.

    python experiments/demo_seeds.py --seeds 0 1 2 --out runs/demo_seeds
    python experiments/demo_seeds.py --seeds 0 1 2 3 4 5 6 7 8 9 --out runs/demo_seeds_t1 \\
        --runs-from runs/reliability_study --pattern 'default_s{seed}_t1'
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _demo(out: Path, seed: int, *extra: str) -> None:
    command = [sys.executable, "-m", "sspd", "demo", "--seed", str(seed), "--out", str(out), "--no-progress", *extra]
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"demo seed {seed} failed:\n{done.stderr[-2000:]}")


def _verdict(out: Path) -> str:
    health = out / "pretrain" / "health.json"
    if not health.is_file():
        return "-"
    state = json.loads(health.read_text())
    restarts = state.get("restarts") or []
    return state.get("verdict", "-") + (f", started over after step {restarts[0]['step']}" if restarts else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n", 2)[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--out", default="runs/demo_seeds", help="one demo folder per seed: OUT/seed_K")
    p.add_argument("--runs-from", help="folder of finished pretraining runs of the demo's config (optional)")
    p.add_argument("--pattern", default="default_s{seed}_t1", help="a run's folder name in --runs-from")
    args = p.parse_args()
    rows, missing = [], []
    for seed in args.seeds:
        out = Path(args.out) / f"seed_{seed}"
        if args.runs_from and not (out / "pretrain" / "summary.json").is_file():
            run = Path(args.runs_from) / args.pattern.format(seed=seed)
            if not (run / "summary.json").is_file():
                missing.append(f"{seed} ({run} has no finished run)")
                continue
            _demo(out, seed, "--pretrain-steps", "0")
            # the last checkpoint and the records; not the run folder's own claim and lock files
            skip = shutil.ignore_patterns("step_*.pt", "best.pt", "study_scores.json", ".sspd-*")
            shutil.copytree(run, out / "pretrain", dirs_exist_ok=True, ignore=skip)
        _demo(out, seed)
        sspd = json.loads((out / "baselines.json").read_text())["sspd"]["summary"]["metrics"]
        rows.append((seed, sspd["mae"], sspd["rmse"], _verdict(out)))
        print(f"seed {seed}: SSPD MAE {sspd['mae']:.2f} bpm, RMSE {sspd['rmse']:.2f} ({rows[-1][3]})", flush=True)
    if missing:
        print("skipped seeds: " + "; ".join(missing))
    if rows:
        mae = np.array([r[1] for r in rows])
        print(f"{len(rows)} demos: SSPD row within 2 bpm in {int((mae <= 2.0).sum())} of {len(rows)}, "
              f"median MAE {np.median(mae):.2f}, worst {mae.max():.2f} bpm")


if __name__ == "__main__":
    main()
