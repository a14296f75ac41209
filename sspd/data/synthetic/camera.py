"""What the camera does after the light reaches the sensor: auto-exposure and white-balance gains, and
lossy H.264 compression.

Gains, per frame t and channel c, multiply the sensor signal (noise included, before rounding):

    RGB_c(t) ← g_e(t) · g_wb,c(t) · RGB_c(t),   g_e = 1 + e(t),   g_wb = (1 + w_r(t), 1, 1 + w_b(t))

with e a slow curve of std ``exposure_drift`` (0.01-0.3 Hz: auto-exposure hunting) and w_r, w_b slow
curves of std ``white_balance_drift`` (0.005-0.1 Hz); green is the white-balance reference, as in
cameras.

Compression is x264 through PyAV (the libx264 in its wheels), yuv420p (chroma at half resolution),
preset ``medium``, one thread (so the output is deterministic), at a constant rate factor ``crf``:
:func:`write_h264` writes a file, :func:`h264_round_trip` encodes and decodes frames in memory, streamed
(at most the encoder's look-ahead is held), so training clips carry the artefacts of a compressed video.
"""
from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from sspd.data.synthetic.curves import SmoothCurve
from sspd.signal import check_fs

__all__ = ["CameraGains", "h264_round_trip", "write_h264", "X264_OPTIONS"]

_EXPOSURE_HZ = (0.01, 0.3)
_WHITE_BALANCE_HZ = (0.005, 0.1)
#: x264's settings besides the CRF: its default preset, and one thread for deterministic output
X264_OPTIONS = {"preset": "medium", "threads": "1"}


class CameraGains:
    """A video's auto-exposure and white-balance curves (see the module docstring)."""

    def __init__(self, rng: np.random.Generator, *, exposure_drift: float, white_balance_drift: float) -> None:
        self.exposure = SmoothCurve.draw(rng, std=exposure_drift, band_hz=_EXPOSURE_HZ)
        self.red = SmoothCurve.draw(rng, std=white_balance_drift, band_hz=_WHITE_BALANCE_HZ)
        self.blue = SmoothCurve.draw(rng, std=white_balance_drift, band_hz=_WHITE_BALANCE_HZ)
        self.active = exposure_drift > 0 or white_balance_drift > 0

    def __call__(self, times: np.ndarray) -> np.ndarray:
        """(N, 3) float32 RGB gains at the (N,) ``times`` (s); all ones when both drifts are 0."""
        times = np.asarray(times, dtype=np.float64)
        exposure = 1.0 + self.exposure(times)  # (N,)
        wb = np.stack([1.0 + self.red(times), np.ones_like(times), 1.0 + self.blue(times)], axis=1)  # (N, 3)
        return (exposure[:, None] * wb).astype(np.float32)


def _encoder_options(crf: int) -> dict[str, str]:
    if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51:
        raise ValueError(f"crf must be an integer in 0-51 (28: a typical webcam or phone call), got {crf!r}")
    return {"crf": str(int(crf)), **X264_OPTIONS}


def _frame_rate(fps: float) -> Fraction:
    return Fraction(check_fs(fps, name="fps")).limit_denominator(1001)


def _checked(frame: np.ndarray, index: int, size: tuple[int, int] | None) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame {index}: H.264 frames must be H×W×3 uint8 RGB, got {frame.dtype} {frame.shape}")
    if frame.shape[0] % 2 or frame.shape[1] % 2:
        raise ValueError(f"frame {index} is {frame.shape[1]}×{frame.shape[0]}: yuv420p H.264 needs an even width "
                         "and height; choose an even frame size")
    if size is not None and frame.shape[:2] != size:
        raise ValueError(f"frame {index} is {frame.shape[1]}×{frame.shape[0]}, the first {size[1]}×{size[0]}")
    return np.ascontiguousarray(frame)


def _to_av(frame: np.ndarray, index: int) -> Any:
    import av

    out = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")
    out.pts = index
    return out


def h264_round_trip(frames: Iterable[np.ndarray], *, fps: float, crf: int) -> Iterator[np.ndarray]:
    """Encode H×W×3 uint8 RGB frames to H.264 at ``crf`` and decode them again, in memory.

    Yields the decoded frames (same count, size and order), H×W×3 uint8 RGB, as the decoder gives them
    (the encoder holds up to its look-ahead, about 40 frames). An odd width or height is padded by one
    replicated row or column for the encoder (yuv420p needs even sizes) and cut off again.
    """
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError("h264_round_trip: no frames")
    height, width = np.shape(first)[:2]
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    if not any(p[1] for p in pad):
        yield from _round_trip(itertools.chain([first], iterator), fps=fps, crf=crf)
        return
    padded = (np.pad(np.asarray(f), pad, mode="edge") for f in itertools.chain([first], iterator))
    for frame in _round_trip(padded, fps=fps, crf=crf):
        yield frame[:height, :width]


def _round_trip(frames: Iterable[np.ndarray], *, fps: float, crf: int) -> Iterator[np.ndarray]:
    import av

    options, rate = _encoder_options(crf), _frame_rate(fps)
    encoder = decoder = None
    size = None
    for index, frame in enumerate(frames):
        frame = _checked(frame, index, size)
        if encoder is None:
            size = frame.shape[:2]
            encoder = av.CodecContext.create("libx264", "w")
            encoder.width, encoder.height, encoder.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
            encoder.time_base, encoder.framerate, encoder.options = 1 / rate, rate, options
            decoder = av.CodecContext.create("h264", "r")
        for packet in encoder.encode(_to_av(frame, index)):
            yield from _decoded(decoder, packet)
    if encoder is None:
        raise ValueError("h264_round_trip: no frames")
    for packet in encoder.encode(None):
        yield from _decoded(decoder, packet)
    yield from _decoded(decoder, None)


def _decoded(decoder: Any, packet: Any) -> Iterator[np.ndarray]:
    for frame in decoder.decode(packet):
        yield frame.to_ndarray(format="rgb24")


def write_h264(path: str | Path, frames: Iterable[np.ndarray], fps: float, *, crf: int) -> int:
    """Write H×W×3 uint8 RGB frames as an H.264 video at ``crf`` (container from the suffix: ``.avi``,
    ``.mp4``, ``.mkv``); returns the number of frames written. Width and height must be even."""
    import av

    options, rate = _encoder_options(crf), _frame_rate(fps)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with av.open(str(path), mode="w") as container:
        stream = None
        for n, frame in enumerate(frames, start=1):
            frame = _checked(frame, n - 1, None if stream is None else (stream.height, stream.width))
            if stream is None:
                stream = container.add_stream("libx264", rate=rate, options=options)
                stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
            for packet in stream.encode(_to_av(frame, n - 1)):
                container.mux(packet)
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in stream.encode(None):
            container.mux(packet)
    return n
