"""The run directory of a pretraining run: its names, what writes each file and what reads it back.

    RUN_DIR/config.yaml          the resolved run config                              (CONFIG)
    RUN_DIR/checkpoints/         last.pt, best.pt, step_XXXXXXX.pt (format "sspd-checkpoint-1")
    RUN_DIR/metrics.jsonl        one line per logged step: every named scalar, collapse probes and alarms,
                                 the online linear probe's probe/* scalars on its steps       (METRICS)
    RUN_DIR/tb/                  TensorBoard: the same scalars, SSM/SSW images, parameter histograms
    RUN_DIR/snapshots/           step_XXXXXXX.npz at every checkpoint (:func:`write_snapshot`)
    RUN_DIR/collapse.json        the latest collapse-monitor report and the run's verdict     (COLLAPSE)
    RUN_DIR/health.json          the latest health check: is the run learning the pulse?     (HEALTH)
    RUN_DIR/summary.json         at the end: steps, wall time, final scalars, stop reason     (SUMMARY)
    RUN_DIR/.sspd-owner.json     the claim: a pretraining run writes only into its own folder  (claim_run_dir)
    RUN_DIR/.sspd-pretrain.lock  held while a run writes, so two runs never share a folder     (RUN_LOCK)

The loop writes it (rank 0, through :class:`sspd.engine.runfiles.run_writer.RunWriter`) and the report reads it
(:func:`load_run`), both through this module, so the file names are spelled once.

    record = load_run("runs/sspd")          # RunRecord: metrics, snapshots, collapse, health, config, summary
    record.series("collapse/pred_in_band")  # (steps, values)

Pieces a run may lack (no snapshot yet, no summary because it was interrupted, no collapse or health
check yet) are listed in :attr:`RunRecord.missing`, never raised.
"""
from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import yaml
from torch import Tensor

from sspd.engine.capture import CapturedOutputs, level_maps
from sspd.models.checkpoint import CHECKPOINT_FORMAT  # the "format" entry of every checkpoint
from sspd.files import atomic_write, atomic_write_json, atomic_write_text, check_folder, claim_folder

__all__ = ["CONFIG", "CHECKPOINTS", "METRICS", "TENSORBOARD", "SNAPSHOTS", "COLLAPSE", "HEALTH", "SUMMARY",
           "CHECKPOINT_FORMAT", "write_json", "write_config", "write_summary", "write_snapshot", "snapshot_path",
           "read_json", "Snapshot", "RunRecord", "load_run", "read_metrics", "read_snapshot", "RUN_LOCK",
           "RUN_OUTPUTS", "check_run_dir", "claim_run_dir"]

log = logging.getLogger(__name__)

CONFIG = "config.yaml"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
TENSORBOARD = "tb"
SNAPSHOTS = "snapshots"
COLLAPSE = "collapse.json"
HEALTH = "health.json"
SUMMARY = "summary.json"

#: held by the run writing the folder (:func:`sspd.data.cache_lock.folder_lock`)
RUN_LOCK = ".sspd-pretrain.lock"
#: every name a pretraining run writes in its folder
RUN_OUTPUTS = (CONFIG, CHECKPOINTS, METRICS, TENSORBOARD, SNAPSHOTS, COLLAPSE, HEALTH, SUMMARY)
_CONFIG_HEADER = "# resolved RunConfig"

_RUN_FILES = (METRICS, CONFIG, SUMMARY, COLLAPSE, HEALTH)
_SNAPSHOT_NAME = re.compile(r"^step_(\d+)\.npz$")
_LEVEL_KEY = re.compile(r"^(ssm|ssw)_l(\d+)$")


# ----------------------------------------------------------------------------------------------- claim
def _made_by_sspd(run_dir: Path) -> bool:
    """Whether a folder without the owner mark is a run an older sspd made: its config.yaml carries the
    header :func:`write_config` writes, or it holds checkpoints (then resuming, or refusing to start over
    them, is the checkpoints' business)."""
    try:
        with open(run_dir / CONFIG, encoding="utf-8") as fh:
            if fh.readline().startswith(_CONFIG_HEADER):
                return True
    except (OSError, UnicodeDecodeError):
        pass
    return (run_dir / CHECKPOINTS).is_dir() and any((run_dir / CHECKPOINTS).glob("*.pt"))


def check_run_dir(run_dir: str | Path) -> None:
    """Refuse, writing nothing, a run directory that holds files a pretraining run did not write.

    Raises:
        ValueError: naming the files (or the command that owns the folder) and the fix.
    """
    check_folder(run_dir, "pretrain", outputs=RUN_OUTPUTS, where="run_dir (--set run_dir=...)",
                 legacy=_made_by_sspd)


def claim_run_dir(run_dir: str | Path) -> Path:
    """:func:`check_run_dir`, then create the folder and mark it as a pretraining run's."""
    return claim_folder(run_dir, "pretrain", outputs=RUN_OUTPUTS, where="run_dir (--set run_dir=...)",
                        legacy=_made_by_sspd)


# ----------------------------------------------------------------------------------------------- writing
def write_json(run_dir: str | Path, name: str, obj: Any) -> Path:
    """``RUN_DIR/name`` as indented JSON, written to a temporary file and renamed into place."""
    path = Path(run_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(path, obj, fsync=False, indent=2, default=float)


def write_config(run_dir: str | Path, record: Mapping[str, Any], kind: str = "RunConfig") -> Path:
    """``RUN_DIR/config.yaml``: the resolved run config (plain values) that ``sspd pretrain --resume`` reads."""
    path = Path(run_dir) / CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(dict(record), sort_keys=False, allow_unicode=True)
    header = f"# resolved {kind}: load with sspd.configuration.load_config\n"  # also the mark of an sspd run
    return atomic_write_text(path, header + text, fsync=False)


def write_summary(run_dir: str | Path, *, steps: int, total_steps: int, wall_time_s: float, stop_reason: str,
                  message: str, final: Mapping[str, float]) -> Path:
    """``RUN_DIR/summary.json`` at the end of a run: how it ended and where its outputs are."""
    run_dir = Path(run_dir)
    outputs = {name: str(run_dir / name) for name in
               (CONFIG, CHECKPOINTS, METRICS, TENSORBOARD, SNAPSHOTS, COLLAPSE, HEALTH)}
    return write_json(run_dir, SUMMARY, {
        "steps": steps, "total_steps": total_steps, "wall_time_s": wall_time_s, "stop_reason": stop_reason,
        "message": message, "final": dict(final), "finished_at": time.time(), "outputs": outputs})


def snapshot_path(run_dir: str | Path, step: int) -> Path:
    """``RUN_DIR/snapshots/step_XXXXXXX.npz`` of optimiser step ``step``."""
    return Path(run_dir) / SNAPSHOTS / f"step_{step:07d}.npz"


def _hr_of(signals: np.ndarray, fs: float) -> np.ndarray:
    """HR in bpm of each (T,) row by the spectral peak (NaN where the signal is too short or flat)."""
    from sspd.signal import estimate_hr

    try:
        return np.atleast_1d(np.asarray(estimate_hr(signals, fs), dtype=np.float32))
    except ValueError as err:
        log.debug("snapshot HR not estimated: %s", err)
        return np.full(signals.shape[0], np.nan, dtype=np.float32)


def write_snapshot(path: str | Path, seen: CapturedOutputs, *, fs: float, clips: int = 4,
                   labels_hr: Tensor | None = None) -> Path:
    """Save the online SSMs and SSWs of the first ``clips`` clips, the predictions and their HR (npz).

    Arrays: ``ssm`` (L, B', T', T') when every level has the same T', else ``ssm_l0``, ``ssm_l1``, ...;
    ``ssw_l0``, ... (B', T'_l); ``pred`` (B', T); ``hr_pred`` (B',); ``hr_true`` (B',) when labels are
    given; ``fps``. :func:`read_snapshot` reads it back.
    """
    if seen.online is None:
        raise ValueError("write_snapshot: no online outputs were captured; run a forward pass inside "
                         "capture_outputs first")
    maps = level_maps([h[:clips] for h in seen.online.hs])  # empty for objectives without the TS stack
    pred = seen.online.rppg[:clips].cpu().numpy().astype(np.float32)  # (B', T)
    arrays: dict[str, Any] = {"pred": pred, "hr_pred": _hr_of(pred, fs), "fps": np.float32(fs)}
    if maps and len({ssm.shape for ssm, _ in maps}) == 1:
        arrays["ssm"] = torch.stack([ssm for ssm, _ in maps]).cpu().numpy()  # (L, B', T', T')
    else:
        arrays.update({f"ssm_l{i}": ssm.cpu().numpy() for i, (ssm, _) in enumerate(maps)})
    arrays.update({f"ssw_l{i}": ssw.cpu().numpy() for i, (_, ssw) in enumerate(maps)})
    if labels_hr is not None:
        arrays["hr_true"] = labels_hr[:clips].detach().cpu().numpy().astype(np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # renamed into place: a kill mid-write leaves no torn npz
    return atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays), fsync=False)


# ----------------------------------------------------------------------------------------------- reading
def read_json(run_dir: str | Path, name: str) -> dict[str, Any] | None:
    """``RUN_DIR/name`` as a dict, or None when it is absent (a corrupt file raises ValueError)."""
    path = Path(run_dir) / name
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} could not be read ({err}): delete it, the run writes it again") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} is not a JSON object: delete it, the run writes it again")
    return value


@dataclass(frozen=True)
class Snapshot:
    """The arrays saved at one checkpoint (``snapshots/step_XXXXXXX.npz``).

    Attributes:
        step: the training step (from the file name).
        path: the ``.npz`` file.
        ssm: the online SSMs of each pyramid level, each (B', T', T') (T' may differ per level).
        ssw: the self-similarity waves of each level, each (B', T').
        pred: (B', T) predictor outputs, or None.
        hr_pred: (B',) predicted HRs in bpm, or None; hr_true: (B',) label HRs, or None.
        fps: the clips' frame rate in Hz, or None.
    """

    step: int
    path: Path
    ssm: list[np.ndarray] = field(default_factory=list)
    ssw: list[np.ndarray] = field(default_factory=list)
    pred: np.ndarray | None = None
    hr_pred: np.ndarray | None = None
    hr_true: np.ndarray | None = None
    fps: float | None = None


@dataclass
class RunRecord:
    """Everything read from a run directory.

    Attributes:
        path: the run directory.
        metrics: one dict per logged step of metrics.jsonl, in file order.
        snapshots: the snapshots in step order.
        collapse: collapse.json as a dict, or None; config: config.yaml as a dict, or None;
        summary: summary.json as a dict, or None.
        missing: one sentence per missing or unreadable piece.
    """

    path: Path
    metrics: list[dict[str, float]] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    collapse: dict[str, Any] | None = None
    health: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    missing: list[str] = field(default_factory=list)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one scalar over the logged steps that have it; (N,) each."""
        rows = [(r["step"], r[name]) for r in self.metrics if name in r]
        if not rows:
            return np.zeros(0), np.zeros(0)
        steps, values = zip(*rows)
        return np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=np.float64)

    def scalar_names(self) -> list[str]:
        """Every scalar name in metrics.jsonl (besides step and time), in order of first appearance."""
        names: dict[str, None] = {}
        for row in self.metrics:
            names.update((k, None) for k in row if k not in ("step", "time"))
        return list(names)

    @property
    def last_step(self) -> int | None:
        """The last logged step, else the summary's, else None."""
        if self.metrics:
            return int(self.metrics[-1]["step"])
        steps = (self.summary or {}).get("steps")
        return int(steps) if isinstance(steps, (int, float)) else None


def read_metrics(path: Path) -> tuple[list[dict[str, float]], list[str]]:
    """The lines of a metrics.jsonl file and notes on any it dropped.

    A last line torn by a crash is dropped with a note; a malformed line elsewhere means the file is
    not a metrics log and raises.

    Returns:
        (rows, notes): rows have an int ``"step"`` and float values (NaN kept).

    Raises:
        ValueError: a line before the last is not a JSON object with an integer "step".
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not a metrics log (not UTF-8 text: {err.reason} at byte {err.start}); pass "
                         "a file the training loop wrote") from None
    rows, notes = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row = _parse_metrics_line(line)
        if row is None and number == len(lines):
            notes.append(f"{path.name}: the last line ({number}) is incomplete (a write cut by a crash?); "
                         "it was skipped")
        elif row is None:
            raise ValueError(f"{path}:{number} is not a metrics line (a JSON object with an integer "
                             f"'step' and numeric values): {line[:80]!r}; pass a file the training loop wrote")
        else:
            rows.append(row)
    return rows, notes


def _parse_metrics_line(line: str) -> dict[str, float] | None:
    """One JSONL line as {"step": int, name: float}; None when it is not a valid metrics line."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict) or isinstance(raw.get("step"), bool) or not isinstance(raw.get("step"), int):
        return None
    row: dict[str, float] = {"step": raw["step"]}
    for name, value in raw.items():
        if name != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
            row[name] = float(value)
    return row


def read_snapshot(path: Path) -> Snapshot:
    """One snapshot file; a missing optional array is None (or an empty list).

    Raises:
        ValueError: the file is not a readable .npz, or an array has the wrong number of axes.
    """
    match = _SNAPSHOT_NAME.match(path.name)
    step = int(match.group(1)) if match else -1
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name]) for name in data.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable snapshot (.npz): {err}") from err
    ssm = _levels(arrays, "ssm", path)
    ssw = _levels(arrays, "ssw", path)
    for name, ndim in (("pred", 2), ("hr_pred", 1), ("hr_true", 1)):
        if name in arrays and arrays[name].ndim != ndim:
            raise ValueError(f"{path}: array {name!r} must have {ndim} axes, got shape {arrays[name].shape}")
    fps = float(arrays["fps"].reshape(-1)[0]) if "fps" in arrays and arrays["fps"].size else None
    return Snapshot(step=step, path=path, ssm=ssm, ssw=ssw, pred=arrays.get("pred"),
                    hr_pred=arrays.get("hr_pred"), hr_true=arrays.get("hr_true"),
                    fps=fps if fps is not None and math.isfinite(fps) and fps > 0 else None)


def _levels(arrays: dict[str, np.ndarray], kind: str, path: Path) -> list[np.ndarray]:
    """The per-level arrays of ``kind``: a stacked "ssm" (L, B', T', T') or "ssm_l0", "ssm_l1", ..."""
    ndim = 3 if kind == "ssm" else 2
    if kind in arrays:
        stacked = arrays[kind]
        if stacked.ndim != ndim + 1:
            raise ValueError(f"{path}: array {kind!r} must be {'(L, B, T, T)' if ndim == 3 else '(L, B, T)'}, "
                             f"got shape {stacked.shape}")
        return [level for level in stacked]                            # L x (B', T', T') or (B', T')
    found = sorted((int(m.group(2)), name) for name in arrays
                   if (m := _LEVEL_KEY.match(name)) and m.group(1) == kind)
    for _, name in found:
        if arrays[name].ndim != ndim:
            raise ValueError(f"{path}: array {name!r} must have {ndim} axes, got shape {arrays[name].shape}")
    return [arrays[name] for _, name in found]


def _read_json(path: Path, missing: list[str], what: str) -> dict[str, Any] | None:
    """A JSON object file, or None with a note when it is absent or unreadable."""
    if not path.is_file():
        missing.append(f"{path.name} is missing: {what}")
        return None
    try:
        return read_json(path.parent, path.name)
    except ValueError as err:
        missing.append(f"{err}; {what}")
        return None


def _read_config(path: Path, missing: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        missing.append("config.yaml is missing: the run's settings cannot be shown")
        return None
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        missing.append(f"config.yaml could not be read ({err})")
        return None
    return value if isinstance(value, dict) else None


def _read_snapshots(folder: Path, missing: list[str]) -> list[Snapshot]:
    paths = sorted(p for p in folder.glob("step_*.npz") if _SNAPSHOT_NAME.match(p.name)) if folder.is_dir() else []
    if not paths:
        missing.append("no snapshots (snapshots/step_*.npz): the run stopped before its first checkpoint, "
                       "so there are no SSM/SSW images or HR histograms")
        return []
    snapshots = []
    for path in paths:
        try:
            snapshots.append(read_snapshot(path))
        except ValueError as err:
            missing.append(f"snapshot skipped: {err}")
    return sorted(snapshots, key=lambda s: s.step)


def load_run(run_dir: str | Path) -> RunRecord:
    """Read a run directory written by the pretraining loop.

    Expected layout (pieces may be missing; each absence is noted in ``missing``)::

        RUN_DIR/metrics.jsonl  config.yaml  collapse.json  summary.json  snapshots/step_*.npz

    Raises:
        FileNotFoundError: ``run_dir`` does not exist.
        ValueError: it is not a folder, or holds none of metrics.jsonl, config.yaml, summary.json,
            collapse.json (not a run directory); or metrics.jsonl is corrupt before its last line.
    """
    path = Path(run_dir)
    if not path.exists():
        raise FileNotFoundError(f"run directory {path} does not exist: pass the folder a pretraining run wrote "
                                "(the run_dir of `sspd pretrain`)")
    if not path.is_dir():
        raise ValueError(f"{path} is a file, not a run directory: pass the folder that holds metrics.jsonl")
    if not any((path / name).is_file() for name in _RUN_FILES):
        raise ValueError(f"{path} is not a run directory: none of {', '.join(_RUN_FILES)} is in it; pass the "
                         "folder a pretraining run wrote (the run_dir of `sspd pretrain`)")
    record = RunRecord(path=path)
    metrics = path / METRICS
    if metrics.is_file():
        record.metrics, notes = read_metrics(metrics)
        record.missing.extend(notes)
    else:
        record.missing.append("metrics.jsonl is missing: no probe or loss curves")
    record.config = _read_config(path / CONFIG, record.missing)
    record.collapse = _read_json(path / COLLAPSE, record.missing,
                                 "no monitor report; the verdicts are rebuilt from metrics.jsonl")
    record.health = _read_json(path / HEALTH, record.missing,
                               "no health check yet (it runs at every checkpoint): the run's verdict is unknown")
    record.summary = _read_json(path / SUMMARY, record.missing,
                                "the run has not finished (or was killed): no stop reason")
    record.snapshots = _read_snapshots(path / SNAPSHOTS, record.missing)
    log.info("read run %s: %d metric lines, %d snapshots", path, len(record.metrics), len(record.snapshots))
    return record
