"""The facts of a run that everything watching it must agree on, resolved once at its start.

    dataset = check_train_dataset(build_train_dataset(data, seed=0))     # refuses a dataset without .fps
    facts = RunFacts.resolve(data=data, model=model, view=view, dataset=dataset)
    facts.fps, facts.frames, facts.raw_frames, facts.band      # 25.0, 48, 49, (0.75, 2.5) on a 25 fps cache

The frame rate comes from the dataset (:class:`TrainDataset`'s ``fps``: a synthetic dataset's rate, a
cache's common rate or the median of its rates), never from ``data.fps`` when the dataset says
otherwise. The loop hands these facts to the online probe, the snapshots and, through
:class:`sspd.engine.run_writer.RunContext`, to the observers (the collapse monitor and the health check).
The loss reads each clip's own rate (``batch["fps"]``, which every item of a :class:`TrainDataset`
carries): on a single-rate dataset that is ``facts.fps``; on a cache of mixed rates each clip keeps its own.

The band: :attr:`RunFacts.band` is the band of everything that watches the run (the collapse monitor's
probes, the online probe's heart rate, the health check's rates): the library's
:data:`sspd.signal.DEFAULT_BAND` (45-150 bpm), the band their thresholds were set on. An objective with a
band of its own (SiNC's ``objective.sinc.band``, Contrast-Phys's ``objective.contrast_phys.band``) uses it
in its loss only; it is recorded as :attr:`RunFacts.objective_band`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sspd.augment.inference import InferenceView, raw_frames
from sspd.signal import DEFAULT_BAND, check_band, check_fs

__all__ = ["TrainDataset", "RunFacts", "check_train_dataset", "check_band_period"]


@runtime_checkable
class TrainDataset(Protocol):
    """What the loop trains on: a map-style dataset of clips with one frame rate for the run.

    Items are ``{"video": (C, T+1, S, S), "fps": float, optional "ppg"/"label" (T+1,), "hr", "video_id"}``;
    ``fps`` (Hz) is the rate of the clips as a whole (for a dataset of mixed rates, a representative one:
    cache windows give the median of their videos' rates).
    """

    @property
    def fps(self) -> float: ...

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict[str, Any]: ...


def check_train_dataset(dataset: Any) -> TrainDataset:
    """``dataset`` itself after checking it is a :class:`TrainDataset` with a valid frame rate.

    Raises:
        ValueError: no ``fps`` attribute (named with the fix), or one that is not a rate in Hz.
    """
    name = type(dataset).__name__
    if not isinstance(dataset, TrainDataset):
        missing = [attr for attr in ("fps", "__len__", "__getitem__") if not hasattr(dataset, attr)]
        raise ValueError(f"the training dataset {name} lacks {', '.join(missing)}: a training dataset must "
                         "say its clips' frame rate in Hz as dataset.fps (sspd.engine.TrainDataset), e.g. "
                         "a class attribute fps = 30.0 or a property")
    check_fs(dataset.fps, name=f"the training dataset's {name}.fps")
    return dataset


def check_band_period(frames: int, fps: float, band: tuple[float, float], *, what: str, off: str) -> None:
    """Raise unless clips of ``frames`` samples at ``fps`` span one period of ``band``'s low edge.

    Args:
        what: who needs it, e.g. ``"collapse monitoring"``; off: the setting that switches it off.
    """
    shortest = math.ceil(fps / band[0])
    if frames < shortest:
        raise ValueError(f"{what} needs clips of at least {shortest} frames (one period of {band[0]} Hz at "
                         f"{fps:g} fps), data.frames is {frames}: use longer clips or set {off}")


@dataclass(frozen=True)
class RunFacts:
    """A run's clip facts, validated once.

    Attributes:
        fps: the clips' frame rate in Hz (the dataset's ``fps``).
        frames: difference frames T per clip, the network's window; the loader reads :attr:`raw_frames`.
        input_size: the network's input side in pixels; box_size: the face box the views are cut from.
        band: (low, high) Hz of everything that watches the run (see the module doc).
        view: the inference view the network is trained for (the health check's and the checkpoint's).
        objective_band: the objective's own band in Hz when its config has one (its loss only), else None.
    """

    fps: float
    frames: int
    input_size: int
    box_size: int
    band: tuple[float, float] = DEFAULT_BAND
    view: InferenceView = InferenceView()
    objective_band: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fps", check_fs(self.fps, name="the run's frame rate (dataset.fps)"))
        object.__setattr__(self, "band", check_band(self.band, self.fps, name="the run's pulse band"))
        for name in ("frames", "input_size", "box_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RunFacts.{name} must be an int >= 1, got {value!r}")
        if self.frames < 2:
            raise ValueError(f"data.frames must be >= 2 (a view of T difference frames), got {self.frames}")
        if self.box_size < self.input_size:
            raise ValueError(f"data.box_size ({self.box_size}) must be >= model.input_size ({self.input_size}): "
                             "the online view is a crop of the box")

    @property
    def raw_frames(self) -> int:
        """Raw frames per clip: T + 1, since every view is a difference of consecutive frames."""
        return raw_frames(self.frames)

    def check_band_period(self, *, what: str, off: str) -> None:
        """Raise unless the clips span one period of :attr:`band`'s low edge (:func:`check_band_period`)."""
        check_band_period(self.frames, self.fps, self.band, what=what, off=off)

    @classmethod
    def resolve(cls, *, data: Any, model: Any, view: InferenceView, dataset: Any,
                objective_config: Any = None) -> "RunFacts":
        """The facts of a run from its ``data`` and ``model`` sections, the view its network is trained for
        and its training dataset (checked: :func:`check_train_dataset`); ``objective_config``'s ``band``,
        when it has one, is recorded as :attr:`objective_band`."""
        dataset = check_train_dataset(dataset)
        band = getattr(objective_config, "band", None)
        return cls(fps=float(dataset.fps), frames=data.frames, input_size=model.input_size,
                   box_size=data.box_size, view=view,
                   objective_band=None if band is None else tuple(float(b) for b in band))
