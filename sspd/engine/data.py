"""The training data of the loop: the dataset, the order of every epoch, and one loader per epoch.

Data order is a pure function of (run seed, epoch), independent of the number of processes:

    order = epoch_order(len(dataset), seed=derive_seed(run_seed, "data_order"), epoch=e)  # permutation
    step s of the epoch takes order[s·B : (s+1)·B]   (B the global batch; a short tail is dropped
                                                       unless loop.drop_last is false)
    slot j = rank·A + micro (A micro-batches per rank) takes the j-th of the W·A equal chunks of it

So the clips of one optimiser step are the same whether they are seen by 2 ranks or by 1 rank in 2
accumulated micro-batches, which is what makes a DDP run and an accumulating single-process run equal,
and a resumed run continue from (epoch, step) without replaying anything. The permutation is that of
``torch.utils.data.DistributedSampler`` (via :func:`sspd.engine.distributed.shard_indices`).
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from sspd.augment.inference import VIEW_EXTRA_FRAMES, InferenceView, raw_frames
from sspd.configuration import require_positive_int
from sspd.data.synthetic.config import SyntheticConfig
from sspd.engine.distributed import shard_indices
from sspd.engine.seeding import derive_seed
from sspd.models import InputSpec, network_signal
from sspd.signal import check_fs

__all__ = ["DataConfig", "build_train_dataset", "training_input_spec", "check_dataset_labels", "epoch_order",
           "steps_per_epoch", "micro_batch_indices", "epoch_loader", "set_dataset_epoch"]

log = logging.getLogger(__name__)


@dataclass
class DataConfig:
    """Where the clips come from.

    Attributes:
        source: ``"synthetic"`` (clips rendered on the fly, the embedded default) or ``"cache"`` (random
            windows of a preprocessing cache written by ``sspd preprocess``).
        cache_dir: the cache folder (needed with ``source: cache``).
        frames: difference frames T per clip; the loader reads T + 1 raw frames.
        box_size: side of the face box the views are cut from (>= model.input_size).
        clips: synthetic clips per epoch (a fixed set: clip i is the same clip every epoch).
        fps: frame rate of the synthetic clips in Hz.
        windows_per_video: random windows per cached video per epoch.
        workers: DataLoader worker processes (0 = load in the training process).
        synthetic: the synthetic generator's knobs (``source: synthetic`` only), e.g.
            ``{hr_bpm: [60, 120], pulse_amplitude: [0.001, 0.002], no_pulse: true, flicker_hz: 1.3,
            motion_periodic: 0.02}``: see :class:`sspd.data.synthetic.SyntheticConfig`.
        motion_scale, illumination_scale: multiply every motion knob, or every illumination and specular
            change knob, of ``synthetic`` (0 switches them off, 2 doubles them).
    """

    source: Literal["synthetic", "cache"] = "synthetic"
    cache_dir: str | None = None
    frames: int = 64
    box_size: int = 72
    clips: int = 256
    fps: float = 30.0
    windows_per_video: int = 8
    workers: int = 0
    synthetic: SyntheticConfig = field(default_factory=lambda: SyntheticConfig(framing="crop"))
    motion_scale: float = 1.0
    illumination_scale: float = 1.0

    def synthetic_config(self) -> SyntheticConfig:
        """The generator's config with the nuisance scales applied."""
        return self.synthetic.scale_nuisances(motion=self.motion_scale, illumination=self.illumination_scale)

    def __post_init__(self) -> None:
        if not (self.motion_scale >= 0 and self.illumination_scale >= 0):
            raise ValueError(f"data.motion_scale and data.illumination_scale must be >= 0, got "
                             f"{self.motion_scale}, {self.illumination_scale}")
        require_positive_int("data", frames=self.frames, box_size=self.box_size, clips=self.clips,
                             windows_per_video=self.windows_per_video)
        if self.source == "cache" and not self.cache_dir:
            raise ValueError("data.cache_dir is required with data.source=cache: set it to the folder "
                             "`sspd preprocess` wrote")
        check_fs(self.fps, name="data.fps")
        if self.workers < 0:
            raise ValueError(f"data.workers must be >= 0, got {self.workers}")


def build_train_dataset(data: DataConfig, *, seed: int) -> Dataset:
    """The training dataset of a run's ``data`` section (a :class:`sspd.engine.facts.TrainDataset`: its
    ``fps`` is the clips' rate): items {"video": (C, T+1, S, S), "fps", ...}.

    Args:
        data: the run config's data section (source, frames, box_size, clips, fps, cache_dir, ...).
        seed: the run seed (the synthetic clips and the window plans derive their own seeds from it).
    """
    if data.source == "synthetic":
        from sspd.data.synthetic.clips import SyntheticClipDataset

        if data.cache_dir:
            log.warning("data.cache_dir=%s is ignored: data.source is synthetic, so clips are rendered on the fly; "
                        "set data.source=cache to train on that cache, or data.cache_dir=null", data.cache_dir)

        return SyntheticClipDataset(data.clips, frames=raw_frames(data.frames), size=data.box_size, fps=data.fps,
                                    seed=derive_seed(seed, "synthetic_clips") % 2**32,
                                    config=data.synthetic_config())
    from sspd.data import open_cache
    from sspd.data.windows import RandomWindows

    videos = open_cache(data.cache_dir)
    if videos and videos[0].size != data.box_size:
        raise ValueError(f"data.box_size is {data.box_size} but the cache {data.cache_dir} holds "
                         f"{videos[0].size}x{videos[0].size} crops: set data.box_size={videos[0].size}")
    return RandomWindows(videos, window=data.frames, extra_frames=VIEW_EXTRA_FRAMES, windows_per_video=data.windows_per_video,
                         seed=derive_seed(seed, "windows") % 2**32, dtype="float32")


def check_dataset_labels(dataset: Dataset, *, objective: str, needs_labels: bool, data: DataConfig) -> None:
    """Refuse, before any step, an objective that needs labels on a dataset without them (a cache of
    unlabeled videos: its windows say ``labelled = False``).

    Raises:
        ValueError: one line naming the objective, the cache and the ways out.
    """
    if needs_labels and getattr(dataset, "labelled", True) is False:
        where = f"the cache {data.cache_dir}" if data.source == "cache" else f"the {type(dataset).__name__} dataset"
        raise ValueError(f"objective {objective!r} needs labels, but {where} holds unlabeled videos: pretrain "
                         "them with objective.name=sspd or sinc (no labels needed), or preprocess a labelled "
                         "dataset for the supervised control")


def set_dataset_epoch(dataset: Dataset, epoch: int) -> None:
    """Tell a dataset with its own per-epoch plan (RandomWindows) which epoch it is."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)


def steps_per_epoch(n_items: int, batch_size: int, *, drop_last: bool = True, slots: int = 1) -> int:
    """Optimiser steps in one epoch of ``n_items`` with a global batch of ``batch_size``.

    With ``drop_last`` a short tail is dropped; without it the tail is one more, smaller step when it
    splits into ``slots`` (ranks × micro-batches) equal non-empty parts (else it is dropped all the same).
    """
    steps = n_items // batch_size
    if steps < 1:
        raise ValueError(f"the dataset has {n_items} clips, fewer than one batch of {batch_size}: lower "
                         "loop.batch_size or give more clips (data.clips, data.windows_per_video)")
    tail = n_items - steps * batch_size
    return steps + int(not drop_last and tail > 0 and tail % slots == 0)


def epoch_order(n_items: int, *, seed: int, epoch: int) -> list[int]:
    """The permutation of ``range(n_items)`` of ``epoch`` (DistributedSampler's, for one replica)."""
    return shard_indices(n_items, 0, 1, seed=seed, epoch=epoch, shuffle=True)


def micro_batch_indices(order: list[int], step: int, *, batch_size: int, rank: int, world_size: int,
                        accumulation: int) -> list[list[int]]:
    """The ``accumulation`` micro-batches of ``rank`` at step ``step`` of an epoch (see the module doc)."""
    slots = world_size * accumulation
    if batch_size % slots:
        raise ValueError(f"loop.batch_size={batch_size} must be divisible by world_size × optim.accumulation "
                         f"= {world_size} × {accumulation}: each rank's micro-batches must be equal")
    batch = order[step * batch_size:(step + 1) * batch_size]   # shorter at an epoch's kept tail
    size = len(batch) // slots
    first = rank * accumulation
    return [batch[(first + m) * size:(first + m + 1) * size] for m in range(accumulation)]


def _seed_worker(worker_id: int) -> None:
    """DataLoader workers: python and numpy seeded from torch's per-worker seed (itself from the loader's
    seeded generator), so worker-side randomness repeats run to run."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def epoch_loader(dataset: Dataset, order: list[int], *, first_step: int, last_step: int, batch_size: int,
                 rank: int, world_size: int, accumulation: int, workers: int, seed: int,
                 epoch: int) -> Iterator[list[dict[str, Any]]]:
    """This rank's micro-batches of steps [first_step, last_step) of an epoch, one list per step.

    Yields:
        per optimiser step, ``accumulation`` collated batches ({"video": (b, C, T+1, S, S), ...}).
    """
    plan = [micro for step in range(first_step, last_step)
            for micro in micro_batch_indices(order, step, batch_size=batch_size, rank=rank,
                                             world_size=world_size, accumulation=accumulation)]
    loader = DataLoader(dataset, batch_sampler=plan, num_workers=workers, worker_init_fn=_seed_worker,
                        generator=torch.Generator().manual_seed(derive_seed(seed, "workers", rank, epoch)),
                        persistent_workers=False)
    micro: list[dict[str, Any]] = []
    for batch in loader:
        micro.append(batch)
        if len(micro) == accumulation:
            yield micro
            micro = []


def training_input_spec(spec: dict[str, Any], *, data: DataConfig, dataset: Any, fps: float) -> InputSpec:
    """The :class:`sspd.models.InputSpec` a run's network is trained on: its recipe's frames, input size,
    view and signal (:func:`sspd.models.network_spec`), the face box ``data.box_size``, the face-box
    enlargement the cache was made with (None for synthetic clips) and the run's frame rate ``fps``."""
    videos = getattr(dataset, "videos", None) or []  # a cache's (sspd.data.cache.CachedVideo)
    kwargs = spec["backbone_kwargs"]
    return InputSpec(frames=kwargs["frames"], input_size=kwargs["input_size"], box_size=data.box_size,
                     enlarge=getattr(videos[0], "enlarge", None) if videos else None,
                     view=InferenceView.from_dict(spec.get("view")), signal=network_signal(spec), fps=float(fps))
