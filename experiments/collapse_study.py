"""Collapse study: does the collapse monitor flag the runs it should, and only those?

Runs small SSPD pretraining runs on synthetic clips (tiny SSPD-Net, 64-frame clips, CPU) in four
scenarios and prints one table row per run:

    default        the default recipe on clips with a pulse                     expected: no collapse
    no_band_ratio  band-ratio (SNR) weight 0 and a high diagonal-std weight     expected: collapsed
    no_pulse       the default recipe on clips with no pulse at all             expected: not learning (or
                                                                                 collapsed): never learning
    flicker        no pulse, only an in-band light flicker at --flicker-hz      expected: collapsed, with the
                   (the release's views: the default ones remove the flicker)    predicted HRs piled up at the
                                                                                 flicker frequency

    python experiments/collapse_study.py --out runs/collapse_study            # about 2 min per run on CPU
    python experiments/collapse_study.py --scenarios default --seeds 0,1,2 --steps 64

Each run directory also gets its report (RUN_DIR/report/report.html, report.md). The verdict column is
the run's answer (learning, not learning, collapsed: a declared collapse, else the loop's last health
check); whether the runs that do not collapse learn is experiments/health_study.py's question.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import time
from pathlib import Path

SCENARIOS = ("default", "no_band_ratio", "no_pulse", "flicker")
EXPECTED = {"default": "no collapse", "no_band_ratio": "collapsed", "no_pulse": "not learning or collapsed",
            "flicker": "collapsed"}


def build_config(scenario: str, *, seed: int, steps: int, run_dir: Path, check_every: int = 4):
    """The RunConfig of one scenario: the default recipe, with the objective changed for no_band_ratio.

    The monitor checks every ``check_every`` steps, with its default patience (3 checks) and warm-up
    (the first quarter of the run), and stops the run when it declares collapse.
    """
    from sspd.cli.config import CollapseConfig, LoopConfig, RunConfig
    from sspd.engine import SSPDLossWeights
    from sspd.objectives import ObjectiveConfig

    config = RunConfig(seed=seed, run_dir=str(run_dir),
                       loop=LoopConfig(max_steps=steps, checkpoint_every=max(1, steps // 4), device="cpu"),
                       collapse=CollapseConfig(every_n_steps=check_every, stop=True))
    if scenario == "no_band_ratio":
        # L_snr is what holds off temporal collapse; L_sd alone rewards it (docs/method.md §7)
        weights = SSPDLossWeights(rpd=0.5, pyr=0.5, sd=5.0, snr=0.0)
        sspd = dataclasses.replace(config.objective.sspd, weights=weights)
        # a new objective section (dataclasses.replace would pass the old options beside the new ones)
        config = dataclasses.replace(config, objective=ObjectiveConfig(name="sspd", options=sspd))
    if scenario == "flicker":
        # the default views remove each pixel's luminance, and a light flicker with it, so the default
        # recipe cannot lock onto it; the release's views can, which is what this scenario must catch
        views = dataclasses.replace(config.views, difference="raw", luminance="keep", motion_px=0.0)
        config = dataclasses.replace(config, views=views)
    return config


def build_dataset(scenario: str, config, *, flicker_hz: float):
    """None (the config's own synthetic clips) or the no-pulse / flicker-only clips of the scenario."""
    if scenario not in ("no_pulse", "flicker"):
        return None
    from sspd.data.synthetic import SyntheticConfig
    from sspd.data.synthetic.clips import SyntheticClipDataset
    from sspd.engine.seeding import derive_seed

    knobs = SyntheticConfig(framing="crop", no_pulse=True, flicker_hz=flicker_hz if scenario == "flicker" else None)
    data = config.data
    return SyntheticClipDataset(data.clips, frames=data.frames + 1, size=data.box_size, fps=data.fps,
                                seed=derive_seed(config.seed, "synthetic_clips") % 2**32, config=knobs)


def _worst_alarm_after_warmup(run_dir: Path, warmup: int) -> int:
    """The highest alarm level (0/1/2) of any probe at a check at or after ``warmup``."""
    worst = 0
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["step"] >= warmup:
            worst = max([worst] + [int(v) for k, v in row.items() if k.startswith("alarm/")])
    return worst


def summarise(scenario: str, seed: int, run_dir: Path, result) -> dict:
    """One table row: how the run ended, the verdict, the deciding probe and value, the HR mode."""
    from sspd.diagnostics.report import write_report

    verdict = write_report(run_dir).verdict
    collapse = json.loads((run_dir / "collapse.json").read_text()) if (run_dir / "collapse.json").is_file() else {}
    rows = {row.probe: row for row in verdict.rows}
    probe = verdict.probe or next((r.probe for r in verdict.rows if r.level != "healthy"), None)
    value = rows[probe].value if probe in rows else collapse.get("probes", {}).get(probe, math.nan)
    return {"scenario": scenario, "seed": seed, "steps": result.steps, "stop": result.stop_reason,
            "verdict": verdict.level, "probe": (probe or "-").replace("collapse/", ""), "value": value,
            "hr_mode": collapse.get("probes", {}).get("collapse/hr_mode_bpm", math.nan),
            "pileup": collapse.get("probes", {}).get("collapse/hr_pileup", math.nan),
            "worst_after_warmup": _worst_alarm_after_warmup(run_dir, int(collapse.get("warmup_steps", 0))),
            "expected": EXPECTED[scenario], "wall_s": result.wall_time_s}


def run_scenario(scenario: str, *, seed: int, steps: int, out: Path, flicker_hz: float = 1.5,
                 check_every: int = 4) -> dict:
    """Train one scenario into ``out/<scenario>_s<seed>`` (replacing it) and summarise it."""
    from sspd.cli.pretrain import pretrain

    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    run_dir = out / f"{scenario}_s{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    config = build_config(scenario, seed=seed, steps=steps, run_dir=run_dir, check_every=check_every)
    result = pretrain(config, dataset=build_dataset(scenario, config, flicker_hz=flicker_hz))
    return summarise(scenario, seed, run_dir, result)


def format_table(rows: list[dict]) -> str:
    header = ("| scenario | seed | steps | stop | verdict | deciding probe | value | HR mode (bpm) | pile-up "
              "| worst alarm after warm-up | expected | wall (s) |")
    lines = [header, "|" + "---|" * 12]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['seed']} | {r['steps']} | {r['stop']} | {r['verdict']} | {r['probe']} "
                     f"| {r['value']:.3g} | {r['hr_mode']:.1f} | {r['pileup']:.2f} | {r['worst_after_warmup']} "
                     f"| {r['expected']} | {r['wall_s']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/collapse_study", help="folder of the run directories")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the default scenario (others use the first)")
    parser.add_argument("--steps", type=int, default=64, help="optimiser steps per run (default 64)")
    parser.add_argument("--flicker-hz", type=float, default=1.5, help="flicker frequency in Hz (default 1.5 = 90 bpm)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for scenario in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
        for seed in seeds if scenario == "default" else seeds[:1]:
            started = time.time()
            rows.append(run_scenario(scenario, seed=seed, steps=args.steps, out=Path(args.out),
                                     flicker_hz=args.flicker_hz))
            print(f"{scenario} seed {seed}: {rows[-1]['verdict']} ({time.time() - started:.0f} s)", file=sys.stderr)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
