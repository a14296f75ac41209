"""Live mode on synthetic face videos played at real time: HR error against the truth, estimates per
second, latency, and the frames dropped under an artificially slow model.

Protocol: ``--videos`` synthetic videos (``generate_dataset``: the default "scene" model with head motion,
light changes and sensor noise, 320x240, 30 fps, lossless FFV1, ``--seconds`` long, seeds 0..N-1), each
read by ``CaptureSource(realtime=True)`` (frames released at their own timestamps, as a camera would) and
run by ``run_live`` with POS on the tracked face, a 10 s window and an estimate every second. The truth of
an estimate is the mean of the true HR(t) over its window. For reference, the same windows offline
(``predict_video``, every frame, no clock): what the method itself gets on that video. Then one video
again with a model slower than the camera: POS on the clip's mean skin colours after ``--slow-ms`` of
(simulated) work per call (one call per 64-frame clip and one per estimate), with the default one-second
buffer. ``--still`` renders without head motion and light changes.

    python experiments/live_study.py --videos 3 --seconds 30
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from sspd.baselines import mean_rgb_trace, pos
from sspd.data.synthetic import generate_dataset
from sspd.data.synthetic.generate import build_subject_video
from sspd.data.synthetic.config import SyntheticConfig
from sspd.infer.live import RollingHR, run_live
from sspd.infer.live_source import open_live_source
from sspd.infer.predict import predict_video

FPS = 30.0
WINDOW_S = 10.0


class SlowPOS:
    """POS on the mean skin colour of the clip's face crops, after ``delay_s`` of (simulated) work."""

    clip_frames, crop_size, name = 64, 72, "slow-pos"

    def __init__(self, delay_s: float):
        self.delay_s = delay_s

    def __call__(self, clip: np.ndarray, fs: float) -> np.ndarray:
        time.sleep(self.delay_s)
        rgb = mean_rgb_trace(clip, skin="ycrcb", on_empty="hold")  # (3, T)
        if rgb.shape[1] < int(round(1.6 * fs)):  # shorter than POS's window: no pulse yet
            return np.zeros(rgb.shape[1])
        return pos(rgb, fs)


def _errors(summary, video) -> np.ndarray:
    return np.array([e.hr_bpm - video.hr(np.arange(e.time_s - WINDOW_S, e.time_s, 1 / FPS)).mean()
                     for e in summary.estimates])


def _report(label: str, summary, video) -> None:
    times = np.array([e.time_s for e in summary.estimates])
    gaps = np.diff(times) if times.size > 1 else np.array([np.nan])
    errors = _errors(summary, video)
    print(f"{label}: {len(times)} estimates from t={times[0]:.2f} s, spacing {gaps.mean():.3f} s "
          f"(min {gaps.min():.3f}, max {gaps.max():.3f}); |HR error| max {np.abs(errors).max():.2f} bpm, "
          f"mean {np.abs(errors).mean():.2f} bpm (true mean HR {video.mean_hr:.1f}); latency median "
          f"{summary.latency_s(50):.3f} s, p95 {summary.latency_s(95):.3f} s; received {summary.received}, "
          f"processed {summary.processed}, dropped {summary.dropped}; wall {summary.wall_s:.1f} s")
    gaps = np.array([e.max_gap_s for e in summary.estimates])
    flagged = gaps > 0.2
    if flagged.any():
        print(f"  {flagged.sum()} of {gaps.size} estimates have a gap of dropped frames over 0.2 s (flagged "
              f"unreliable); |HR error| of the others: "
              + (f"max {np.abs(errors[~flagged]).max():.2f} bpm" if (~flagged).any() else "none left"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--slow-ms", type=float, default=500.0)
    parser.add_argument("--still", action="store_true", help="no head motion, constant light")
    args = parser.parse_args()
    config = SyntheticConfig.still() if args.still else SyntheticConfig()
    print(f"{'still' if args.still else 'default'} synthetic model, {args.videos} videos of {args.seconds:g} s")
    with tempfile.TemporaryDirectory() as tmp:
        roots = []
        for seed in range(args.videos):
            root = Path(tmp) / f"seed{seed}"
            generate_dataset(root, subjects=1, seconds=args.seconds, fps=FPS, size="320x240", seed=seed,
                             config=config)
            roots.append((seed, root / "subject1" / "vid.avi"))
        all_errors = []
        for seed, path in roots:
            video = build_subject_video(seed, 1, seconds=args.seconds, fps=FPS, size=(320, 240), config=config)
            summary = run_live(open_live_source(str(path), realtime=True), RollingHR(fps=FPS, window_s=WINDOW_S))
            _report(f"seed {seed} POS", summary, video)
            all_errors.append(_errors(summary, video))
            offline = predict_video(path, method="pos", window_s=WINDOW_S, stride_s=1.0)
            reference = np.array([w.hr_bpm - video.hr(np.arange(w.start_s, w.end_s, 1 / FPS)).mean()
                                  for w in offline.windows])
            print(f"  offline predict, same windows: |HR error| max {np.abs(reference).max():.2f} bpm, "
                  f"mean {np.abs(reference).mean():.2f} bpm")
        errors = np.abs(np.concatenate(all_errors))
        print(f"all: {errors.size} estimates, |HR error| max {errors.max():.2f} bpm, mean {errors.mean():.2f}, "
              f"within 3 bpm: {np.mean(errors <= 3.0):.1%}")
        seed, path = roots[0]
        video = build_subject_video(seed, 1, seconds=args.seconds, fps=FPS, size=(320, 240), config=config)
        estimator = RollingHR(fps=FPS, window_s=WINDOW_S, predictor=SlowPOS(args.slow_ms / 1e3))
        summary = run_live(open_live_source(str(path), realtime=True), estimator)
        _report(f"seed {seed} slow model ({args.slow_ms:g} ms per call)", summary, video)


if __name__ == "__main__":
    main()
