"""Why do trained runs read slow pulses at twice their rate? The prediction's harmonic content, measured.

For each held-out synthetic video (HRs spread evenly over a wide range, seeds never used in training) this
prints, for the trained predictor of a run and for POS on the same face crops:
  h2/h1   power at twice the true rate over power at the true rate (±0.08 Hz, the whole 20 s signal,
          Hann-windowed periodogram after sspd's detrend); above 1 the second harmonic dominates the
          spectrum, and a spectral-peak HR reads double whenever 2·HR lies inside the band
  hr      the spectral-peak HR of 10 s windows (median over windows) in the band given (default the
          library's 45-150 bpm) and in the wide band 40-180 bpm
  int     the same after integrating the prediction (cumsum): integration divides each harmonic's
          amplitude by its frequency, so if the network outputs a derivative-like pulse (it sees frame
          differences) integration restores the fundamental
Then the mean absolute error of each column over the videos under 65 bpm and over the rest.

    python experiments/harmonic_diagnosis.py runs/synthetic_cpu --videos 16 --seed 90210
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from sspd.baselines import pos
from sspd.data.synthetic import SyntheticConfig
from sspd.engine import load_pretrained
from sspd.eval.model_eval import network_signals, synthetic_videos
from sspd.signal import estimate_hr
from sspd.signal.pulse import prepare_pulse

WIDE = (40 / 60, 180 / 60)


def harmonic_ratio(x: np.ndarray, fs: float, f0: float, half_width: float = 0.08) -> float:
    """Power within ±half_width Hz of 2·f0 over power within ±half_width of f0 (Hann periodogram)."""
    x = prepare_pulse(x[None], fs, (0.3, min(6.0, 0.45 * fs)))[0]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=8 * len(x))) ** 2
    freqs = np.fft.rfftfreq(8 * len(x), 1 / fs)
    around = lambda f: spectrum[np.abs(freqs - f) <= half_width].sum()  # noqa: E731
    return float(around(2 * f0) / max(around(f0), 1e-30))


def window_hr(x: np.ndarray, fs: float, band: tuple[float, float], is_diff: bool = False) -> float:
    """Median spectral-peak HR over 10 s windows with a 5 s stride (bpm)."""
    length, stride = int(10 * fs), int(5 * fs)
    rows = np.stack([x[s:s + length] for s in range(0, len(x) - length + 1, stride)])  # (N, L)
    rows = prepare_pulse(rows, fs, band, is_diff=is_diff)
    return float(np.median(estimate_hr(rows, fs, band=band)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a pretraining run directory or checkpoint file")
    parser.add_argument("--videos", type=int, default=16, help="held-out videos, HRs evenly spread")
    parser.add_argument("--hr", type=float, nargs=2, default=(40.0, 180.0), help="HR range of the videos (bpm)")
    parser.add_argument("--band", type=float, nargs=2, default=(45.0, 150.0), help="the estimation band (bpm)")
    parser.add_argument("--seed", type=int, default=90210, help="generator seed (never a training seed)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    network, checkpoint = load_pretrained(args.run)
    network.eval()
    data = checkpoint["config"]["data"]
    band = (args.band[0] / 60, args.band[1] / 60)
    rows = []
    for i, hr in enumerate(np.linspace(args.hr[0], args.hr[1], args.videos)):
        config = SyntheticConfig(framing="crop", hr_bpm=(float(hr), float(hr)))
        video = synthetic_videos(1, seconds=20.0, fps=data["fps"], size=data["box_size"], seed=args.seed + i,
                                 config=config)[0]
        signals = network_signals(network.predict, [video], window=data["frames"],
                                  input_size=network.backbone.input_size, view=network.view)[0]
        pred, label, fs = signals.signals["model"], signals.label, video.fps
        rgb = video.frames.reshape(video.frames.shape[0], -1, 3).mean(axis=1).T.astype(np.float64)  # (3, N)
        p = pos(rgb, fs=fs)
        truth = window_hr(label, fs, WIDE)
        rows.append({"hr": truth, "h2/h1 model": harmonic_ratio(pred, fs, truth / 60),
                     "h2/h1 int": harmonic_ratio(np.cumsum(pred), fs, truth / 60),
                     "h2/h1 pos": harmonic_ratio(p, fs, truth / 60),
                     "model band": window_hr(pred, fs, band), "model wide": window_hr(pred, fs, WIDE),
                     "int band": window_hr(pred, fs, band, True), "int wide": window_hr(pred, fs, WIDE, True),
                     "pos band": window_hr(p, fs, band), "pos wide": window_hr(p, fs, WIDE)})
        print(" ".join(f"{k} {v:6.2f}" for k, v in rows[-1].items()), flush=True)
    hr = np.array([r["hr"] for r in rows])
    for name, keep in (("under 65 bpm", hr < 65), ("65 bpm and over", hr >= 65)):
        errors = {k: np.mean([abs(r[k] - r["hr"]) for r, kept in zip(rows, keep) if kept])
                  for k in rows[0] if k.endswith(("band", "wide"))}
        ratios = {k: np.median([r[k] for r, kept in zip(rows, keep) if kept]) for k in rows[0] if "/" in k}
        print(f"{name} ({keep.sum()} videos): MAE " + ", ".join(f"{k} {v:.2f}" for k, v in errors.items())
              + "; median " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
