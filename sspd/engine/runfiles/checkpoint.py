"""Checkpoints written atomically, a manager for ``last.pt`` / ``step_XXXXXXX.pt`` / ``best.pt``, and
the lookup of the checkpoint to resume from.

A checkpoint is whatever dict the caller saves (model, optimiser, EMA pair, step, random state, guard,
config, ...); this module provides the mechanism only. Every file is written to a temporary file in
the same directory, flushed to disk and renamed over the target, so a crash mid-write leaves the
previous checkpoint intact and never a truncated one under the real name.

    manager = CheckpointManager(run_dir / "checkpoints", every_n_steps=500, keep_last=3,
                                metric="val/mae", mode="min")
    manager.save(step, state, metrics={"val/mae": mae})   # due files only; final=True at the end
    ...
    path = latest(run_dir / "checkpoints")                # None for a fresh run
    state = load_checkpoint(path)
    manager.load_state_dict(state["checkpoint_manager"])
"""
from __future__ import annotations

import io
import logging
import math
import os
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from sspd.files import TMP_SUFFIX, atomic_write_bytes

__all__ = ["save_checkpoint", "load_checkpoint", "load_latest", "CheckpointManager", "latest", "MANAGER_KEY"]

log = logging.getLogger(__name__)

#: Key under which :class:`CheckpointManager` adds its own state to every checkpoint it writes.
MANAGER_KEY = "checkpoint_manager"

_LAST, _BEST = "last.pt", "best.pt"
_STEP_FILE = re.compile(r"^step_(\d{7,})\.pt$")
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive: every checkpoint starts with this


def _serialise(state: Mapping[str, Any]) -> bytes:
    if not isinstance(state, Mapping):
        raise ValueError(f"a checkpoint state must be a dict, got {type(state).__name__}")
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    return buffer.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a synced temporary file and a synced rename (a power cut
    leaves the old checkpoint or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data, fsync=True, sync_dir=True)


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` (a dict) to ``path`` with ``torch.save``, atomically; returns the path.

    The parent directory is created when missing. Tensors are saved on their device: move them to the
    CPU first (``map_location`` at load time also works) if the checkpoint will move between machines.
    """
    path = Path(path)
    _write_atomic(path, _serialise(state))
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    weights_only: bool = True) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the checkpoint file.
        map_location: where tensors go (``"cpu"`` by default, so a GPU checkpoint opens anywhere).
        weights_only: refuse anything but tensors and plain containers/values (the safe default; a
            checkpoint of state dicts, :func:`sspd.engine.seeding.rng_state` and plain config dicts
            loads this way). False runs arbitrary pickled code: only for files you trust.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not an sspd checkpoint (not written by ``torch.save``, or it holds Python
            objects), or is truncated or corrupt, or does not hold a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass an existing .pt file (see "
                                f"latest() for the newest checkpoint of a run directory)")
    with open(path, "rb") as fh:
        if fh.read(len(_ZIP_MAGIC)) != _ZIP_MAGIC:
            raise ValueError(f"checkpoint {path} cannot be read: it is not an sspd checkpoint (not a file "
                             "written by torch.save); pass a .pt file from a run's checkpoints/ folder")
    try:
        state = torch.load(path, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as err:
        raise ValueError(f"checkpoint {path} cannot be read: it is not an sspd checkpoint (it holds Python "
                         f"objects beyond tensors and plain values; {str(err).splitlines()[0]})") from err
    except Exception as err:  # torch raises RuntimeError, EOFError, BadZipFile, KeyError, ... for broken files
        raise ValueError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); it is truncated "
                         "or corrupt: sspd pretrain --resume RUN_DIR falls back to the newest readable "
                         "step_XXXXXXX.pt, or pass one with --resume RUN_DIR/checkpoints/step_XXXXXXX.pt") from err
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} holds a {type(state).__name__}, not a dict of states: it is not "
                         "an sspd checkpoint (not written by sspd's save_checkpoint)")
    return state


def _step_files(directory: Path) -> list[tuple[int, Path]]:
    """(step, path) of the ``step_XXXXXXX.pt`` files in ``directory``, oldest first."""
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _STEP_FILE.match(p.name))]
    return sorted(found)


def latest(directory: str | os.PathLike) -> Path | None:
    """The checkpoint to resume from: ``last.pt``, else the newest ``step_XXXXXXX.pt``, else None.

    ``last.pt`` is written before the step file of the same step (:meth:`CheckpointManager.save`), so
    it is never older than a step file.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory {directory} does not exist; pass the directory the "
                                "run wrote its checkpoints to")
    if (directory / _LAST).is_file():
        return directory / _LAST
    steps = _step_files(directory)
    return steps[-1][1] if steps else None


def load_latest(directory: str | os.PathLike, map_location: str | torch.device = "cpu"
                ) -> tuple[Path, dict[str, Any]] | None:
    """The newest readable checkpoint of ``directory`` and its state, or None when it holds none.

    Tries ``last.pt``, then the ``step_XXXXXXX.pt`` files newest first; an unreadable one (truncated by a
    full disk, say) is skipped with a warning naming it and the file used instead.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        ValueError: checkpoints exist but none is readable (each is named with its reason).
    """
    directory = Path(directory)
    latest(directory)  # the existence check and its message
    candidates = ([directory / _LAST] if (directory / _LAST).is_file() else []) + [
        path for _, path in reversed(_step_files(directory))]
    errors = []
    for path in candidates:
        try:
            state = load_checkpoint(path, map_location=map_location)
        except ValueError as err:
            errors.append(str(err))
            continue
        if errors:
            log.warning("%s; resuming from %s instead", "; ".join(errors), path)
        return path, state
    if errors:
        raise ValueError(f"no readable checkpoint in {directory}: " + "; ".join(errors))
    return None


class CheckpointManager:
    """Writes a run's checkpoints: every N steps, at the end, and the best by a metric.

    At a due step (a multiple of ``every_n_steps``, or ``final=True``) it writes ``last.pt`` and
    ``step_XXXXXXX.pt`` (the step, 7+ digits) and deletes the oldest step files beyond ``keep_last``.
    Whenever ``metrics[metric]`` improves on the best so far it writes ``best.pt``. Each file is
    written atomically, from one serialisation. The manager adds its own state (the best value) to
    every checkpoint under :data:`MANAGER_KEY`; give it back to :meth:`load_state_dict` on resume.
    Call it on rank 0 only.

    Args:
        directory: where the files go (created when missing), e.g. ``run_dir / "checkpoints"``.
        every_n_steps: save period in optimiser steps, >= 1.
        keep_last: step files kept (>= 0; None keeps all). ``last.pt`` and ``best.pt`` are extra.
        metric: name of the metric that selects ``best.pt`` (None: no best checkpoint).
        mode: ``"min"`` (a loss, an error) or ``"max"`` (a correlation) of ``metric``.
    """

    def __init__(self, directory: str | os.PathLike, every_n_steps: int, keep_last: int | None = 3,
                 metric: str | None = None, mode: str = "min") -> None:
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"CheckpointManager: every_n_steps must be an int >= 1, got {every_n_steps!r}")
        if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int)
                                      or keep_last < 0):
            raise ValueError(f"CheckpointManager: keep_last must be an int >= 0 or None (keep all), "
                             f"got {keep_last!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"CheckpointManager: mode must be 'min' or 'max', got {mode!r}")
        self.directory = Path(directory)
        self.every_n_steps, self.keep_last, self.metric, self.mode = every_n_steps, keep_last, metric, mode
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries()

    def is_due(self, step: int) -> bool:
        """True when ``step`` is a multiple of ``every_n_steps`` (step 0, before training, is not due)."""
        return step > 0 and step % self.every_n_steps == 0

    def save(self, step: int, state: Mapping[str, Any], metrics: Mapping[str, float] | None = None,
             final: bool = False) -> list[Path]:
        """Write the checkpoints due at optimiser step ``step``; returns the paths written (maybe none).

        Args:
            step: optimiser steps taken so far.
            state: the caller's checkpoint dict (not modified; a copy gets :data:`MANAGER_KEY`).
            metrics: named values of this step; ``metrics[metric]`` decides ``best.pt``.
            final: the end of the run: write ``last.pt`` and the step file even off the period.
        """
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"CheckpointManager.save: step must be an int >= 0, got {step!r}")
        improved = self._update_best(step, metrics)
        due = final or self.is_due(step)
        if not (due or improved):
            return []
        data = _serialise({**state, MANAGER_KEY: self.state_dict()})
        written = []
        if due:  # last.pt first, so it is never older than a step file (see latest())
            written.append(self.directory / _LAST)
            if self.keep_last != 0:
                written.append(self.directory / f"step_{step:07d}.pt")
        if improved:
            written.append(self.directory / _BEST)
        for path in written:
            _write_atomic(path, data)
        self._prune()
        log.info("step %d: wrote %s", step, ", ".join(p.name for p in written))
        return written

    def _update_best(self, step: int, metrics: Mapping[str, float] | None) -> bool:
        if self.metric is None or metrics is None:
            return False
        if self.metric not in metrics:
            raise ValueError(f"CheckpointManager.save: metrics lack {self.metric!r}, the metric that selects "
                             f"best.pt; got {sorted(metrics)}")
        value = float(metrics[self.metric])
        if not math.isfinite(value):
            log.warning("step %d: %s is %s, not a candidate for best.pt", step, self.metric, value)
            return False
        better = self.best_value is None or (value < self.best_value if self.mode == "min"
                                             else value > self.best_value)
        if better:
            self.best_value, self.best_step = value, step
        return better

    def _prune(self) -> None:
        if self.keep_last is None:
            return
        steps = _step_files(self.directory)
        for _, path in steps[: max(0, len(steps) - self.keep_last)]:
            path.unlink(missing_ok=True)

    def _remove_stale_temporaries(self) -> None:
        """Delete temporary files that an interrupted write left behind (their targets are intact)."""
        for path in self.directory.glob(f".*.pt.*{TMP_SUFFIX}"):
            log.info("removing %s, left by an interrupted checkpoint write", path)
            path.unlink(missing_ok=True)

    def state_dict(self) -> dict[str, Any]:
        """The best value so far and its step (also added to every checkpoint under :data:`MANAGER_KEY`)."""
        return {"metric": self.metric, "mode": self.mode, "best_value": self.best_value,
                "best_step": self.best_step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the best value from a checkpoint's ``state[MANAGER_KEY]``."""
        missing = {"metric", "mode", "best_value", "best_step"} - set(state)
        if missing:
            raise ValueError(f"CheckpointManager.load_state_dict: state lacks {sorted(missing)}")
        if (state["metric"], state["mode"]) != (self.metric, self.mode):
            log.warning("checkpoint selected best.pt by %s (%s), this run by %s (%s): best value reset",
                        state["metric"], state["mode"], self.metric, self.mode)
            return
        self.best_value, self.best_step = state["best_value"], state["best_step"]
