"""The report of a pretraining run: judge the run directory (read by :mod:`~sspd.engine.runfiles.run_dir`),
write HTML and Markdown.

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

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sspd.diagnostics.alarms import Verdict, assess
from sspd.diagnostics.health import LabelCheck, run_verdict
from sspd.diagnostics.probe_set import PROBE_PREFIX
from sspd.engine.runfiles.run_dir import RunRecord, Snapshot, load_run, read_metrics, read_snapshot
from sspd.diagnostics.thresholds import DEFAULT_THRESHOLDS, LEVELS, Thresholds
from sspd.files import atomic_write_text

__all__ = ["Snapshot", "RunRecord", "VerdictRow", "RunVerdict", "ReportFiles", "load_run", "read_metrics",
           "read_snapshot", "judge_run", "write_report"]

log = logging.getLogger(__name__)

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
    restarts = [f"the network started over from new initial weights after step {r['step']}: {r['reason']}"
                for r in (record.health or {}).get("restarts") or []]   # collapse.restart_after
    reasons[1:1] = restarts   # next to the verdict's own reason: the demo shows the first five
    return RunVerdict(level=answer["verdict"], declared=declared, probe=probe, step=step, message=message,
                      stop_reason=stop_reason, rows=rows, reasons=reasons, source=source, alarm_level=alarm_level,
                      decided_by=answer["verdict_probe"], follows=answer["follows"], labels=_label_line(record.health))


def _label_line(health: dict[str, Any] | None) -> str | None:
    """The health check's label-based line, None without labels."""
    labels = (health or {}).get("labels")
    return LabelCheck.from_json(labels).line() if isinstance(labels, dict) else None


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
    atomic_write_text(path, text, fsync=False)


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
