"""Why SSPD on the release's views does not learn the pulse: what its predictor follows instead.

Trains one SSPD network (the default CPU-recipe sizes) on synthetic clips of a chosen nuisance setting and
views, and at step 0 and every --every steps scores on held-out videos (motion-free and default nuisances):
  pred      the predictor's signal, HR from its own spectral peak (what `sspd predict` reports);
  pred_int  the same signal integrated first (the convention for a frame-difference output);
  probe     a linear probe on the frozen pooled features, trained on labelled videos (diagnosis only:
            does the backbone carry the pulse even when the predictor does not?);
and, per test video, which rate the predictor's HR is nearest: the true HR, twice it (the second harmonic,
which the frame difference doubles), or the dominant rate of the mean luminance of the frame differences.

    python experiments/sspd_diagnosis.py --data default --views raw        # the release's views
    python experiments/sspd_diagnosis.py --data default --views chroma     # the library default
    python experiments/sspd_diagnosis.py --data still --views raw          # no nuisances at all
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from sspd.augment import ViewOptions
from sspd.data.synthetic import SyntheticClipDataset, SyntheticConfig
from sspd.engine import OptimiserStep, TrainStep, create_sspd_network
from sspd.eval.baseline_eval import evaluate_methods
from sspd.eval.model_eval import network_signals, synthetic_videos
from sspd.eval.probe import ProbeConfig, extract_features, probe_predictor, train_probe
from sspd.objectives import build_objective
from sspd.signal import estimate_hr

DATA = {"default": SyntheticConfig(framing="crop"), "still": SyntheticConfig.still(framing="crop"),
        "no-motion": SyntheticConfig(framing="crop").scale_nuisances(motion=0.0),
        "no-light": SyntheticConfig(framing="crop").scale_nuisances(illumination=0.0)}
VIEWS = {"raw": ViewOptions(), "chroma": ViewOptions(difference="normalized", luminance="remove")}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=list(DATA), default="default", help="nuisances of the training clips")
    p.add_argument("--views", choices=list(VIEWS), default="raw")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-videos", type=int, default=6)
    return p.parse_args()


def luminance_rate(video) -> float:
    """HR-band peak (bpm) of the mean luminance of the frame differences."""
    diff = np.diff(video.frames.reshape(video.n_frames, -1, 3).mean(axis=1), axis=0).mean(axis=1)
    return float(estimate_hr(diff, video.fps))


def follows(pred_hr: float, video) -> str:
    true = float(estimate_hr(video.label, video.fps))
    rates = {"pulse": true, "2x pulse": 2 * true, "luminance": luminance_rate(video)}
    name, rate = min(rates.items(), key=lambda kv: abs(kv[1] - pred_hr))
    return name if abs(rate - pred_hr) < 3.0 else "other"


def evaluate(net, tests, train, frames: int, size: int, step: int) -> dict:
    net.eval()
    out: dict = {"step": step}
    head, _ = train_probe(extract_features(net.backbone, train, window=frames, input_size=size, view=net.view),
                          config=ProbeConfig(steps=200, seed=0))
    for name, videos in tests.items():
        for kind, fn, target in (("pred", net.predict, "pulse"), ("pred_int", net.predict, "diff"),
                                 ("probe", probe_predictor(net.backbone, head), "diff")):
            signals = network_signals(fn, videos, window=frames, input_size=size, target=target, view=net.view)
            result = evaluate_methods(signals, window_s=10.0)["model"]
            out[f"{name}/{kind}"] = round(result["summary"]["metrics"]["mae"], 2)
            if kind == "pred":
                hrs = [float(estimate_hr(s.signals["model"], s.fps)) for s in signals]
                out[f"{name}/pred follows"] = [follows(h, v) for h, v in zip(hrs, videos)]
    net.train()
    return out


def main() -> None:
    args = parse_args()
    frames, size, box = 64, 66, 72
    clips = SyntheticClipDataset(256, frames=frames + 1, size=box, seed=1 + args.seed, config=DATA[args.data])
    tests = {name: synthetic_videos(args.test_videos, seconds=20.0, size=box, seed=1000, config=DATA[name])
             for name in ("still", "default")}
    train = synthetic_videos(6, seconds=20.0, size=box, seed=2000, config=DATA[args.data])
    torch.manual_seed(args.seed)
    net = create_sspd_network("sspdnet", frames=frames, input_size=size, width=0.25)
    net.view = VIEWS[args.views].inference_view()
    trainer = TrainStep(net, torch.optim.Adam(net.parameters(), 1e-3), objective=build_objective("sspd"),
                        views=VIEWS[args.views], seed=args.seed, channels_last=True)
    print(json.dumps(evaluate(net, tests, train, frames, size, 0)), flush=True)
    stepper = OptimiserStep(trainer, total_steps=args.steps)
    draws = torch.Generator().manual_seed(args.seed)
    for step in range(args.steps):
        index = torch.randint(0, len(clips), (4,), generator=draws)
        video = torch.stack([clips[int(i)]["video"] for i in index])
        stepper.step([{"video": video, "fps": 30.0}], step)
        if (step + 1) % args.every == 0:
            print(json.dumps(evaluate(net, tests, train, frames, size, step + 1)), flush=True)


if __name__ == "__main__":
    main()
