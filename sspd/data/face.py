"""Face detection and face crops for rPPG: a Haar cascade on a downscaled grey frame, a crop box per frame,
and a record of how every frame got its box.

Pipeline per video: detect on some frames (:data:`STRATEGIES`), smooth the detections, give every frame a
box (interpolated between detections, or by the no-face policy), enlarge it to a square
(:data:`ENLARGEMENTS`), cut it out of the frame (padding where it leaves the frame) and resize it to
``size``×``size``. Nothing here ever falls back to the whole frame: each frame's box comes from one of four
paths, counted in :class:`FaceCropStats` so a report can show them:

- ``detected``: a face was detected on this frame;
- ``tracked``: the box comes from detections on neighbouring frames (interpolated between two detections,
  held after the last one, or the one box of the ``first`` / ``median`` strategies);
- ``reused``: the detection that covers this frame found no face, so the last face box was reused;
- ``centre``: no face box is available, so a box centred in the frame was used, with the side of the last
  face box or, before any face was seen, ``DEFAULT_FACE_FRACTION`` of the frame's shorter side.

Boxes are geometry ``(cx, cy, side)`` (the detection's centre and larger side, pixels of the full frame)
until :func:`enlarge_box` turns them into the integer crop box ``(x0, y0, x1, y1)`` (x1, y1 exclusive),
which may extend beyond the frame.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Iterator, Union

import cv2
import numpy as np

__all__ = ["ENLARGEMENTS", "STRATEGIES", "NO_FACE_POLICIES", "PADS", "DEFAULT_FACE_FRACTION",
           "HaarFaceDetector", "FaceCropStats", "FaceCropper", "FaceCrops", "enlarge_box", "crop_box"]

log = logging.getLogger(__name__)

#: Named box enlargements: (factor, vertical shift). The crop is a square of side ``factor × side`` around
#: the detection centre moved by ``shift × side`` downwards (negative moves it up, towards the forehead).
#: ``square1.5``: the common rPPG-toolbox box, 1.5× the detection, same centre.
#: ``sspd``: a wider box moved up to keep the forehead, for the SSPD views, which take a random 128 crop out
#: of a 151 resize: side 1.6× the detection, centre moved up by 0.1× the detection side. These numbers are
#: ours (written from the paper's description, not taken from the authors' code); change them here if a
#: reproduction needs others.
ENLARGEMENTS: dict[str, tuple[float, float]] = {"square1.5": (1.5, 0.0), "sspd": (1.6, -0.1)}
#: ``first``: detect until a face is found, then keep that box. ``every``: detect every ``every_n`` frames
#: (and on the last frame), smooth, interpolate in between. ``median``: two passes, the median of the
#: detections every ``every_n`` frames for the whole video (decodes the video twice); its frames count as
#: ``detected`` where a detection found a face, else ``tracked``.
STRATEGIES = ("first", "every", "median")
NO_FACE_POLICIES = ("reuse", "centre", "error")
#: ``edge``: replicate the border pixels where the box leaves the frame; ``zero``: black. The crop always
#: covers the full box, so its scale never changes silently at the frame edges.
PADS = ("edge", "zero")
PATHS = ("detected", "tracked", "reused", "centre")
#: Side of the centred box, as a fraction of the frame's shorter side, before any face was seen.
DEFAULT_FACE_FRACTION = 0.5

Detector = Callable[[np.ndarray], np.ndarray]
Frames = Union[Callable[[], Iterable[np.ndarray]], Iterable[np.ndarray]]
_NOT_TRIED = object()


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade, shipped in the opencv-python wheel (never downloaded).

    Call it on an (H, W) uint8 grey frame; returns (N, 4) int boxes ``(x, y, w, h)`` in that frame's pixels.

    Args:
        cascade: file name inside ``cv2.data.haarcascades``, or a path to a cascade XML.
        scale_factor: image-pyramid step of ``detectMultiScale``; smaller is slower and finds more sizes.
        min_neighbors: overlapping hits needed to accept a face; raise it to reject false positives.
        min_size_fraction: smallest face searched, as a fraction of the frame's shorter side.
    """

    def __init__(self, *, cascade: str = "haarcascade_frontalface_default.xml", scale_factor: float = 1.1,
                 min_neighbors: int = 5, min_size_fraction: float = 0.1):
        if scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
        if not 0.0 < min_size_fraction < 1.0:
            raise ValueError(f"min_size_fraction must be in (0, 1), got {min_size_fraction}")
        self.cascade, self.scale_factor = cascade, scale_factor
        self.min_neighbors, self.min_size_fraction = min_neighbors, min_size_fraction
        self._classifier = self._load(cascade)

    @staticmethod
    def _load(cascade: str) -> cv2.CascadeClassifier:
        path = cascade if ("/" in cascade or "\\" in cascade) else cv2.data.haarcascades + cascade
        classifier = cv2.CascadeClassifier(path)
        if classifier.empty():
            raise FileNotFoundError(f"{path}: cannot load this Haar cascade; pass a file name from "
                                    "cv2.data.haarcascades or a path to a cascade XML")
        return classifier

    def __getstate__(self) -> dict:  # the OpenCV classifier does not pickle: reload it in the new process
        return {k: v for k, v in self.__dict__.items() if k != "_classifier"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._classifier = self._load(self.cascade)

    def __call__(self, grey: np.ndarray) -> np.ndarray:
        min_side = max(8, int(self.min_size_fraction * min(grey.shape[:2])))
        boxes = self._classifier.detectMultiScale(grey, scaleFactor=self.scale_factor,
                                                  minNeighbors=self.min_neighbors, minSize=(min_side, min_side))
        return np.asarray(boxes, dtype=np.int64).reshape(-1, 4)  # (N, 4) x, y, w, h


@dataclass
class FaceCropStats:
    """How the frames of one video got their boxes (see the module docstring for the four paths).

    ``attempts``/``found``: detections run and those that found a face; ``first_missing``: the first frame
    whose detection found no face (None if every detection found one)."""

    frames: int = 0
    detected: int = 0
    tracked: int = 0
    reused: int = 0
    centre: int = 0
    attempts: int = 0
    found: int = 0
    first_missing: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def enlarge_box(geom: np.ndarray, *, frame_hw: tuple[int, int], enlarge: str = "square1.5") -> np.ndarray:
    """Turn a face geometry into the square integer crop box.

    Args:
        geom: (3,) ``(cx, cy, side)`` in frame pixels.
        frame_hw: (H, W) of the frame; the box centre is kept inside the frame so the crop overlaps it.
        enlarge: a key of :data:`ENLARGEMENTS`.

    Returns:
        (4,) int32 ``(x0, y0, x1, y1)``, x1 - x0 == y1 - y0 >= 1, possibly beyond the frame's edges.
    """
    factor, shift = _enlargement(enlarge)
    height, width = frame_hw
    cx, cy, side = (float(v) for v in geom)
    crop_side = max(1, int(round(factor * side)))
    cx = min(max(cx, 0.0), width - 1.0)
    cy = min(max(cy + shift * side, 0.0), height - 1.0)
    x0, y0 = int(round(cx - crop_side / 2)), int(round(cy - crop_side / 2))
    return np.array([x0, y0, x0 + crop_side, y0 + crop_side], dtype=np.int32)


def crop_box(frame: np.ndarray, box: np.ndarray, *, size: int, pad: str = "edge") -> np.ndarray:
    """Cut a box out of a frame, padding where it leaves the frame, and resize it.

    Args:
        frame: (H, W, 3) uint8.
        box: (4,) ``(x0, y0, x1, y1)``, x1/y1 exclusive; must overlap the frame.
        size: output side S in pixels.
        pad: ``edge`` (replicate border pixels) or ``zero``.

    Returns:
        (S, S, 3) uint8.
    """
    if pad not in PADS:
        raise ValueError(f"pad must be one of {PADS}, got {pad!r}")
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in box)
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if ix1 <= ix0 or iy1 <= iy0:
        raise ValueError(f"crop box {tuple(box)} does not overlap the {width}×{height} frame")
    region = frame[iy0:iy1, ix0:ix1]
    margins = (iy0 - y0, y1 - iy1, ix0 - x0, x1 - ix1)  # top, bottom, left, right
    if any(margins):
        border = cv2.BORDER_REPLICATE if pad == "edge" else cv2.BORDER_CONSTANT
        region = cv2.copyMakeBorder(region, *margins, border, value=(0, 0, 0))
    interpolation = cv2.INTER_AREA if region.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interpolation)  # (S, S, 3)


def _enlargement(enlarge: str) -> tuple[float, float]:
    if enlarge not in ENLARGEMENTS:
        raise ValueError(f"unknown enlargement {enlarge!r}; valid: {sorted(ENLARGEMENTS)}")
    return ENLARGEMENTS[enlarge]


def _largest_face(boxes: np.ndarray, scale: float) -> np.ndarray | None:
    """(N, 4) ``(x, y, w, h)`` boxes in detection pixels → (3,) ``(cx, cy, side)`` of the largest face in
    frame pixels (the subject nearest the camera), or None."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    boxes = boxes[(boxes[:, 2] > 0) & (boxes[:, 3] > 0)]
    if len(boxes) == 0:
        return None
    x, y, w, h = boxes[int(np.argmax(boxes[:, 2] * boxes[:, 3]))] / scale
    return np.array([x + w / 2, y + h / 2, max(w, h)])


class _BoxTrack:
    """Streaming box assignment for the ``first`` and ``every`` strategies: geometry only, no pixels.

    Push every frame in order with the outcome of its detection: ``_NOT_TRIED``, None (no face) or the
    (3,) geometry found. Each push returns the frames resolved so far as ``(t, geom, path)``, in order.
    Frames after a successful detection wait (at most ``every_n - 1`` of them) for the next one, so their
    box is interpolated between the two; frames whose detection found no face follow the no-face policy.
    """

    def __init__(self, *, strategy: str, every_n: int, smooth_window: int, no_face: str,
                 frame_hw: tuple[int, int], source: str):
        self.strategy, self.every_n, self.no_face = strategy, every_n, no_face
        self.frame_hw, self.source = frame_hw, source
        self._recent: deque[np.ndarray] = deque(maxlen=smooth_window)
        self._waiting: list[int] = []
        self._anchor: np.ndarray | None = None  # last smoothed face geometry
        self._anchor_t = -1
        self._ok = False  # whether the latest detection found a face

    def wants_detection(self, t: int, *, is_last: bool) -> bool:
        if self.strategy == "first":
            return self._anchor is None
        return t % self.every_n == 0 or is_last  # the last frame too, so the tail is interpolated

    def push(self, t: int, found: object) -> list[tuple[int, np.ndarray, str]]:
        if found is _NOT_TRIED:
            if self._ok and self.strategy == "every":
                self._waiting.append(t)
                return []
            return [(t, self._anchor, "tracked")] if self._ok else [self._without_face(t)]
        if found is None:
            resolved = [(w, self._anchor, "tracked") for w in self._waiting]
            self._waiting, self._ok = [], False
            return resolved + [self._without_face(t)]
        self._recent.append(np.asarray(found, dtype=np.float64))
        geom = np.median(np.stack(self._recent), axis=0)  # (3,) median of the last K detections
        resolved = [(w, self._interpolate(w, geom, t), "tracked") for w in self._waiting]
        self._waiting, self._ok = [], True
        self._anchor, self._anchor_t = geom, t
        return resolved + [(t, geom, "detected")]

    def _interpolate(self, w: int, geom: np.ndarray, t: int) -> np.ndarray:
        weight = (w - self._anchor_t) / (t - self._anchor_t)
        return self._anchor + weight * (geom - self._anchor)

    def _without_face(self, t: int) -> tuple[int, np.ndarray, str]:
        if self.no_face == "error":
            raise ValueError(f"{self.source}: no face found in frame {t} (no_face='error'); use "
                             "no_face='reuse' or 'centre' to keep such frames, or check the video")
        if self.no_face == "reuse" and self._anchor is not None:
            return t, self._anchor, "reused"
        return t, centre_geometry(self.frame_hw, self._anchor), "centre"


def centre_geometry(frame_hw: tuple[int, int], last: np.ndarray | None) -> np.ndarray:
    """(3,) a face geometry centred in the frame, with the side of ``last`` or the default fraction."""
    height, width = frame_hw
    side = float(last[2]) if last is not None else DEFAULT_FACE_FRACTION * min(height, width)
    return np.array([width / 2.0, height / 2.0, side])


class FaceCrops:
    """The crops of one video, produced lazily: iterate once for ``(crop (S, S, 3) uint8, box (4,) int32)``
    per frame; ``stats`` is complete when the iteration ends."""

    def __init__(self, iterator: Iterator[tuple[np.ndarray, np.ndarray]], stats: FaceCropStats):
        self._iterator, self.stats = iterator, stats

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self._iterator


class FaceCropper:
    """Face crops of whole videos, streamed frame by frame (at most ``every_n`` frames held in memory).

    Args:
        strategy: ``first`` | ``every`` | ``median`` (see :data:`STRATEGIES`).
        every_n: detect every N frames (``every``, ``median``); 1 detects on every frame.
        smooth_window: median over the last K detections (``every``); 1 disables smoothing.
        enlarge: a key of :data:`ENLARGEMENTS` (``square1.5`` or ``sspd``).
        size: output side S in pixels (e.g. 151 for the SSPD views, 128 or 72 for supervised backbones).
        no_face: ``reuse`` (the last face box) | ``centre`` (a centred box) | ``error`` (raise).
        pad: ``edge`` | ``zero``, where the box leaves the frame (see :data:`PADS`).
        detect_width: frames wider than this are downscaled to it before detection (speed); boxes are
            mapped back to full-frame pixels.
        detector: a callable taking an (h, w) uint8 grey frame and returning (N, 4) ``(x, y, w, h)`` boxes;
            default :class:`HaarFaceDetector`.
    """

    def __init__(self, *, strategy: str = "every", every_n: int = 10, smooth_window: int = 3,
                 enlarge: str = "square1.5", size: int = 128, no_face: str = "reuse", pad: str = "edge",
                 detect_width: int = 320, detector: Detector | None = None):
        _check_choice("strategy", strategy, STRATEGIES)
        _check_choice("no_face", no_face, NO_FACE_POLICIES)
        _check_choice("pad", pad, PADS)
        _enlargement(enlarge)
        for name, value, low in (("every_n", every_n, 1), ("smooth_window", smooth_window, 1),
                                 ("size", size, 1), ("detect_width", detect_width, 16)):
            if int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.strategy, self.every_n, self.smooth_window = strategy, int(every_n), int(smooth_window)
        self.enlarge, self.size, self.no_face, self.pad = enlarge, int(size), no_face, pad
        self.detect_width = int(detect_width)
        self.detector = detector if detector is not None else HaarFaceDetector()

    def crop(self, frames: Frames, *, source: str = "video") -> FaceCrops:
        """Crop every frame of one video.

        Args:
            frames: a callable returning a fresh iterator of (H, W, 3) uint8 RGB frames (e.g.
                ``record.read_frames``; ``median`` needs this to read twice) or, for ``first``/``every``,
                an iterable of frames.
            source: what error messages and logs name (the video file).

        Returns:
            :class:`FaceCrops`: iterate for ``(crop (S, S, 3) uint8, box (4,) int32)`` per frame.

        Raises (during iteration):
            ValueError: no frames, frames of the wrong dtype/shape or changing size, or no face with
                ``no_face='error'``.
        """
        stats = FaceCropStats()
        if self.strategy == "median":
            if not callable(frames):
                raise ValueError(f"{source}: strategy 'median' reads the video twice; pass a callable that "
                                 "returns a fresh frame iterator (e.g. record.read_frames)")
            return FaceCrops(self._iter_median(frames, stats, source), stats)
        iterable = frames() if callable(frames) else frames
        return FaceCrops(self._iter_tracked(iterable, stats, source), stats)

    def detect(self, frame: np.ndarray) -> np.ndarray | None:
        """(3,) ``(cx, cy, side)`` of the largest face in an (H, W, 3) uint8 RGB frame, in its pixels, or
        None. Detection runs on a grey copy downscaled to ``detect_width``."""
        scale = min(1.0, self.detect_width / frame.shape[1])
        small = frame if scale == 1.0 else cv2.resize(
            frame, (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale))),
            interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)  # (h, w)
        return _largest_face(self.detector(grey), scale)

    def _iter_tracked(self, frames: Iterable[np.ndarray], stats: FaceCropStats,
                      source: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        track: _BoxTrack | None = None
        pending: deque[np.ndarray] = deque()  # frames waiting for their box, oldest first
        for t, frame, is_last in _with_last_flag(frames, source):
            if track is None:
                track = _BoxTrack(strategy=self.strategy, every_n=self.every_n, no_face=self.no_face,
                                  smooth_window=self.smooth_window, frame_hw=frame.shape[:2], source=source)
            found = self._attempt(frame, t, stats) if track.wants_detection(t, is_last=is_last) else _NOT_TRIED
            pending.append(frame)
            for _, geom, path in track.push(t, found):
                yield self._emit(pending.popleft(), geom, path, stats)
        self._log_stats(stats, source)

    def _iter_median(self, read_frames: Callable[[], Iterable[np.ndarray]], stats: FaceCropStats,
                     source: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        found, frame_hw = [], None
        for t, frame, _ in _with_last_flag(read_frames(), source):  # pass 1: detections only
            frame_hw = frame.shape[:2]
            if t % self.every_n == 0:
                geom = self._attempt(frame, t, stats)
                found.extend([] if geom is None else [geom])
        if found:
            geom, path = np.median(np.stack(found), axis=0), "tracked"  # (3,)
        elif self.no_face == "error":
            raise ValueError(f"{source}: no face found in any of {stats.attempts} detections "
                             "(no_face='error'); use no_face='reuse' or 'centre', or check the video")
        else:
            geom, path = centre_geometry(frame_hw, None), "centre"
        for _, frame, _ in _with_last_flag(read_frames(), source):  # pass 2: crops
            if frame.shape[:2] != frame_hw:
                raise ValueError(f"{source}: the second read gave {frame.shape[1]}×{frame.shape[0]} frames, "
                                 f"the first {frame_hw[1]}×{frame_hw[0]}")
            yield self._emit(frame, geom, path, stats)
        stats.detected, stats.tracked = (stats.found, stats.frames - stats.found) if found else (0, 0)
        self._log_stats(stats, source)

    def _attempt(self, frame: np.ndarray, t: int, stats: FaceCropStats) -> np.ndarray | None:
        geom = self.detect(frame)
        stats.attempts += 1
        if geom is not None:
            stats.found += 1
        elif stats.first_missing is None:
            stats.first_missing = t
        return geom

    def _emit(self, frame: np.ndarray, geom: np.ndarray, path: str,
              stats: FaceCropStats) -> tuple[np.ndarray, np.ndarray]:
        box = enlarge_box(geom, frame_hw=frame.shape[:2], enlarge=self.enlarge)
        stats.frames += 1
        setattr(stats, path, getattr(stats, path) + 1)
        return crop_box(frame, box, size=self.size, pad=self.pad), box

    @staticmethod
    def _log_stats(stats: FaceCropStats, source: str) -> None:
        if stats.reused or stats.centre:
            log.warning("%s: %d of %d frames had no face box (%d reused the last box, %d centred); first "
                        "missed detection at frame %s", source, stats.reused + stats.centre, stats.frames,
                        stats.reused, stats.centre, stats.first_missing)


def _with_last_flag(frames: Iterable[np.ndarray], source: str) -> Iterator[tuple[int, np.ndarray, bool]]:
    """Yield ``(t, frame, is_last)`` with one frame of look-ahead, checking every frame's type and size."""
    iterator = iter(frames)
    current = next(iterator, None)
    if current is None:
        raise ValueError(f"{source}: the video has no frames")
    first_shape, t = np.shape(current), 0
    while current is not None:
        following = next(iterator, None)
        if not (isinstance(current, np.ndarray) and current.dtype == np.uint8 and current.ndim == 3
                and current.shape[2] == 3):
            raise ValueError(f"{source}: frame {t} is not an H×W×3 uint8 RGB array "
                             f"({getattr(current, 'dtype', type(current))} {np.shape(current)})")
        if current.shape != first_shape:
            raise ValueError(f"{source}: frame {t} is {current.shape[1]}×{current.shape[0]}, the first frame "
                             f"{first_shape[1]}×{first_shape[0]}; all frames of a video must have one size")
        yield t, current, following is None
        current, t = following, t + 1


def _check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
