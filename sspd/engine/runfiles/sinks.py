"""Logging sinks: where a training step's named scalars (and the occasional image or histogram) go.

A step returns ``dict[str, Tensor]`` of named scalars (docs/architecture.md); every sink takes that dict as
it is, converts it to floats once, and writes it:

    sink = MultiSink([JSONLSink(run_dir / "scalars.jsonl"), TensorBoardSink(run_dir / "tb")])
    sink.log_scalars(step, terms)                               # every step
    sink.log_images(step, {"ssm/online": render_map_image(ssm_o)})   # when the loop chooses
    sink.log_histograms(step, dict(model.named_parameters()))        # thinned by the TensorBoard sink
    sink.close()

Only rank 0 writes: on any other rank (``rank`` argument, else :func:`sspd.engine.distributed.get_rank`)
a sink creates no file and its methods do nothing, so the loop calls them unconditionally. On resume,
pass ``resume_step``: the JSONL file drops its lines after that step and TensorBoard hides its events
after it, so both read as one uninterrupted run.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

import numpy as np
import torch
from torch import Tensor

from sspd.configuration import require_positive_int
from sspd.engine.distributed import get_rank
from sspd.files import atomic_write_text
from sspd.signal import check_fs

__all__ = ["LoggingConfig", "Sink", "JSONLSink", "TensorBoardSink", "MultiSink", "scalars_to_floats",
           "render_map_image", "render_wave_image"]

log = logging.getLogger(__name__)


@dataclass
class LoggingConfig:
    """What goes to TensorBoard and the JSONL, and how often (in optimiser steps)."""

    every_n_steps: int = 1
    images_every_n_steps: int = 16
    histograms_every_n_steps: int = 32
    snapshot_clips: int = 4

    def __post_init__(self) -> None:
        require_positive_int("logging", every_n_steps=self.every_n_steps,
                             images_every_n_steps=self.images_every_n_steps,
                             histograms_every_n_steps=self.histograms_every_n_steps,
                             snapshot_clips=self.snapshot_clips)


Scalar = Union[Tensor, float, int]
_RESERVED = ("step", "time")


def scalars_to_floats(scalars: Mapping[str, Scalar]) -> dict[str, float]:
    """Named one-element tensors or numbers → floats, with one host synchronisation per device."""
    floats: dict[str, float] = {}
    by_device: dict[torch.device, list[tuple[str, Tensor]]] = defaultdict(list)
    for name, value in scalars.items():
        if isinstance(value, Tensor):
            if value.numel() != 1:
                raise ValueError(f"scalar {name!r} has shape {tuple(value.shape)}; log one value per name "
                                 "(reduce it first, e.g. .mean())")
            by_device[value.device].append((name, value.detach().reshape(())))
        elif isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            floats[name] = float(value)
        else:
            raise ValueError(f"scalar {name!r} must be a tensor or a number, got {type(value).__name__}")
    for named in by_device.values():
        values = torch.stack([v.float() for _, v in named]).tolist()  # (S,) → S floats
        floats.update((name, v) for (name, _), v in zip(named, values))
    return {name: floats[name] for name in scalars}  # the caller's order


class Sink:
    """A logging sink; the base class does nothing (the behaviour of every sink off rank 0)."""

    def log_scalars(self, step: int, scalars: Mapping[str, Scalar]) -> None:
        """Write named scalars of optimiser step ``step``."""

    def log_images(self, step: int, images: Mapping[str, Tensor | np.ndarray]) -> None:
        """Write named (3, H, W) images, tensors or arrays, with values in [0, 1] (see render_map_image)."""

    def log_histograms(self, step: int, values: Mapping[str, Tensor]) -> None:
        """Write the distributions of named tensors of any shape (e.g. parameters)."""

    def flush(self) -> None:
        """Push buffered output to disk."""

    def close(self) -> None:
        """Flush and release the files."""

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _is_active(rank: int | None) -> bool:
    return (get_rank() if rank is None else rank) == 0


def _check_resume_step(owner: str, resume_step: int | None) -> None:
    if resume_step is not None and (isinstance(resume_step, bool) or not isinstance(resume_step, int)
                                    or resume_step < 0):
        raise ValueError(f"{owner}: resume_step must be an int >= 0 or None, got {resume_step!r}")


class JSONLSink(Sink):
    """One JSON object per line: ``{"step": int, "time": unix seconds, "<name>": float, ...}``.

    Non-finite values are written as ``NaN`` / ``Infinity``, which Python's json and pandas read
    (strict JSON parsers do not). Each line is flushed as it is written.

    Args:
        path: the file (parent directories are created).
        resume_step: None starts a new file (an existing one is overwritten); an int keeps the existing
            lines with step <= resume_step (and drops a line torn by a crash) and appends after them.
        rank: this process's rank (None: ask torch.distributed); only rank 0 writes.
    """

    def __init__(self, path: str | os.PathLike, resume_step: int | None = None, rank: int | None = None) -> None:
        _check_resume_step("JSONLSink", resume_step)
        self.path = Path(path)
        self._file = None
        if not _is_active(rank):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            self._truncate_after(resume_step)
            self._file = open(self.path, "a", encoding="utf-8")
        else:
            self._file = open(self.path, "w", encoding="utf-8")

    def _truncate_after(self, resume_step: int) -> None:
        kept, dropped = [], 0
        with open(self.path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                try:
                    keep = int(json.loads(line)["step"]) <= resume_step
                except (ValueError, KeyError, TypeError):
                    log.warning("%s:%d is not a complete log line (a write cut by a crash?): dropped",
                                self.path, number)
                    keep = False
                if keep:
                    kept.append(line if line.endswith("\n") else line + "\n")
                else:
                    dropped += 1
        atomic_write_text(self.path, "".join(kept), fsync=False)
        log.info("%s: resumed after step %d, %d line(s) dropped", self.path, resume_step, dropped)

    def log_scalars(self, step: int, scalars: Mapping[str, Scalar]) -> None:
        if self._file is None:
            return
        clash = [name for name in _RESERVED if name in scalars]
        if clash:
            raise ValueError(f"JSONLSink: {clash} are the line's own fields; rename those scalars")
        record = {"step": int(step), "time": time.time(), **scalars_to_floats(scalars)}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoardSink(Sink):
    """TensorBoard event files: a scalar per name, images, and histograms every N steps.

    Args:
        log_dir: the event-file directory (created).
        histogram_every_n_steps: histograms are written only at multiples of this (they are large).
        resume_step: when resuming, events after this step left by the interrupted run are hidden
            (SummaryWriter's ``purge_step``).
        rank: this process's rank (None: ask torch.distributed); only rank 0 writes.
    """

    def __init__(self, log_dir: str | os.PathLike, histogram_every_n_steps: int = 100,
                 resume_step: int | None = None, rank: int | None = None) -> None:
        _check_resume_step("TensorBoardSink", resume_step)
        if isinstance(histogram_every_n_steps, bool) or not isinstance(histogram_every_n_steps, int) \
                or histogram_every_n_steps < 1:
            raise ValueError(f"TensorBoardSink: histogram_every_n_steps must be an int >= 1, "
                             f"got {histogram_every_n_steps!r}")
        self.log_dir = Path(log_dir)
        self.histogram_every_n_steps = histogram_every_n_steps
        self._writer = None
        if _is_active(rank):
            from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only where used

            purge = None if resume_step is None else resume_step + 1
            self._writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge)

    def log_scalars(self, step: int, scalars: Mapping[str, Scalar]) -> None:
        if self._writer is None:
            return
        for name, value in scalars_to_floats(scalars).items():
            self._writer.add_scalar(name, value, global_step=step)

    def log_images(self, step: int, images: Mapping[str, Tensor | np.ndarray]) -> None:
        if self._writer is None:
            return
        for name, image in images.items():
            image = torch.as_tensor(image)
            if image.dim() != 3 or image.shape[0] != 3:
                raise ValueError(f"TensorBoardSink: image {name!r} must be (3, H, W), got {tuple(image.shape)}; "
                                 "render maps and waves with render_map_image / render_wave_image")
            self._writer.add_image(name, image.detach().float().cpu(), global_step=step, dataformats="CHW")

    def log_histograms(self, step: int, values: Mapping[str, Tensor]) -> None:
        if self._writer is None or step % self.histogram_every_n_steps != 0:
            return
        for name, value in values.items():
            self._writer.add_histogram(name, value.detach().float().cpu(), global_step=step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class MultiSink(Sink):
    """Fans every call out to several sinks (scalars converted to floats once)."""

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self.sinks = list(sinks)

    def log_scalars(self, step: int, scalars: Mapping[str, Scalar]) -> None:
        floats = scalars_to_floats(scalars)
        for sink in self.sinks:
            sink.log_scalars(step, floats)

    def log_images(self, step: int, images: Mapping[str, Tensor | np.ndarray]) -> None:
        for sink in self.sinks:
            sink.log_images(step, images)

    def log_histograms(self, step: int, values: Mapping[str, Tensor]) -> None:
        for sink in self.sinks:
            sink.log_histograms(step, values)

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def _pick(values: Tensor, index: int, dims: int, name: str) -> np.ndarray:
    """One item of a batch (or the unbatched tensor itself) as a float64 array with ``dims`` dims."""
    if values.dim() == dims + 1:
        if not 0 <= index < values.shape[0]:
            raise ValueError(f"{name}: index {index} is outside the batch of {values.shape[0]}")
        values = values[index]
    if values.dim() != dims or values.numel() == 0:
        raise ValueError(f"{name}: expected {dims} dims (or a batch of them), got {tuple(values.shape)}")
    array = values.detach().double().cpu().numpy()
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: the values hold NaN or inf; log the image of a finite step")
    return array


def render_map_image(ssm: Tensor, index: int = 0, cmap: str = "viridis") -> Tensor:
    """A self-similarity map as a colour image, one pixel per entry, min-max scaled.

    Args:
        ssm: (T', T') map or (B, T', T') maps (the ``index``-th is drawn).
        cmap: a matplotlib colormap name.

    Returns:
        (3, T', T') float32 in [0, 1]; a constant map is drawn at the colormap's low end.
    """
    import matplotlib

    array = _pick(ssm, index, 2, "render_map_image")                  # (T', T')
    span = array.max() - array.min()
    scaled = (array - array.min()) / span if span > 0 else np.zeros_like(array)
    rgba = matplotlib.colormaps[cmap](scaled)                         # (T', T', 4)
    return torch.from_numpy(rgba[..., :3].astype(np.float32)).permute(2, 0, 1).contiguous()  # (3, T', T')


def render_wave_image(wave: Tensor, fs: float | None = None, index: int = 0, width_px: int = 480,
                      height_px: int = 240) -> Tensor:
    """A self-similarity wave (or any 1-D curve) drawn as a line plot.

    Args:
        wave: (T',) wave or (B, T') waves (the ``index``-th is drawn).
        fs: frame rate in Hz to label the lag axis in seconds; None labels it in frames.
        width_px, height_px: image size.

    Returns:
        (3, height_px, width_px) float32 in [0, 1].
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    array = _pick(wave, index, 1, "render_wave_image")                # (T',)
    if fs is not None:
        fs = check_fs(fs, name="render_wave_image: fs")
    lags = np.arange(array.size) / (fs or 1.0)
    dpi = 80
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(lags, array, linewidth=1.2)
    axes.set_xlabel("lag (s)" if fs else "lag (frames)")
    axes.set_ylabel("self-similarity")
    figure.tight_layout()
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())                           # (H, W, 4) uint8
    return torch.from_numpy(rgba[..., :3].astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()  # (3, H, W)
