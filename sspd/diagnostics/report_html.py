"""The pages of the collapse report: one self-contained HTML file and a Markdown summary.

The HTML page embeds every figure as a base64 ``data:image/png`` URI and its style inline: it needs no
other file and no network. The Markdown page links the same figures as PNG files next to it. Every
string taken from the run (probe names, reasons, config values) is escaped.
"""
from __future__ import annotations

import base64
import html
import math
from typing import TYPE_CHECKING, Any

import yaml

from sspd.diagnostics.report_figures import ReportFigure

if TYPE_CHECKING:
    from sspd.diagnostics.report import RunVerdict
    from sspd.engine.runfiles.run_dir import RunRecord

__all__ = ["render_html", "render_markdown", "format_band"]

_SECTIONS = (("probes", "Collapse probes"), ("losses", "Losses"), ("snapshots", "Self-similarity at checkpoints"),
             ("hr", "Heart rates"))
_LEVEL_COLOURS = {"learning": "#2ca02c", "not learning": "#e07b00", "collapsed": "#d62728", "unknown": "#777777",
                  "healthy": "#2ca02c", "warning": "#e07b00"}
_STYLE = """
body{font-family:sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
.verdict{padding:.8em 1em;border-radius:6px;color:#fff;font-size:1.15em}
table{border-collapse:collapse;font-size:.9em;margin:.6em 0} td,th{border:1px solid #ccc;padding:.25em .5em}
th{background:#f2f2f2;text-align:left} .grid{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0} figure.small img{width:500px} img{max-width:100%} figcaption{font-size:.8em;color:#555;max-width:520px}
pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:.8em} .level{font-weight:bold}
"""


def format_band(band: tuple[float, float]) -> str:
    """A healthy band in words: ``>= 0.1``, ``<= 0.75`` or ``[a, b]``."""
    low, high = band
    if math.isinf(low) and math.isinf(high):
        return "any"
    if math.isinf(high):
        return f">= {low:g}"
    if math.isinf(low):
        return f"<= {high:g}"
    return f"[{low:g}, {high:g}]"


def _overview(record: RunRecord, verdict: RunVerdict) -> list[tuple[str, str]]:
    """(label, value) lines about the run: steps, stop reason, wall time, verdict source."""
    summary = record.summary or {}
    lines = [("run directory", record.path.name or str(record.path)),
             ("last logged step", str(record.last_step) if record.last_step is not None else "none"),
             ("stop reason", verdict.stop_reason or "unknown (no summary.json: the run is running or was killed)")]
    if isinstance(summary.get("wall_time_s", summary.get("wall_time")), (int, float)):
        lines.append(("wall time", f"{float(summary.get('wall_time_s', summary.get('wall_time'))):.1f} s"))
    lines.append(("last check", "none" if verdict.step is None else f"step {verdict.step} (from {verdict.source})"))
    lines.append(("collapse probes", verdict.alarm_level))
    warmup = (record.collapse or {}).get("warmup_steps")
    if isinstance(warmup, int) and warmup > 0:
        lines.append(("monitor warm-up", f"checks before step {warmup} start no collapse streak"))
    lines.append(("snapshots", str(len(record.snapshots))))
    return lines


def _verdict_rows(verdict: RunVerdict) -> list[list[str]]:
    """Table rows: probe, level, value, healthy band, checks warned/collapsed, reason."""
    order = {"collapsed": 0, "warning": 1, "healthy": 2}
    rows = sorted(verdict.rows, key=lambda r: (order[r.level], r.probe))
    return [[row.probe, row.level, f"{row.value:.4g}", format_band(row.band), f"{row.warned} / {row.collapsed}",
             row.reason] for row in rows]


_HEADERS = ["probe", "level", "value", "healthy band", "checks warned / collapsed", "reason"]


def _headline(verdict: RunVerdict) -> str:
    """The answer first: learning | not learning | collapsed | unknown, the deciding probe, what it follows."""
    text = f"Verdict: {verdict.level}"
    if verdict.declared:
        text += f": collapse declared by {verdict.probe or 'a probe'}"
    elif verdict.decided_by:
        text += f" (decided by {verdict.decided_by})"
    if verdict.follows and verdict.level != "learning":
        text += f"; the predictions follow {verdict.follows}"
    return text


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html_figure(figure: ReportFigure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    small = ' class="small"' if figure.section == "probes" else ""
    return (f'<figure{small}><img alt="{html.escape(figure.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>{html.escape(figure.title)}</b>: {html.escape(figure.caption)}</figcaption></figure>")


def _config_text(config: dict[str, Any] | None) -> str:
    return "" if config is None else yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def render_html(record: RunRecord, verdict: RunVerdict, figures: list[ReportFigure], notes: list[str]) -> str:
    """The whole report as one HTML document (figures embedded as data URIs, inline style)."""
    colour = _LEVEL_COLOURS[verdict.level]
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>sspd collapse report: {html.escape(record.path.name)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>Collapse report: {html.escape(record.path.name or str(record.path))}</h1>",
             *([f"<p><b>{html.escape(verdict.labels)}</b> (labels, shown apart from the verdict)</p>"]
               if verdict.labels else []),
             f'<div class="verdict" style="background:{colour}">{html.escape(_headline(verdict))}</div>',
             "<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in verdict.reasons) + "</ul>",
             _html_table(["", ""], [[k, v] for k, v in _overview(record, verdict)])]
    if verdict.rows:
        parts += ["<h2>Verdicts at the last check</h2>", _html_table(_HEADERS, _verdict_rows(verdict))]
    for section, title in _SECTIONS:
        chosen = [f for f in figures if f.section == section]
        if chosen:
            parts += [f"<h2>{title}</h2>", '<div class="grid">', *map(_html_figure, chosen), "</div>"]
    missing = record.missing + notes
    if missing:
        parts += ["<h2>Missing</h2>", "<ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in missing) + "</ul>"]
    if record.config is not None:
        parts += ["<h2>Config</h2>", f"<pre>{html.escape(_config_text(record.config))}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(record: RunRecord, verdict: RunVerdict, figure_files: list[tuple[ReportFigure, str]],
                    notes: list[str]) -> str:
    """The Markdown summary: verdict, reasons, the verdict table, and links to the figure files.

    Args:
        figure_files: (figure, path relative to the Markdown file) pairs.
    """
    lines = [f"# Collapse report: {record.path.name or record.path}", ""]
    if verdict.labels:
        lines += [f"{verdict.labels} (labels, shown apart from the verdict)", ""]
    lines += [f"**{_headline(verdict)}**", ""]
    lines += [f"- {reason}" for reason in verdict.reasons] + [""]
    lines += [f"- {label}: {value}" for label, value in _overview(record, verdict)] + [""]
    if verdict.rows:
        lines += ["## Verdicts at the last check", "", "| " + " | ".join(_HEADERS) + " |",
                  "|" + "---|" * len(_HEADERS)]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in _verdict_rows(verdict)] + [""]
    for section, title in _SECTIONS:
        chosen = [(f, path) for f, path in figure_files if f.section == section]
        if chosen:
            lines += [f"## {title}", ""] + [f"![{f.title}]({path})" for f, path in chosen] + [""]
    missing = record.missing + notes
    if missing:
        lines += ["## Missing", ""] + [f"- {m}" for m in missing] + [""]
    return "\n".join(lines)
