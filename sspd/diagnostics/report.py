"""The collapse report of a pretraining run: read the run directory, judge it, write HTML and Markdown.

    from sspd.diagnostics.report import write_report
    files = write_report("runs/sspd", out_dir=None)     # RUN_DIR/report/report.html, report.md, figures/
    files.verdict.level                                  # "learning" | "not learning" | "collapsed" | "unknown"

:func:`load_run` reads the layout the pretraining loop writes; pieces a run may lack (no snapshot yet,
no summary because it was interrupted, no collapse check yet) are listed in :attr:`RunRecord.missing`
and shown as missing in the report, never raised. :func:`judge_run` turns the monitor's last report
(collapse.json, else the last probes in metrics.jsonl) into one verdict with its reasons. Figures are
drawn by :mod:`sspd.diagnostics.report_figures`, pages by :mod:`sspd.diagnostics.report_html`.
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sspd.diagnostics.alarms import Verdict, assess
from sspd.diagnostics.health import run_verdict
from sspd.diagnostics.probe_set import PROBE_PREFIX
from sspd.diagnostics.thresholds import DEFAULT_THRESHOLDS, LEVELS, Thresholds

__all__ = ["Snapshot", "RunRecord", "VerdictRow", "RunVerdict", "ReportFiles", "load_run", "read_metrics",
           "read_snapshot", "judge_run", "write_report"]

log = logging.getLogger(__name__)

_RUN_FILES = ("metrics.jsonl", "config.yaml", "summary.json", "collapse.json", "health.json")
_SNAPSHOT_NAME = re.compile(r"^step_(\d+)\.npz$")
_LEVEL_KEY = re.compile(r"^(ssm|ssw)_l(\d+)$")


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
    lines = path.read_text(encoding="utf-8").splitlines()
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
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        missing.append(f"{path.name} could not be read ({err}): {what}")
        return None
    if not isinstance(value, dict):
        missing.append(f"{path.name} is not a JSON object: {what}")
        return None
    return value


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
                                "(the --out of `sspd pretrain`)")
    if not path.is_dir():
        raise ValueError(f"{path} is a file, not a run directory: pass the folder that holds metrics.jsonl")
    if not any((path / name).is_file() for name in _RUN_FILES):
        raise ValueError(f"{path} is not a run directory: none of {', '.join(_RUN_FILES)} is in it; pass the "
                         "folder a pretraining run wrote (the --out of `sspd pretrain`)")
    record = RunRecord(path=path)
    metrics = path / "metrics.jsonl"
    if metrics.is_file():
        record.metrics, notes = read_metrics(metrics)
        record.missing.extend(notes)
    else:
        record.missing.append("metrics.jsonl is missing: no probe or loss curves")
    record.config = _read_config(path / "config.yaml", record.missing)
    record.collapse = _read_json(path / "collapse.json", record.missing,
                                 "no monitor report; the verdicts are rebuilt from metrics.jsonl")
    record.health = _read_json(path / "health.json", record.missing,
                               "no health check yet (it runs at every checkpoint): the run's verdict is unknown")
    record.summary = _read_json(path / "summary.json", record.missing,
                                "the run has not finished (or was killed): no stop reason")
    record.snapshots = _read_snapshots(path / "snapshots", record.missing)
    log.info("read run %s: %d metric lines, %d snapshots", path, len(record.metrics), len(record.snapshots))
    return record


# --- the verdict ------------------------------------------------------------------------------------

_LEVEL_RANK = {"healthy": 0, "warning": 1, "collapsed": 2}


@dataclass(frozen=True)
class VerdictRow:
    """One judged probe at the last check, with how often it alarmed over the run.

    Attributes:
        probe: ``"collapse/<probe>"``; level: its verdict; value: its value; band: the healthy
            interval (low, high); reason: the verdict's sentence.
        warned, collapsed: logged checks at which the probe was at warning / collapsed (alarm/* = 1 / 2).
    """

    probe: str
    level: str
    value: float
    band: tuple[float, float]
    reason: str
    warned: int = 0
    collapsed: int = 0


@dataclass(frozen=True)
class RunVerdict:
    """The run's verdict.

    Attributes:
        level: the answer to "is this run learning the pulse?": ``"collapsed"`` when the monitor declared
            collapse (or the run stopped for it), else the latest health check's ``"learning"`` or
            ``"not learning"`` (:mod:`sspd.diagnostics.health`), ``"unknown"`` without one.
        decided_by: the probe that decided ``level`` (None when unknown); follows: when not learning,
            what the predicted rates follow; labels: the label-based line ("predictor HR MAE ...") when
            the health clips had labels, None otherwise (shown apart: it never feeds the verdict).
        alarm_level: the collapse probes' own level: ``"collapsed"`` when declared, ``"warning"``
            when a probe is at warning or collapsed at the last check without a declaration,
            ``"healthy"`` when every judged probe is in its band, ``"unknown"`` without checks. A run
            can be "healthy" here and not learning: the probes catch a dead output, not a wrong rate.
        declared: whether collapse was declared; probe: by which probe (None if not or unknown);
        step: the step of the last check (None without checks); message: the monitor's message.
        stop_reason: summary.json's stop reason, None when the run has no summary.
        rows: every judged probe at the last check; reasons: the sentences that explain ``level``.
        source: where the verdicts came from: ``"collapse.json"``, ``"metrics.jsonl"`` or ``"none"``.
    """

    level: str
    declared: bool
    probe: str | None
    step: int | None
    message: str
    stop_reason: str | None
    rows: list[VerdictRow]
    reasons: list[str]
    source: str
    alarm_level: str = "unknown"
    decided_by: str | None = None
    follows: str | None = None
    labels: str | None = None


def _band(raw: Any, fallback: tuple[float, float]) -> tuple[float, float]:
    """A [low, high] band from JSON (null ends read as infinite); ``fallback`` when unreadable."""
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        return fallback
    low, high = (-math.inf if raw[0] is None else raw[0]), (math.inf if raw[1] is None else raw[1])
    try:
        return float(low), float(high)
    except (TypeError, ValueError):
        return fallback


def _verdicts_from_json(collapse: dict[str, Any], thresholds: Thresholds) -> dict[str, Verdict]:
    """The verdicts of collapse.json: its "verdicts" entries, else its "probes" judged by ``thresholds``."""
    raw = collapse.get("verdicts")
    if not isinstance(raw, dict) or not raw:
        probes = collapse.get("probes")
        probes = {k: float(v) for k, v in probes.items() if isinstance(v, (int, float))} \
            if isinstance(probes, dict) else {}
        return assess(probes, thresholds)
    verdicts = {}
    for name, entry in raw.items():
        rule = thresholds.rule(name)
        fallback = rule.healthy_band() if rule else (-math.inf, math.inf)
        if not isinstance(entry, dict) or entry.get("level") not in LEVELS:
            continue
        value = float(entry["value"]) if isinstance(entry.get("value"), (int, float)) else math.nan
        verdicts[name] = Verdict(level=entry["level"], value=value, band=_band(entry.get("band"), fallback),
                                 reason=str(entry.get("reason", "")))
    return verdicts


def _last_check(record: RunRecord) -> tuple[int | None, dict[str, float]]:
    """The step and probes of the last metrics line that holds collapse probes."""
    for row in reversed(record.metrics):
        probes = {k: v for k, v in row.items() if k.startswith(PROBE_PREFIX)}
        if probes:
            return int(row["step"]), probes
    return None, {}


def _alarm_counts(record: RunRecord, probe: str) -> tuple[int, int]:
    """(warned, collapsed): logged checks at which ``probe``'s alarm was 1 and 2."""
    _, levels = record.series("alarm/" + probe.split("/", 1)[-1])
    return int(np.sum(levels == 1)), int(np.sum(levels == 2))


def _collect_verdicts(record: RunRecord, thresholds: Thresholds) -> tuple[dict[str, Verdict], int | None, str]:
    """(verdicts, step of the check, source) from collapse.json when it has any, else metrics.jsonl."""
    collapse = record.collapse or {}
    verdicts = _verdicts_from_json(collapse, thresholds) if collapse else {}
    if verdicts:
        step = collapse.get("step")
        return verdicts, int(step) if isinstance(step, (int, float)) else record.last_step, "collapse.json"
    step, probes = _last_check(record)
    verdicts = assess(probes, thresholds)
    return verdicts, step, "metrics.jsonl" if verdicts else "none"


def _declared_probe(record: RunRecord, verdicts: dict[str, Verdict]) -> str | None:
    """The probe that declared collapse: collapse.json's, else summary.json's, else the worst at the end."""
    for source in (record.collapse or {}, record.summary or {}):
        for key in ("probe", "collapse_probe"):
            if isinstance(source.get(key), str):
                return source[key]
    collapsed = [name for name, v in verdicts.items() if v.level == "collapsed"]
    return collapsed[0] if collapsed else None


def _level(declared: bool, rows: list[VerdictRow]) -> str:
    if declared:
        return "collapsed"
    if not rows:
        return "unknown"
    return "warning" if any(row.level != "healthy" for row in rows) else "healthy"


def _reasons(verdict_level: str, declared: bool, message: str, probe: str | None, step: int | None,
             rows: list[VerdictRow], stop_reason: str | None) -> list[str]:
    """The sentences that explain the verdict, most important first."""
    reasons = []
    if declared:
        reasons.append(message or f"collapse was declared by {probe or 'a probe'} (see the curves below)")
    reasons += [row.reason for row in sorted(rows, key=lambda r: -_LEVEL_RANK[r.level]) if row.level != "healthy"]
    if not declared and any(row.level == "collapsed" for row in rows):
        reasons.append("a probe is collapsed at the last check but not for the monitor's patience of "
                       "consecutive checks: collapse is not declared yet")
    if verdict_level == "healthy":
        reasons.append(f"every judged collapse probe is in its band at the last check (step {step}): the output "
                       "is alive, which alone does not say it follows the pulse")
    if verdict_level == "unknown":
        reasons.append("no collapse probe was judged: the monitor was off, or the run stopped before its "
                       "first check")
    if stop_reason and stop_reason != "completed":
        reasons.append(f"the run stopped early: {stop_reason}")
    return reasons


def judge_run(record: RunRecord, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> RunVerdict:
    """The run's verdict with its reasons (see :class:`RunVerdict`).

    Uses the monitor's own last report (collapse.json) when there is one, else the last probes logged
    in metrics.jsonl judged by ``thresholds``. Collapse counts as declared when collapse.json says so
    or summary.json's stop reason is ``"collapse"``.
    """
    verdicts, step, source = _collect_verdicts(record, thresholds)
    collapse, summary = record.collapse or {}, record.summary or {}
    stop_reason = summary.get("stop_reason") if isinstance(summary.get("stop_reason"), str) else None
    declared = bool(collapse.get("collapse")) or stop_reason == "collapse"
    rows = [VerdictRow(name, v.level, v.value, v.band, v.reason, *_alarm_counts(record, name))
            for name, v in verdicts.items()]
    probe = _declared_probe(record, verdicts) if declared else None
    message = str(collapse.get("message") or "") if declared else ""
    alarm_level = _level(declared, rows)
    answer = run_verdict({"collapse": declared, "probe": probe, "message": message}, record.health)
    reasons = _reasons(alarm_level, declared, message, probe, step, rows, stop_reason)
    if answer["verdict"] != "collapsed" and answer["verdict_reason"]:
        health_step = (record.health or {}).get("step")
        at = f" (health check at step {health_step})" if health_step is not None else ""
        reasons.insert(0, answer["verdict_reason"] + at)
    return RunVerdict(level=answer["verdict"], declared=declared, probe=probe, step=step, message=message,
                      stop_reason=stop_reason, rows=rows, reasons=reasons, source=source, alarm_level=alarm_level,
                      decided_by=answer["verdict_probe"], follows=answer["follows"], labels=_label_line(record.health))


def _label_line(health: dict[str, Any] | None) -> str | None:
    """The health check's label-based line, None without labels."""
    labels = (health or {}).get("labels")
    if not isinstance(labels, dict):
        return None
    def fmt(key: str, spec: str) -> str:
        value = labels.get(key)
        return "n/a" if not isinstance(value, (int, float)) else format(value, spec)
    return (f"predictor HR MAE {fmt('mae_bpm', '.1f')} bpm, r {fmt('r', '.2f')} against the labels; POS "
            f"{fmt('pos_mae_bpm', '.1f')} bpm on the same clips ({labels.get('n_clips', '?')} clips)")


# --- writing the report -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote: the HTML page, the Markdown page, the figure PNGs, the verdict."""

    html: Path
    markdown: Path
    figures: list[Path]
    verdict: RunVerdict


def _write_text(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a reader never sees half a page."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(run_dir: str | Path, *, out_dir: str | Path | None = None,
                 thresholds: Thresholds = DEFAULT_THRESHOLDS, max_snapshots: int = 4) -> ReportFiles:
    """Write the collapse report of a run: ``report.html`` (self-contained), ``report.md`` and
    ``figures/*.png`` in ``out_dir`` (default ``RUN_DIR/report``).

    Args:
        run_dir: the run directory (see :func:`load_run`).
        out_dir: where to write; created if needed.
        thresholds: the rules the bands are drawn from (and the verdicts judged by when collapse.json
            has none); pass the run's own if it changed them.
        max_snapshots: checkpoints shown in the SSM and SSW figures (spread over the run, with the last).

    Raises:
        FileNotFoundError, ValueError: as :func:`load_run`; ValueError for max_snapshots < 1.
    """
    from sspd.diagnostics.report_figures import build_figures
    from sspd.diagnostics.report_html import render_html, render_markdown

    if isinstance(max_snapshots, bool) or not isinstance(max_snapshots, int) or max_snapshots < 1:
        raise ValueError(f"write_report: max_snapshots must be an int >= 1, got {max_snapshots!r}")
    record = load_run(run_dir)
    verdict = judge_run(record, thresholds)
    figures, notes = build_figures(record, thresholds, max_snapshots)
    out = Path(out_dir) if out_dir is not None else record.path / "report"
    (out / "figures").mkdir(parents=True, exist_ok=True)
    paths = []
    for figure in figures:
        paths.append(out / "figures" / f"{figure.name}.png")
        paths[-1].write_bytes(figure.png)
    _write_text(out / "report.html", render_html(record, verdict, figures, notes))
    linked = [(figure, f"figures/{figure.name}.png") for figure in figures]
    _write_text(out / "report.md", render_markdown(record, verdict, linked, notes))
    log.info("collapse report of %s: %s, %d figures in %s", record.path, verdict.level, len(figures), out)
    return ReportFiles(html=out / "report.html", markdown=out / "report.md", figures=paths, verdict=verdict)
