"""The health check of a run: its network on long clips of its own training data, judged without labels.

    from sspd.diagnostics.health_run import HealthClips, run_health
    clips = HealthClips.from_data(config.data, seed=config.seed)     # 12 clips of 10 s, rendered once
    health = run_health(network, clips, window=config.data.frames, input_size=config.model.input_size)
    # in a run: the loop's RunFacts give fps (from_dataset's), frames, input_size, view and band
    health.verdict                                                    # "learning", "not learning", ...

The clips come from the same source as the run's training clips (the synthetic generator with the run's
knobs, or windows of its preprocessing cache) but are longer, so that a rate can be read to a few bpm;
the network sees them in sliding windows of its training length, as in evaluation. Their labels, when
the source has them, feed only the :class:`~sspd.diagnostics.health.LabelCheck`.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sspd.augment.inference import VIEW_EXTRA_FRAMES, InferenceView, predict_frames, raw_frames
from sspd.diagnostics.health import (DEFAULT_HEALTH, ClipTraces, Health, HealthThresholds, assess_health,
                                     clip_traces, rates)
from sspd.signal import DEFAULT_BAND

__all__ = ["HealthClips", "run_health"]

log = logging.getLogger(__name__)


@dataclass
class HealthClips:
    """N long clips of a run's data with their label-free traces (and label HRs where known).

    Attributes:
        frames: N arrays (T+1, S, S, 3) uint8 RGB.
        fps: the frame rate in Hz.
        traces: N :class:`ClipTraces` of frames 1..T (the samples of a difference-frame prediction).
        labels_hr: (N,) label HRs in bpm (NaN where a clip has no usable label), or None.
    """

    frames: list[np.ndarray]
    fps: float
    traces: list[ClipTraces]
    labels_hr: np.ndarray | None

    @classmethod
    def from_data(cls, data: Any, *, seed: int, n_clips: int = 12, seconds: float = 10.0) -> "HealthClips":
        """``n_clips`` clips of ``seconds`` (at least one training window) from a run's data section
        (:class:`sspd.engine.DataConfig`), at the rate of its clips (the dataset's ``fps``)."""
        from sspd.engine.data import build_train_dataset

        return cls.from_dataset(build_train_dataset(data, seed=seed), seed=seed, n_clips=n_clips, seconds=seconds,
                                min_frames=data.frames)

    @classmethod
    def from_dataset(cls, dataset: Any, *, seed: int, n_clips: int = 12, seconds: float = 10.0,
                     min_frames: int = 0, fps: float | None = None) -> "HealthClips":
        """``n_clips`` long clips from the source of a training dataset.

        A :class:`~sspd.data.synthetic.clips.SyntheticClipDataset` gives new clips of ``seconds`` from
        the same generator knobs; cache windows (:class:`~sspd.data.windows.RandomWindows`) give windows
        of ``seconds`` (at most the shortest video) of the same videos, spread over them. Any other
        dataset gives its first ``n_clips`` items as they are (rates from short clips are coarse).

        Args:
            dataset: the run's training dataset; seed: the run seed (the clips derive their own).
            min_frames: the fewest difference frames per clip (the network's window, so one fits).
            fps: the run's frame rate (``RunFacts.fps``); None reads the dataset's ``fps``
                (:func:`sspd.engine.facts.check_train_dataset`).
        """
        from sspd.engine.facts import check_train_dataset
        from sspd.engine.seeding import derive_seed

        if n_clips < 2 or not seconds > 0:
            raise ValueError(f"HealthClips needs n_clips >= 2 and seconds > 0, got {n_clips}, {seconds}")
        own = derive_seed(seed, "health_clips") % 2**32
        fps = float(check_train_dataset(dataset).fps if fps is None else fps)
        length = max(int(round(seconds * fps)), min_frames)   # difference frames per clip
        if hasattr(dataset, "video") and hasattr(dataset, "config"):
            from sspd.data.synthetic.clips import SyntheticClipDataset

            source = SyntheticClipDataset(n_clips, frames=raw_frames(length),
                                          size=(dataset.width, dataset.height), fps=fps, seed=own,
                                          config=dataset.config)
            return cls.from_items([source[i] for i in range(n_clips)], fps=fps)
        if hasattr(dataset, "videos"):
            from sspd.data.windows import RandomWindows

            videos = list(dataset.videos)
            length = min(length, min(v.n_frames for v in videos) - VIEW_EXTRA_FRAMES)
            source = RandomWindows(videos, window=length, extra_frames=VIEW_EXTRA_FRAMES, windows_per_video=1,
                                   seed=own, dtype="float32")
            picks = np.linspace(0, len(source) - 1, min(n_clips, len(source))).round().astype(int)
            return cls.from_items([source[int(i)] for i in picks], fps=fps)
        log.warning("health clips: %s is neither synthetic clips nor cache windows; judging its first %d "
                    "items as they are (short clips give coarse rates)", type(dataset).__name__, n_clips)
        return cls.from_items([dataset[i] for i in range(min(n_clips, len(dataset)))], fps=fps)

    @classmethod
    def from_items(cls, items: list[dict[str, Any]], fps: float | None = None) -> "HealthClips":
        """From dataset items {"video": (C, T+1, S, S), "fps", optional "ppg"/"label" (T+1,)} at ``fps`` Hz
        (None: the first item's ``fps``)."""
        if len(items) < 2:
            raise ValueError(f"HealthClips needs at least 2 clips, got {len(items)}")
        fps = float(items[0]["fps"] if fps is None else fps)
        frames = [np.clip(np.asarray(item["video"]), 0, 255).astype(np.uint8).transpose(1, 2, 3, 0)
                  for item in items]  # (T+1, S, S, 3) each
        traces = [clip_traces(f[1:]) for f in frames]
        labels = [_label_hr(item, fps) for item in items]
        has = any(math.isfinite(v) for v in labels)
        return cls(frames, fps, traces, np.array(labels) if has else None)


def _label_hr(item: dict[str, Any], fps: float) -> float:
    """The label HR of one clip from its PPG (frames 1..T), NaN without a usable one."""
    ppg = item.get("ppg", item.get("label"))
    if ppg is None:
        return math.nan
    ppg = np.asarray(ppg, dtype=np.float64)[1:]
    if not np.isfinite(ppg).all() or ppg.std() == 0:
        return math.nan
    return float(rates(ppg[None], fps)[0][0])


def run_health(network: Any, clips: HealthClips, *, window: int, input_size: int,
               view: InferenceView | None = None, thresholds: HealthThresholds = DEFAULT_HEALTH,
               band: tuple[float, float] = DEFAULT_BAND) -> Health:
    """The verdict on ``network`` (an :class:`sspd.engine.SSPDNetwork`) over ``clips``, its rates searched in
    ``band`` Hz (a run's ``RunFacts.band``).

    The network is put in eval mode for the check and returned to its previous mode. A network whose output
    follows the pulse's difference (``network.signal == "diff"``) is read as sspd predict reads it: each
    clip's prediction, its mean removed, is integrated before its rate is searched (:func:`assess_health`).
    """
    was_training = network.training
    network.eval()
    try:
        view = view if view is not None else getattr(network, "view", None)
        device = next(network.parameters()).device

        def predict(x):
            return network.predict(x.to(device))

        preds = np.stack([predict_frames(predict, f, window=window, input_size=input_size, view=view)
                          for f in clips.frames])  # (N, T)
    finally:
        network.train(was_training)
    return assess_health(preds, clips.traces, clips.fps, labels_hr=clips.labels_hr, thresholds=thresholds,
                         band=band, signal=getattr(network, "signal", "pulse"))
