"""The health study: does the label-free verdict tell a run that learns the pulse from one that does not?

Trains a set of small runs (the CPU recipe's network and clips, 200 steps unless a run says otherwise)
that learn and that do not, then writes one table: run, split, truth, label-free verdict, deciding probe.

  truth      from labels, never seen by the verdict: the final online predictor on held-out synthetic
             videos (12 x 20 s, 10 s windows, spectral peak; seeds disjoint from every training clip),
             rendered with the run's own generator settings. "learning" when the HR MAE is <= 5 bpm (and
             r >= 0.3), "not learning" when it is > 15 bpm or r < 0.3, "between" otherwise (left out of the
             accuracy). A run on clips with no pulse is "not learning" by construction; its figures are
             measured on default videos (with a pulse) and shown: a predictor that follows the brightness
             of its no-pulse clips can still find the pulse of a still video, which is not learning it.
  verdict    :func:`sspd.diagnostics.health.assess_health` on the run's final network and its own
             training data (clips drawn by sspd.engine.health_clips, their labels unused), exactly what
             the training loop writes to health.json at the end of a run.

Runs fall in two splits: "calibration" (the thresholds of sspd.diagnostics.health were set on these)
and "validation" (other seeds, other generator settings, the other backbones; never used to set them).

    python experiments/health_study.py --out runs/health_study                  # every run, ~2 min each
    python experiments/health_study.py --split calibration --only sspd_s0 paper_s0

Finished runs are cached in their run directories (truth.json, health.json): a rerun only evaluates
what is missing.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

PAPER_VIEWS = ["views.difference=raw", "views.luminance=keep", "views.motion_px=0"]
NO_PULSE = ["data.synthetic.no_pulse=true"]


@dataclass(frozen=True)
class StudyRun:
    """One run of the study: its name, split, seed and run-config overrides on top of the shared ones."""

    name: str
    split: str
    seed: int
    overrides: tuple[str, ...] = ()
    steps: int = 200


def _runs() -> list[StudyRun]:
    cal, val = "calibration", "validation"
    flicker = [*NO_PULSE, "data.synthetic.flicker_hz=1.3", "data.synthetic.flicker_amplitude=0.02"]
    head = ["data.synthetic.motion_periodic=0.03", "data.synthetic.motion_hz=[0.9,1.8]"]
    low = ["data.synthetic.pulse_amplitude=[0.0007,0.0015]"]
    return [
        # calibration: objectives, data, broken settings
        StudyRun("sspd_s0", cal, 0),
        StudyRun("sspd_s1", cal, 1),
        StudyRun("paper_s0", cal, 0, tuple(PAPER_VIEWS)),
        StudyRun("sinc_s0", cal, 0, ("objective.name=sinc", *PAPER_VIEWS)),
        StudyRun("sinc-chroma_s0", cal, 0, ("objective.name=sinc", "views.motion_px=0")),
        StudyRun("nopulse_s0", cal, 0, tuple(NO_PULSE)),
        StudyRun("flicker_s0", cal, 0, (*flicker, *PAPER_VIEWS)),
        StudyRun("headmotion_s0", cal, 0, tuple(head)),
        StudyRun("lowamp_s0", cal, 0, tuple(low)),
        StudyRun("noratio_s0", cal, 0, ("objective.sspd.weights.snr=0", "objective.sspd.weights.sd=5")),
        StudyRun("lr30_s0", cal, 0, ("optim.lr=0.03",)),
        StudyRun("momentum1_s0", cal, 0, ("ema.momentum_start=1.0",)),
        StudyRun("undetached_s0", cal, 0, ("objective.sspd.detach_predictor=false",)),
        StudyRun("static_s0", cal, 0, ("views.motion_px=0",)),
        # validation: other seeds, generator settings and backbones
        StudyRun("sspd_s2", val, 2),
        StudyRun("sspd_s3", val, 3),
        StudyRun("paper_s1", val, 1, tuple(PAPER_VIEWS)),
        StudyRun("paper600_s0", val, 0, tuple(PAPER_VIEWS), steps=600),
        StudyRun("sinc_s1", val, 1, ("objective.name=sinc", *PAPER_VIEWS)),
        StudyRun("sinc-chroma_s1", val, 1, ("objective.name=sinc", "views.motion_px=0")),
        StudyRun("nopulse-bright_s1", val, 1, (*NO_PULSE, "data.illumination_scale=2")),
        StudyRun("flicker-default-views_s1", val, 1,
                 (*NO_PULSE, "data.synthetic.flicker_hz=2.0", "data.synthetic.flicker_amplitude=0.02")),
        StudyRun("flicker-pulse_s1", val, 1, ("data.synthetic.flicker_hz=1.1", "data.synthetic.flicker_amplitude=0.02",
                                              *PAPER_VIEWS)),
        StudyRun("motion3_s1", val, 1, ("data.motion_scale=3",)),
        StudyRun("lowamp_s1", val, 1, tuple(low)),
        StudyRun("physnet_s0", val, 0, ("model.backbone=physnet", "model.width=0.25")),
        StudyRun("physformer_s0", val, 0, ("model.backbone=physformer",)),
        # runs that learn by construction: labels, the ceiling of the learning study
        StudyRun("supervised_s0", cal, 0, ("objective.name=supervised", "views.motion_px=0")),
        StudyRun("supervised_s1", val, 1, ("objective.name=supervised", "views.motion_px=0")),
    ]


RUNS = _runs()


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/health_study", help="folder of the run directories and the table")
    p.add_argument("--split", choices=["calibration", "validation", "all"], default="all")
    p.add_argument("--only", nargs="+", default=None, metavar="RUN", help="these runs only (names as in the table)")
    p.add_argument("--train-only", action="store_true", help="train and score the truth; no verdicts")
    p.add_argument("--cached", action="store_true", help="tabulate the finished runs only (train nothing)")
    p.add_argument("--test-videos", type=int, default=12, help="held-out videos of the truth")
    p.add_argument("--test-seconds", type=float, default=20.0)
    return p.parse_args()


def run_config(run: StudyRun, out: Path):
    from sspd.cli.config import RunConfig
    from sspd.configuration import load_config

    shared = [f"seed={run.seed}", f"run_dir={out / run.name}", f"loop.max_steps={run.steps}", "loop.epochs=1000",
              f"loop.checkpoint_every={run.steps}", "loop.keep_last=1"]
    return load_config(RunConfig, None, [*shared, *run.overrides])


def truth_videos(config, n_videos: int, seconds: float) -> list:
    """Held-out videos with the run's generator settings (the default ones when its clips hold no pulse)."""
    from sspd.data.synthetic import SyntheticConfig
    from sspd.eval.model_eval import synthetic_videos

    knobs = config.data.synthetic_config()
    if knobs.no_pulse:
        knobs = SyntheticConfig(framing="crop")
    return synthetic_videos(n_videos, seconds=seconds, size=config.data.box_size, seed=910_000, config=knobs)


def truth_label(mae: float, r: float, *, has_pulse: bool = True) -> str:
    """learning (MAE <= 5 bpm, r >= 0.3), not learning (MAE > 15 bpm or r < 0.3; always for clips with no
    pulse: nothing there can teach one, whatever the network then does on other videos), else between."""
    if not has_pulse or mae > 15.0 or not r >= 0.3:
        return "not learning"
    return "learning" if mae <= 5.0 else "between"


def score_truth(network, config, videos: list) -> dict:
    from sspd.eval.baseline_eval import baseline_signals, evaluate_methods
    from sspd.eval.model_eval import network_signals

    signals = network_signals(network.predict, videos, window=config.data.frames,
                              input_size=config.model.input_size, target=network.signal, view=network.view)
    model = evaluate_methods(signals, window_s=10.0)["model"]["summary"]["metrics"]
    pos = evaluate_methods([baseline_signals(v, ["pos"]) for v in videos], window_s=10.0)["pos"]["summary"]["metrics"]
    mae, r = float(model["mae"]), float(model["pearson_r"])
    return {"mae": mae, "r": r, "pos_mae": float(pos["mae"]), "truth": truth_label(mae, r)}


def train_and_score(run: StudyRun, out: Path, args: argparse.Namespace) -> dict:
    from sspd.cli.pretrain import pretrain
    from sspd.engine import load_pretrained

    config = run_config(run, out)
    run_dir = Path(config.run_dir)
    cached = run_dir / "truth.json"
    if cached.is_file():
        saved = json.loads(cached.read_text())
        if saved.get("n_videos") == args.test_videos:
            return saved
    started = time.time()
    if not (run_dir / "summary.json").is_file():
        result = pretrain(config)
        print(f"  {run.name}: {result.steps} steps in {result.wall_time_s:.0f} s ({result.stop_reason})", flush=True)
    network = load_pretrained(run_dir)[0]
    truth = score_truth(network, config, truth_videos(config, args.test_videos, args.test_seconds))
    truth["n_videos"] = args.test_videos
    truth["train_s"] = json.loads((run_dir / "summary.json").read_text())["wall_time_s"]
    truth["eval_s"] = time.time() - started - truth["train_s"]
    cached.write_text(json.dumps(truth, indent=1))
    return truth


def health_of(run: StudyRun, out: Path) -> dict:
    """The label-free verdict of the run's final network on its own training data (cached)."""
    from sspd.diagnostics.health import health_json
    from sspd.diagnostics.health_run import HealthClips, run_health
    from sspd.engine import load_pretrained

    config = run_config(run, out)
    run_dir = Path(config.run_dir)
    cached = run_dir / "health.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    network = load_pretrained(run_dir)[0]
    clips = HealthClips.from_data(config.data, seed=config.seed)
    health = run_health(network, clips, window=config.data.frames, input_size=config.model.input_size)
    result = health_json(health, step=run.steps)
    cached.write_text(json.dumps(result, indent=1))
    return result


def rejudge(health: dict, thresholds=None) -> dict:
    """The verdict of a cached health.json under ``thresholds`` (default: the library's), from its per-clip rates."""
    from sspd.diagnostics.health import DEFAULT_HEALTH, health_json, judge_rates

    if not health.get("clips"):
        return health  # a non-finite run: nothing to re-judge
    nan = float("nan")
    clips = {k: [nan if v is None else v for v in values] for k, values in health["clips"].items()}
    collapse = {k: health["probes"][k] for k in ("pred_temporal_std", "cross_clip_corr")}
    return health_json(judge_rates(clips, collapse, thresholds=thresholds or DEFAULT_HEALTH), step=health.get("step"))


def _hit(row: dict, health: dict) -> bool:
    truth = row["truth"]["truth"]
    return health["verdict"] == "learning" if truth == "learning" else health["verdict"] != "learning"


def calibration_sweep(rows: list[dict]) -> str:
    """Accuracy on the calibration split over a grid of the three main thresholds (the chosen one marked)."""
    import dataclasses

    from sspd.diagnostics.health import DEFAULT_HEALTH

    judged = [r for r in rows if r["split"] == "calibration" and r["truth"]["truth"] != "between"]
    lines = ["| pulse_snr_db | min_pulse_clips | chroma_agreement | calibration hits |", "|---|---|---|---|"]
    for snr in (-2.0, 0.0, 2.0, 4.0):
        for clips in (0.25, 0.5):
            for agree in (0.4, 0.5, 0.6, 0.7, 0.8):
                th = dataclasses.replace(DEFAULT_HEALTH, pulse_snr_db=snr, min_pulse_clips=clips, chroma_agreement=agree)
                hits = sum(_hit(r, rejudge(r["raw_health"], th)) for r in judged)
                chosen = (snr, clips, agree) == (DEFAULT_HEALTH.pulse_snr_db, DEFAULT_HEALTH.min_pulse_clips,
                                                 DEFAULT_HEALTH.chroma_agreement)
                lines.append(f"| {snr:g} | {clips:g} | {agree:g} | {hits} / {len(judged)}{' (default)' if chosen else ''} |")
    return "\n".join(lines) + "\n"


def probe_table(rows: list[dict]) -> str:
    """Every run's label-free probes beside its truth: what the thresholds are set from."""
    keys = ("pulse_evidence", "chroma_agreement", "self_snr_db", "light_lock", "motion_lock", "harmonic_lock",
            "fixed_rate", "pos_snr_db", "cross_clip_corr")
    lines = ["| run | split | truth | " + " | ".join(keys) + " |", "|---|---|---|" + "---|" * len(keys)]
    for r in rows:
        probes = r["health"].get("probes", {})
        cells = ["-" if probes.get(k) is None else f"{probes[k]:.2f}" for k in keys]
        lines.append(f"| {r['name']} | {r['split']} | {r['truth']['truth']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table(rows: list[dict]) -> str:
    lines = ["| run | split | truth (MAE bpm / r; POS MAE) | label-free verdict | deciding probe | follows |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        t, h = row["truth"], row.get("health")
        truth = f"{t['truth']} ({t['mae']:.1f} / {t['r']:.2f}; {t['pos_mae']:.1f})"
        verdict = "-" if h is None else h["verdict"]
        probe = "-" if h is None else f"{h['probe']} = {h['value']:.3g}"
        follows = "-" if h is None else (h.get("follows") or "-")
        lines.append(f"| {row['name']} | {row['split']} | {truth} | {verdict} | {probe} | {follows} |")
    return "\n".join(lines) + "\n"


def agreement(rows: list[dict], split: str) -> str:
    judged = [r for r in rows if r["split"] == split and r.get("health") and r["truth"]["truth"] != "between"]
    if not judged:
        return f"{split}: no judged runs"
    hits = sum(r["health"]["verdict"] == ("learning" if r["truth"]["truth"] == "learning" else "not learning")
               or (r["truth"]["truth"] == "not learning" and r["health"]["verdict"] == "collapsed")
               for r in judged)
    between = sum(r["split"] == split and r["truth"]["truth"] == "between" for r in rows)
    return (f"{split}: verdict = truth on {hits} of {len(judged)} runs ({100.0 * hits / len(judged):.0f} %); "
            f"{between} run(s) between the truth's bands left out")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(args.out)
    runs = [r for r in RUNS if (args.split == "all" or r.split == args.split) and (not args.only or r.name in args.only)]
    rows = []
    for run in runs:
        if args.cached and not ((out / run.name / "truth.json").is_file() and (out / run.name / "health.json").is_file()):
            continue
        truth = train_and_score(run, out, args)
        has_pulse = not run_config(run, out).data.synthetic.no_pulse
        truth["truth"] = truth_label(truth["mae"], truth["r"], has_pulse=has_pulse)
        row = {"name": run.name, "split": run.split, "truth": truth}
        if not args.train_only:
            row["raw_health"] = health_of(run, out)
            row["health"] = rejudge(row["raw_health"])
        rows.append(row)
        out.mkdir(parents=True, exist_ok=True)
        (out / "health_study.json").write_text(json.dumps(rows, indent=1, default=float))
        print(f"  {run.name}: truth {row['truth']['truth']} (MAE {row['truth']['mae']:.2f}, r {row['truth']['r']:.2f})"
              + ("" if "health" not in row else f", verdict {row['health']['verdict']}"), flush=True)
    text = table(rows)
    if not args.train_only:
        text += "\n" + "\n".join(agreement(rows, s) for s in ("calibration", "validation")) + "\n"
        text += "\n## Probes\n\n" + probe_table(rows) + "\n## Calibration sweep\n\n" + calibration_sweep(rows)
    (out / "health_study.md").write_text(text)
    print(text)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
