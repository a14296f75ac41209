"""What a trained model expects of its input, and how its output becomes a pulse: the :class:`InputSpec`.

    spec = InputSpec(frames=64, input_size=(66, 66), box_size=72, view=InferenceView(), signal="pulse",
                     fps=30.0)
    checkpoint["input"] = spec.as_dict()                  # saved in every checkpoint
    spec = read_input_spec(checkpoint, "last.pt")[0]      # read back by inference

Every checkpoint sspd writes (pretraining, adaptation, fine-tuning) holds one under the key ``"input"``.
Checkpoints written before it existed have none: :func:`derive_input_spec` rebuilds it from what they do
hold (the network recipe's frames, input size and view, the run config's ``data.box_size`` and
``data.fps``, a fine-tuned run's target), with the rules inference applied to them before.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from sspd.augment.inference import TARGETS, InferenceView

__all__ = ["InputSpec", "INPUT_KEY", "read_input_spec", "derive_input_spec"]

#: the checkpoint key that holds the input spec
INPUT_KEY = "input"

#: where the face-crop side of a spec came from, as inference reports it (``crop_size_from``)
FROM_SPEC = "the checkpoint's input spec (input.box_size)"
FROM_CONFIG = "the run config's data.box_size"
FROM_INPUT = "the network's input size (no data.box_size in the checkpoint's config)"  # toolbox files too


@dataclass(frozen=True)
class InputSpec:
    """The input a model was trained on and what its output follows.

    Attributes:
        frames: difference frames T per clip (a clip reads T + 1 frames).
        input_size: (h, w) the network's input in pixels; every face crop is resized to it.
        box_size: the face-crop side S in pixels the training clips were cut at (>= the input side).
        enlarge: how the face box was enlarged into the crop (a key of
            :data:`sspd.data.face.ENLARGEMENTS`), None when not recorded (synthetic face crops, older
            checkpoints, rPPG-Toolbox files).
        view: the frame difference, luminance and scaling the network sees
            (:class:`sspd.augment.inference.InferenceView`).
        signal: what the output follows: ``"pulse"``, or ``"diff"`` (the pulse's first difference,
            integrated before any HR).
        fps: the frame rate the model was trained at in Hz, None when not recorded.
    """

    frames: int
    input_size: tuple[int, int]
    box_size: int
    enlarge: str | None = None
    view: InferenceView = field(default_factory=InferenceView)
    signal: str = "pulse"
    fps: float | None = None

    def __post_init__(self) -> None:
        size = tuple(self.input_size) if isinstance(self.input_size, (list, tuple)) else (self.input_size,) * 2
        object.__setattr__(self, "input_size", size)
        for name, value in (("frames", self.frames), ("box_size", self.box_size), *zip(("input_size",) * 2, size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"input spec: {name} must be a positive int, got {value!r}")
        if self.box_size < max(size):
            raise ValueError(f"input spec: box_size ({self.box_size}) must be >= the input side ({max(size)})")
        if self.signal not in TARGETS:
            raise ValueError(f"input spec: signal must be one of {TARGETS}, got {self.signal!r}")
        if not isinstance(self.view, InferenceView):
            raise ValueError(f"input spec: view must be an InferenceView, got {type(self.view).__name__}")
        if self.fps is not None and not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps)
                                         and self.fps > 0):
            raise ValueError(f"input spec: fps must be a positive number or None, got {self.fps!r}")
        if self.enlarge is not None and not isinstance(self.enlarge, str):
            raise ValueError(f"input spec: enlarge must be a name or None, got {self.enlarge!r}")

    @property
    def clip_frames(self) -> int:
        """Raw frames per clip, T + 1."""
        return self.frames + 1

    def as_dict(self) -> dict[str, Any]:
        """Plain values for a checkpoint (loads with ``weights_only``)."""
        values = dataclasses.asdict(self)
        values["input_size"] = list(self.input_size)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "InputSpec":
        """From :meth:`as_dict`; ValueError on an unknown or missing key or a bad value."""
        if not isinstance(values, Mapping):
            raise ValueError(f"input spec must be a mapping, got {type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"input spec has unknown keys {unknown}; valid: {sorted(names)}")
        values = dict(values)
        if isinstance(values.get("view"), Mapping):
            values["view"] = InferenceView.from_dict(values["view"])
        try:
            return cls(**values)
        except TypeError as err:
            raise ValueError(f"input spec: {err}") from None

    def describe_view(self) -> str:
        """The input in words: crop, resize, difference, luminance, scaling and sample alignment."""
        view = self.view
        crop = f"{self.box_size}px face crop" + (f" (box enlarged {self.enlarge})" if self.enlarge else "")
        resize = "resized to the input with area interpolation" if view.scale == "std" else "resized to the input"
        text = ("raw frame difference" if view.difference == "raw"
                else "normalised frame difference (difference / sum of the two frames)")
        if view.luminance == "remove":
            text += ", each pixel's luminance removed"
        if view.scale == "std":
            text += ", divided by its standard deviation over the clip"
        return (f"{crop} {resize}, {text}; sample i follows frame i (frame 0 of each clip repeats frame 1's "
                "sample)")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def derive_input_spec(checkpoint: Mapping[str, Any]) -> tuple[InputSpec, str]:
    """The input spec of a checkpoint written without one, and where its face-crop side came from.

    From the network recipe (``network``): frames and input size (``backbone_kwargs``), view, signal; a
    fine-tuned run's ``finetune.target`` overrides the signal; the run config's ``data.box_size`` is the
    crop when it is at least the input side (else the input side); ``data.fps`` of a synthetic run is its
    frame rate (a cache's rate was not recorded: None).

    Raises:
        ValueError: the recipe lacks its frames or input size, or holds a bad view or signal.
    """
    network = checkpoint.get("network") if isinstance(checkpoint.get("network"), Mapping) else {}
    kwargs = network.get("backbone_kwargs") if isinstance(network.get("backbone_kwargs"), Mapping) else {}
    frames, size = _int(kwargs.get("frames")), kwargs.get("input_size")
    if frames is None or size is None:
        raise ValueError("the checkpoint's network recipe lacks backbone_kwargs.frames or input_size")
    size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    config = checkpoint.get("config") if isinstance(checkpoint.get("config"), Mapping) else {}
    data = config.get("data") if isinstance(config.get("data"), Mapping) else {}
    box = _int(data.get("box_size"))
    box, origin = (box, FROM_CONFIG) if box is not None and box >= max(size) else (max(size), FROM_INPUT)
    fps = data.get("fps") if data.get("source", "synthetic") == "synthetic" else None
    signal = str((checkpoint.get("finetune") or {}).get("target") or network.get("signal", "pulse"))
    spec = InputSpec(frames=frames, input_size=size, box_size=box, view=InferenceView.from_dict(network.get("view")),
                     signal=signal, fps=float(fps) if isinstance(fps, (int, float)) else None)
    return spec, origin


def read_input_spec(checkpoint: Mapping[str, Any], source: str | os.PathLike = "checkpoint"
                    ) -> tuple[InputSpec, str]:
    """The checkpoint's input spec (its ``"input"`` entry, else :func:`derive_input_spec`) and where its
    face-crop side came from; one ValueError naming ``source`` when it cannot be read."""
    try:
        if checkpoint.get(INPUT_KEY) is not None:
            return InputSpec.from_dict(checkpoint[INPUT_KEY]), FROM_SPEC
        return derive_input_spec(checkpoint)
    except ValueError as err:
        raise ValueError(f"{source}: {err}; the checkpoint was edited or is corrupt") from None
