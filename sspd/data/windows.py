"""Window datasets over the preprocessing cache: clips of consecutive frames and their labels.

A window starts at frame ``start`` and holds ``window + extra_frames`` frames (``extra_frames=1`` when the
model takes frame differences: 301 frames give 300 differences). Each item is a dict:

- ``video``: (C, T, S, S) clip, T = window + extra_frames, RGB, ``uint8`` (default: the raw 0–255 values;
  the augmentations convert) or ``float32`` (the same 0–255 values as floats, not normalised);
- ``label``: (T,) float32 PPG at the clip's frames, only when every video of the dataset is labelled
  (``labelled``): a batch must not mix items with and without labels, and a cache of unlabeled videos
  (the ``videos`` reader) trains self-supervised objectives all the same;
- ``fps`` (float), ``name`` (the cached video), ``start`` (first frame index) and ``video_id`` (int, the
  video's index among the dataset's eligible videos: clips of one video share it).

Two datasets share one design: a *plan* of ``(video, start)`` pairs, of which rank ``r`` of ``world_size``
takes every ``world_size``-th entry from ``r`` (the shards partition the plan, as ``DistributedSampler``).

- :class:`RandomWindows` (training): ``windows_per_video`` random starts per video per epoch, drawn with
  one generator seeded by ``(seed, epoch)`` and shuffled with it, so every rank draws the same plan, and
  the plan does not depend on ``world_size``. It is then padded with extra random windows (drawn after it)
  to a multiple of ``world_size`` so every rank gets the same number (no DDP rank waits for another).
  Call :meth:`RandomWindows.set_epoch` before each epoch (and do not shuffle again in the DataLoader).
- :class:`SlidingWindows` (evaluation): starts 0, stride, 2·stride, ... per video, in order; the tail
  policy ``last`` adds one window that ends at the last frame so every frame is covered, ``drop`` leaves
  the last ``(n - T) % stride`` frames out. Shards may differ in length by one: gather results at the end.

Videos shorter than one window are skipped with a logged reason, listed in ``skipped``.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from sspd.data.cache import CachedVideo

__all__ = ["RandomWindows", "SlidingWindows", "TAILS", "DTYPES"]

log = logging.getLogger(__name__)

TAILS = ("last", "drop")
DTYPES = ("uint8", "float32")


class _CacheWindows(Dataset):
    """Shared by both window datasets: eligibility of videos, sharding of the plan, reading one clip."""

    def __init__(self, videos: Sequence[CachedVideo], *, window: int, extra_frames: int, rank: int,
                 world_size: int, dtype: str):
        _check_int("window", window, 1)
        _check_int("extra_frames", extra_frames, 0)
        _check_int("world_size", world_size, 1)
        if not (isinstance(rank, int) and 0 <= rank < world_size):
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank!r}")
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
        self.window, self.extra_frames, self.dtype = window, extra_frames, dtype
        self.rank, self.world_size = rank, world_size
        self.clip_length = window + extra_frames
        self.videos, self.skipped = self._eligible(list(videos))
        #: whether every video carries a label (items have ``label`` only then)
        self.labelled = all(v.labelled for v in self.videos)
        if not self.labelled and any(v.labelled for v in self.videos):
            log.info("%d of %d cached videos are unlabeled: the windows carry no labels",
                     sum(not v.labelled for v in self.videos), len(self.videos))
        self._shard = np.zeros((0, 2), dtype=np.int64)

    @property
    def fps(self) -> float:
        """The frame rate of the run's clips (Hz): the videos' common rate, or the median of their rates when
        they differ (each item still carries its own ``fps``, which the losses use; this one rate is for
        whatever watches the run as a whole: the collapse monitor, the online probe, the snapshots)."""
        rates = np.array([float(v.fps) for v in self.videos])
        return float(np.median(rates))

    def _eligible(self, videos: list[CachedVideo]) -> tuple[list[CachedVideo], list[tuple[str, str]]]:
        if not videos:
            raise ValueError("no cached videos given; open them with sspd.data.cache.open_cache(out_dir)")
        sizes = {v.size for v in videos}
        if len(sizes) > 1:
            raise ValueError(f"the cached videos have different crop sizes {sorted(sizes)}; preprocess them "
                             "with one size (or pass the videos of one size)")
        kept, skipped = [], []
        for video in videos:
            if video.n_frames >= self.clip_length:
                kept.append(video)
                continue
            reason = f"{video.n_frames} frames, shorter than one window of {self.clip_length}"
            log.warning("skipping %s: %s", video.name, reason)
            skipped.append((video.name, reason))
        if not kept:
            raise ValueError(f"no cached video has {self.clip_length} frames (window {self.window} + "
                             f"{self.extra_frames}); use a shorter window")
        return kept, skipped

    def _set_plan(self, plan: np.ndarray) -> None:
        """(N, 2) int64 ``(video index, start)`` for all ranks; keep this rank's share."""
        self._shard = plan[self.rank::self.world_size]

    @property
    def windows(self) -> np.ndarray:
        """(N, 2) int64 ``(video index, start)`` of this rank's windows, in item order."""
        return self._shard

    def __len__(self) -> int:
        return len(self._shard)

    def __getitem__(self, index: int) -> dict[str, Any]:
        video_index, start = (int(v) for v in self._shard[index])
        video = self.videos[video_index]
        stop = start + self.clip_length
        frames = np.array(video.frames[start:stop])  # (T, S, S, C), copied out of the read-only memmap
        clip = torch.from_numpy(frames).permute(3, 0, 1, 2).contiguous()  # (C, T, S, S)
        if self.dtype == "float32":
            clip = clip.float()
        item = {"video": clip, "fps": video.fps, "name": video.name, "start": start, "video_id": video_index}
        if self.labelled:
            item["label"] = torch.from_numpy(np.array(video.label[start:stop], dtype=np.float32))  # (T,)
        return item


class RandomWindows(_CacheWindows):
    """Random training windows, ``windows_per_video`` per video per epoch (see the module docstring).

    Args:
        videos: cached videos (:func:`sspd.data.cache.open_cache`).
        window: frames per window T (300 in the SSPD paper).
        extra_frames: frames added to each clip (1 for frame differences).
        windows_per_video: windows drawn per video per epoch.
        seed, epoch: the plan is a function of (seed, epoch) only.
        rank, world_size: this process's shard under DDP.
        dtype: ``uint8`` or ``float32`` clips.
    """

    def __init__(self, videos: Sequence[CachedVideo], *, window: int, extra_frames: int = 0,
                 windows_per_video: int = 1, seed: int = 0, epoch: int = 0, rank: int = 0, world_size: int = 1,
                 dtype: str = "uint8"):
        super().__init__(videos, window=window, extra_frames=extra_frames, rank=rank, world_size=world_size,
                         dtype=dtype)
        _check_int("windows_per_video", windows_per_video, 1)
        self.windows_per_video, self.seed = windows_per_video, int(seed)
        self.set_epoch(epoch)

    def _draw(self, rng: np.random.Generator, owners: np.ndarray) -> np.ndarray:
        """(N,) video indices → (N, 2) ``(video, start)`` with starts uniform over each video's valid ones."""
        room = np.array([v.n_frames - self.clip_length + 1 for v in self.videos])  # valid starts per video
        starts = (rng.random(len(owners)) * room[owners]).astype(np.int64)  # uniform in [0, room)
        return np.stack([owners.astype(np.int64), starts], axis=1)

    def set_epoch(self, epoch: int) -> None:
        """Draw the plan of ``epoch``: identical on every rank for the same seed and epoch."""
        _check_int("epoch", epoch, 0)
        self.epoch = epoch
        rng = np.random.default_rng([self.seed, epoch])
        owners = np.repeat(np.arange(len(self.videos)), self.windows_per_video)  # (N,)
        plan = self._draw(rng, owners)[rng.permutation(len(owners))]  # (N, 2)
        pad = -len(plan) % self.world_size  # drawn after the plan, so the plan is the same for any world size
        if pad:
            plan = np.concatenate([plan, self._draw(rng, rng.integers(0, len(self.videos), size=pad))])
        self._set_plan(plan)


class SlidingWindows(_CacheWindows):
    """Evaluation windows at a fixed stride over every video (see the module docstring).

    Args:
        videos: cached videos (:func:`sspd.data.cache.open_cache`).
        window: frames per window T; extra_frames: frames added to each clip (1 for frame differences).
        stride: frames between window starts (default ``window``: no overlap).
        tail: ``last`` (a final window ending at the last frame) or ``drop``.
        rank, world_size: this process's shard under DDP.
        dtype: ``uint8`` or ``float32`` clips.
    """

    def __init__(self, videos: Sequence[CachedVideo], *, window: int, extra_frames: int = 0,
                 stride: int | None = None, tail: str = "last", rank: int = 0, world_size: int = 1,
                 dtype: str = "uint8"):
        super().__init__(videos, window=window, extra_frames=extra_frames, rank=rank, world_size=world_size,
                         dtype=dtype)
        stride = window if stride is None else stride
        _check_int("stride", stride, 1)
        if tail not in TAILS:
            raise ValueError(f"unknown tail policy {tail!r}; valid: {', '.join(TAILS)}")
        self.stride, self.tail = stride, tail
        self._set_plan(np.concatenate([self._video_plan(i, v.n_frames) for i, v in enumerate(self.videos)]))

    def _video_plan(self, index: int, n_frames: int) -> np.ndarray:
        last = n_frames - self.clip_length  # the last valid start
        starts = np.arange(0, last + 1, self.stride, dtype=np.int64)
        if self.tail == "last" and starts[-1] != last:
            starts = np.append(starts, last)
        return np.stack([np.full_like(starts, index), starts], axis=1)  # (n, 2)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
