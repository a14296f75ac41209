"""The configuration of ``sspd preprocess``: a small dataclass, loadable from YAML, whose output-relevant
part is hashed into every cached video's manifest (a changed crop setting redoes the cache)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sspd.configuration import read_yaml
from sspd.data.cache import CACHE_FORMAT, hash_json
from sspd.data.face import ENLARGEMENTS, NO_FACE_POLICIES, PADS, STRATEGIES

__all__ = ["PreprocessConfig", "MISSING_FRAME_POLICIES", "default_workers"]

#: What to do when a video decodes to fewer frames than its record says (its labels and timestamps cover
#: more frames than exist): ``trim`` keeps the decoded frames (with their labels) if no more than
#: ``max_missing_fraction`` are missing, and records the count; ``error`` fails the video on any shortfall.
#: Frames beyond the record's count have no label: they are never cached, and the manifest says so.
MISSING_FRAME_POLICIES = ("trim", "error")
#: Fields that change the cached arrays; their hash is the manifest's ``config_hash``.
OUTPUT_FIELDS = ("strategy", "every_n", "smooth_window", "enlarge", "size", "no_face", "pad", "detect_width",
                 "missing_frames", "max_missing_fraction")
CROP_FIELDS = OUTPUT_FIELDS[:8]
DETECTOR = "haar:haarcascade_frontalface_default.xml"


def default_workers() -> int:
    """min(4, CPUs): preprocessing decodes one video per worker process."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class PreprocessConfig:
    """How to turn a dataset into the face-crop cache.

    Attributes:
        dataset: a name of :func:`sspd.data.open_dataset` (``ubfc-rppg``, ``pure``, ``synthetic``, ...).
        root: the dataset folder (None for ``synthetic``, rendered on the fly).
        out: the cache folder.
        options: keyword options for ``open_dataset`` (filters, reader settings).
        strategy, every_n, smooth_window, enlarge, size, no_face, pad, detect_width: the face crop, see
            :class:`sspd.data.face.FaceCropper`.
        missing_frames, max_missing_fraction: see :data:`MISSING_FRAME_POLICIES`.
        workers: worker processes (None: :func:`default_workers`).
    """

    dataset: str = "synthetic"
    root: str | None = None
    out: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    strategy: str = "every"
    every_n: int = 10
    smooth_window: int = 3
    enlarge: str = "square1.5"
    size: int = 151
    no_face: str = "reuse"
    pad: str = "edge"
    detect_width: int = 320
    missing_frames: str = "trim"
    max_missing_fraction: float = 0.05
    workers: int | None = None

    def __post_init__(self) -> None:
        for name, valid in (("strategy", STRATEGIES), ("enlarge", tuple(ENLARGEMENTS)),
                            ("no_face", NO_FACE_POLICIES), ("pad", PADS), ("missing_frames", MISSING_FRAME_POLICIES)):
            if getattr(self, name) not in valid:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; valid: {', '.join(valid)}")
        for name, low in (("every_n", 1), ("smooth_window", 1), ("size", 8), ("detect_width", 16)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise ValueError(f"workers must be an integer >= 1 (or null for min(4, CPUs)), got {self.workers!r}")
        fraction = self.max_missing_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 <= fraction < 1.0:
            raise ValueError(f"max_missing_fraction must be in [0, 1), got {self.max_missing_fraction}")
        if not isinstance(self.options, dict):
            raise ValueError(f"options must be a mapping of open_dataset options, got {self.options!r}")

    def crop_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~sspd.data.face.FaceCropper`."""
        return {name: getattr(self, name) for name in CROP_FIELDS}

    def output_options(self) -> dict[str, Any]:
        """What the cached arrays depend on (recorded in every manifest)."""
        return {name: getattr(self, name) for name in OUTPUT_FIELDS}

    def config_hash(self) -> str:
        """Hash of the output options, the detector and the cache format."""
        return hash_json({"format": CACHE_FORMAT, "detector": DETECTOR, **self.output_options()})

    def replace(self, **changes: Any) -> "PreprocessConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> "PreprocessConfig":
        """Build from a mapping; unknown keys raise naming the key and the valid ones."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a mapping of preprocess settings, got {type(data).__name__}")
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ValueError(f"{source}: unknown preprocess key(s) {', '.join(map(repr, unknown))}; valid keys: "
                             f"{', '.join(valid)}")
        try:
            return cls(**data)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from err

    @classmethod
    def from_yaml(cls, path: str | Path) -> "PreprocessConfig":
        """Load from a YAML file of the fields above (all optional); ``preprocess:`` nesting is accepted."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such preprocess config file")
        data = read_yaml(path)  # duplicate keys and alias bombs refused
        if data is None:
            raise ValueError(f"{path} is empty: write the settings to change (an empty mapping {{}} keeps the "
                             "defaults), or give no --config")
        if isinstance(data, dict) and set(data) == {"preprocess"}:
            data = data["preprocess"] or {}
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
