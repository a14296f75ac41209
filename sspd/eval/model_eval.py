"""Evaluating a network on whole videos: sliding windows in, one stitched pulse signal per video out,
then the windowed HR protocol of :func:`sspd.eval.metrics.evaluate_signals`.

    videos = synthetic_videos(4, seconds=20.0, fps=30.0, size=40, seed=1000)
    signals = network_signals(network.predict, videos, window=64, input_size=32, target="pulse")
    results = evaluate_methods(signals, window_s=10.0)      # sspd.eval.baseline_eval
    table = subject_table(results["model"]["rows"], videos)

The network sees what SSPD's target view is at inference: the whole face box resized to its input size,
then the raw frame difference, so a window of ``window + 1`` frames gives a ``window``-sample signal
aligned with frames 1..window of the window. ``target`` says what that signal is meant to follow:

- ``"pulse"``: the PPG itself (the SSPD predictor, trained on spectra, or a head trained on the PPG);
- ``"diff"``: the first difference of the PPG (what a per-frame linear map of frame-difference features
  can follow; the rPPG-Toolbox's "DiffNormalized" labels). It is integrated (:func:`sspd.signal.integrate`)
  before scoring, which is what ``evaluate_signals(..., diff_labels=True)`` does window by window; the
  smoothness-priors detrend removes the per-window constant, so one sum over the video is equivalent. Its HR
  is read with the estimator's octave check (``integrated``).

Overlapping windows are z-scored, then averaged sample by sample (a network's output has no set scale).
"""
from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from torch import Tensor

from sspd.augment.inference import TARGETS, InferenceView, clip_target, predict_frames, prepare_view, stitch_windows
from sspd.eval.baseline_eval import VideoSignals
from sspd.eval.metrics import WindowResult, hr_metrics
from sspd.signal import check_fs, integrate

__all__ = ["TARGETS", "EvalVideo", "synthetic_videos", "videos_from_cache", "prepare_view", "clip_target",
           "stitch_windows", "network_signals", "subject_table", "load_network", "checkpoint_network_spec",
           "merge_signals", "write_evaluation"]

log = logging.getLogger(__name__)

PredictFn = Callable[[Tensor], Tensor]  # prepared view (B, C, T, h, w) -> signal (B, T)


@dataclass
class EvalVideo:
    """One video held in memory, with the attributes of :class:`sspd.data.cache.CachedVideo` that the
    window datasets and :func:`sspd.eval.baseline_eval.baseline_signals` read."""

    name: str
    subject: str
    fps: float
    frames: np.ndarray  # (T, S, S, 3) uint8 RGB face crops
    label: np.ndarray   # (T,) float PPG at the frames

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> int:
        return int(self.frames.shape[1])


def synthetic_videos(n_videos: int, *, seconds: float = 20.0, fps: float = 30.0, size: int = 40,
                     seed: int = 0, config: Any | None = None) -> list[EvalVideo]:
    """``n_videos`` rendered synthetic face-crop videos, one subject each (subject ``s<seed>-<i>``).

    Video i is :class:`sspd.data.synthetic.SyntheticVideo` of ``spawn_seed(seed, i)`` in the "crop"
    framing (the face fills the frame, as a cached face box) with the default nuisances (illumination
    drift, specular changes, head motion, sensor noise) unless ``config`` says otherwise. A config with
    ``framing="webcam"`` (e.g. ``SyntheticConfig.from_preset("realistic", hr_bpm=(40, 180))``) renders a
    640×480 video, compresses it at its ``crf`` and cuts the face box out (:mod:`sspd.data.synthetic.capture`).
    """
    from sspd.data.synthetic import SyntheticConfig, spawn_seed
    from sspd.data.synthetic.capture import clip_video, face_clip

    check_fs(fps, name="synthetic_videos: fps")
    if n_videos < 1 or seconds <= 0 or size < 1:
        raise ValueError(f"synthetic_videos needs n_videos >= 1, seconds > 0, size >= 1; got "
                         f"{n_videos}, {seconds}, {size}")
    config = config or SyntheticConfig(framing="crop")
    n_frames = int(round(seconds * fps))
    out = []
    for i in range(n_videos):
        video = clip_video(spawn_seed(seed, i), n_frames=n_frames, fps=fps, size=(size, size), config=config)
        out.append(EvalVideo(name=f"s{seed}-{i:03d}", subject=f"s{seed}-{i:03d}", fps=fps,
                             frames=face_clip(video, (size, size)), label=video.ppg(video.frame_times)))
    return out


def videos_from_cache(cache_dir: str | Path, *, subjects: Sequence[str] | None = None,
                      command: str = "scoring against labels") -> list[Any]:
    """The cached videos of ``cache_dir`` (:func:`sspd.data.open_cache`), only those of ``subjects``
    when given (raises naming the folder when none is left). Every one must be labelled: a cache with
    unlabeled videos raises one line naming ``command`` and what to add (:func:`sspd.data.cache.require_labels`)."""
    from sspd.data.cache import open_cache, require_labels

    videos = open_cache(cache_dir)
    if subjects is None:
        require_labels(videos, cache_dir, command=command)
        return videos
    wanted = {str(s) for s in subjects}
    kept = [v for v in videos if v.subject in wanted]
    if not kept:
        found = sorted({v.subject for v in videos})
        raise ValueError(f"{cache_dir}: no cached video of subjects {sorted(wanted)}; the cache has "
                         f"subjects {found}")
    require_labels(kept, cache_dir, command=command)
    return kept


def network_signals(predict_fn: PredictFn, videos: Sequence[Any], *, window: int,
                    input_size: int | tuple[int, int], target: str = "pulse", stride: int | None = None,
                    batch_size: int = 4, name: str = "model",
                    view: InferenceView | None = None) -> list[VideoSignals]:
    """Run ``predict_fn`` over sliding windows of every video; one stitched pulse per video.

    Args:
        predict_fn: prepared view (B, C, T, h, w) → (B, T) signal, e.g. ``network.predict`` of an
            :class:`sspd.engine.SSPDNetwork` in eval mode (this function adds ``no_grad``, not ``eval``).
        videos: :class:`EvalVideo` or cached videos (``name``, ``fps``, ``frames`` (N, S, S, 3), ``label``).
        window: difference frames per window T (each window reads T + 1 frames).
        target: ``"diff"`` (the signal follows the PPG's difference; integrated here) or ``"pulse"``.
        stride: frames between windows (default: ``window``); a last window ends at the last frame.
        view: the network's inference view (``network.view``; default: SSPD's raw difference).

    Returns:
        One :class:`sspd.eval.baseline_eval.VideoSignals` per video with ``signals[name]`` (N,) (marked
        ``integrated`` for a ``"diff"`` target, so its HR is read with the octave check) and
        ``label`` = the PPG at every frame: sample i of the difference signal follows frame i, and frame 0
        (no earlier frame) repeats frame 1's sample, as ``sspd predict --checkpoint`` does, so a 20 s video
        gives two 10 s windows. Videos shorter than a window are skipped with a warning.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if window < 2 or (stride is not None and not 1 <= stride <= window):
        raise ValueError(f"window must be >= 2 and stride in [1, window], got {window}, {stride}")
    out = []
    for video in videos:
        if video.n_frames < window + 1:
            log.warning("skipping %s: %d frames, fewer than one window of %d", video.name, video.n_frames,
                        window + 1)
            continue
        signal = predict_frames(predict_fn, video.frames, window=window, input_size=input_size, view=view,
                                stride=stride, batch_size=batch_size)  # (N-1,)
        signal = integrate(signal) if target == "diff" else signal
        signal = np.concatenate([signal[:1], signal])  # (N,): frame 0, which has no earlier frame, repeats frame 1
        label = np.asarray(video.label, dtype=np.float64)  # (N,)
        out.append(VideoSignals(name=video.name, fps=float(video.fps), label=label, signals={name: signal},
                                integrated=frozenset({name}) if target == "diff" else frozenset()))
    if not out:
        raise ValueError(f"no video has the {window + 1} frames of one window; use a shorter window")
    return out


def subject_table(rows: Sequence[tuple[str, WindowResult]], videos: Sequence[Any]) -> list[dict[str, Any]]:
    """Per-subject metrics from ``(video name, WindowResult)`` rows: subject, windows, MAE, RMSE, r,
    SNR (dB, mean over windows). r is NaN for a subject with fewer than 2 windows."""
    subject_of = {v.name: str(getattr(v, "subject", v.name)) for v in videos}
    groups: dict[str, list[WindowResult]] = {}
    for name, row in rows:
        groups.setdefault(subject_of.get(name, name), []).append(row)
    table = []
    for subject, group in sorted(groups.items()):
        metrics = hr_metrics([r.hr_pred for r in group], [r.hr_true for r in group])
        table.append({"subject": subject, "windows": len(group), "mae": metrics.mae, "rmse": metrics.rmse,
                      "r": metrics.pearson_r, "snr_db": float(np.mean([r.snr_db for r in group]))})
    return table


def checkpoint_network_spec(checkpoint: dict[str, Any], source: str | Path) -> dict[str, Any]:
    """The ``network`` entry of a checkpoint (the rebuild recipe of :func:`sspd.engine.load_pretrained`),
    checked: what rebuilds the same architecture with fresh weights."""
    spec = checkpoint.get("network")
    if not isinstance(spec, dict) or "backbone" not in spec:
        raise ValueError(f"{source}: the checkpoint has no 'network' entry with a 'backbone' name, so the "
                         "network cannot be rebuilt; it must be written by sspd pretrain or sspd finetune "
                         "(format sspd-checkpoint-1)")
    return spec


def load_network(path: str | Path, *, which: str = "online", which_file: str = "last",
                 format: str = "auto") -> tuple[Any, dict]:
    """An :class:`sspd.engine.SSPDNetwork` in eval mode, and its checkpoint, from a run directory
    (``checkpoints/<which_file>.pt``), a checkpoint file or an rPPG-Toolbox state dict:
    :func:`sspd.engine.load_pretrained`."""
    from sspd.engine import load_pretrained

    return load_pretrained(path, which=which, which_file=which_file, map_location="cpu", format=format)


def merge_signals(*groups: Sequence[VideoSignals]) -> list[VideoSignals]:
    """One :class:`VideoSignals` per video with the methods of every group (e.g. a model's and the
    baselines'). Signals and labels are aligned on their LAST samples (should one be shorter), so every
    method of a video is scored on the same frames."""
    by_name: dict[str, list[VideoSignals]] = {}
    for group in groups:
        for video in group:
            by_name.setdefault(video.name, []).append(video)
    out = []
    for name, parts in by_name.items():
        if len(parts) != len(groups):
            log.warning("%s: not in every group of signals (too short for a window?); left out", name)
            continue
        n = min(len(p.label) for p in parts)
        signals = {m: np.asarray(sig)[-n:] for p in parts for m, sig in p.signals.items()}
        out.append(VideoSignals(name=name, fps=parts[0].fps, label=parts[0].label[-n:], signals=signals,
                                integrated=frozenset().union(*(p.integrated for p in parts))))
    if not out:
        raise ValueError("merge_signals: no video is in every group")
    return out


def _write_subjects_csv(results: dict[str, dict[str, Any]], videos: Sequence[Any], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["method", "subject", "windows", "mae_bpm", "rmse_bpm", "r", "snr_db"])
        for method, result in results.items():
            for row in subject_table(result["rows"], videos):
                writer.writerow([method, row["subject"], row["windows"], f"{row['mae']:.4f}",
                                 f"{row['rmse']:.4f}", f"{row['r']:.4f}", f"{row['snr_db']:.4f}"])
    return path


def _write_plots(results: dict[str, dict[str, Any]], signals: Sequence[VideoSignals], out_dir: Path,
                 metrics_jsonl: Path | None) -> dict[str, Path]:
    from sspd.eval.plots import plot_bland_altman, plot_hr_scatter, plot_training_curves, plot_waveforms

    paths: dict[str, Path] = {}
    for method, result in results.items():
        hr_pred = [r.hr_pred for _, r in result["rows"]]
        hr_true = [r.hr_true for _, r in result["rows"]]
        paths[f"bland_altman_{method}"] = plot_bland_altman(
            hr_pred, hr_true, out_dir / f"bland_altman_{method}.png", title=f"Bland-Altman: {method}")[0]
        paths[f"hr_scatter_{method}"] = plot_hr_scatter(hr_pred, hr_true, out_dir / f"hr_scatter_{method}.png",
                                                        title=method)
    first = signals[0]
    paths["waveforms"] = plot_waveforms(first.signals, first.fps, out_dir / "waveforms.png",
                                        reference=first.label, title=f"{first.name}: predicted vs PPG")
    if metrics_jsonl is not None and metrics_jsonl.is_file():
        paths["training_curves"] = plot_training_curves(metrics_jsonl, out_dir / "training_curves.png")
    return paths


def write_evaluation(results: dict[str, dict[str, Any]], signals: Sequence[VideoSignals],
                     videos: Sequence[Any], out_dir: str | Path, *, label: str,
                     source: dict[str, Any] | None = None, metrics_jsonl: str | Path | None = None,
                     plots: bool = True) -> dict[str, Path]:
    """Write what ``sspd evaluate`` leaves behind, from :func:`sspd.eval.baseline_eval.evaluate_methods`
    ``results`` on ``signals``:

    - ``evaluation.json``: ``label``, ``source`` (what was evaluated, on which data), ``results`` (method
      → pooled summary with its protocol) and ``videos`` (method → video → summary);
    - ``subjects.csv``: method, subject, windows, MAE, RMSE, r, SNR;
    - PNGs: Bland-Altman and HR scatter per method, waveform overlay of the first video, and training
      loss / LR curves when ``metrics_jsonl`` exists.

    Returns:
        name → path of every file written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    document = {"label": label, "source": source or {},
                "results": {m: r["summary"] for m, r in results.items()},
                "videos": {m: r["videos"] for m, r in results.items()}}
    paths = {"evaluation": out / "evaluation.json"}
    paths["evaluation"].write_text(json.dumps(document, indent=2, default=float), encoding="utf-8")
    paths["subjects"] = _write_subjects_csv(results, videos, out / "subjects.csv")
    if plots:
        paths.update(_write_plots(results, signals, out, Path(metrics_jsonl) if metrics_jsonl else None))
    return paths
