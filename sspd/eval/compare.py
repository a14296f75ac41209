"""A Markdown table comparing the evaluations of several runs (``sspd evaluate --compare``).

Each input is an ``evaluation.json`` written by :func:`sspd.eval.model_eval.write_evaluation`, or a folder
holding one (directly or in ``evaluation/``). The file maps method names (the model, baselines) to pooled
summaries of :func:`sspd.eval.metrics.summarise_windows`; every row of the table is one (run, method).
The protocol (estimator, band, window, split) is stated under the table; when the inputs were made with
different protocols the table says so, since their numbers are then not comparable.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

__all__ = ["EVALUATION_FILE", "find_evaluation", "read_evaluation", "format_comparison"]

EVALUATION_FILE = "evaluation.json"
_PROTOCOL_KEYS = ("preset", "method", "band_hz", "window_s", "stride_s", "split")


def find_evaluation(path: str | Path) -> Path:
    """The evaluation JSON a path names: the file itself, ``<dir>/evaluation.json`` or
    ``<dir>/evaluation/evaluation.json``."""
    path = Path(path)
    if path.is_file():
        return path
    for candidate in (path / EVALUATION_FILE, path / "evaluation" / EVALUATION_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{path}: no {EVALUATION_FILE} there (nor in {path / 'evaluation'}); run "
                            f"sspd evaluate on it first, or pass the JSON file")


def read_evaluation(path: str | Path) -> dict[str, Any]:
    """Load and check one evaluation JSON (``label`` and ``results``: method → summary)."""
    file = find_evaluation(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{file}: not valid JSON ({err}); re-run sspd evaluate to rewrite it") from err
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or not results:
        raise ValueError(f"{file}: no 'results' (method → summary) in it; it was not written by sspd evaluate")
    for method, summary in results.items():
        if not isinstance(summary, dict) or "metrics" not in summary or "protocol" not in summary:
            raise ValueError(f"{file}: results[{method!r}] lacks 'metrics' or 'protocol'")
    data.setdefault("label", file.parent.name)
    return data


def _fmt(value: Any, se: Any = None, digits: int = 2) -> str:
    """``value ± se`` with ``digits`` decimals; "n/a" for a missing or NaN value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:.{digits}f}"
    if se is not None and isinstance(se, (int, float)) and math.isfinite(se):
        text += f" ± {se:.{digits}f}"
    return text


def _row(label: str, method: str, summary: dict[str, Any]) -> str:
    m = summary["metrics"]
    cells = [label, method, str(summary.get("n_windows", m.get("n"))), _fmt(m["mae"], m.get("mae_se")),
             _fmt(m["rmse"], m.get("rmse_se")), _fmt(m["mape"], m.get("mape_se")),
             _fmt(m["pearson_r"], m.get("pearson_r_se"), 3), _fmt(summary.get("snr_db"), summary.get("snr_db_se"))]
    return "| " + " | ".join(cells) + " |"


def _protocol_key(protocol: dict[str, Any]) -> str:
    return json.dumps({k: protocol.get(k) for k in _PROTOCOL_KEYS}, sort_keys=True)


def _describe(protocol: dict[str, Any]) -> str:
    band = protocol.get("band_hz") or [math.nan, math.nan]
    return (f"{protocol.get('estimator', protocol.get('method'))}; band {band[0]:g}-{band[1]:g} Hz; "
            f"window {protocol.get('window_s')} s, stride {protocol.get('stride_s')} s; "
            f"split {protocol.get('split')}")


def format_comparison(paths: Sequence[str | Path], *, labels: Sequence[str] | None = None) -> str:
    """The Markdown comparison of several evaluations, one row per (run, method) in the order given.
    ``labels`` replace the runs' own labels (one per path)."""
    if not paths:
        raise ValueError("format_comparison needs at least one evaluation")
    if labels is not None and len(labels) != len(paths):
        raise ValueError(f"{len(labels)} labels for {len(paths)} evaluations: give one label per path")
    lines = ["| run | method | windows | MAE (bpm) | RMSE (bpm) | MAPE (%) | r | SNR (dB) |",
             "|---|---|---|---|---|---|---|---|"]
    protocols: dict[str, dict[str, Any]] = {}
    for i, path in enumerate(paths):
        data = read_evaluation(path)
        label = labels[i] if labels is not None else str(data["label"])
        for method, summary in data["results"].items():
            lines.append(_row(label, method, summary))
            protocols.setdefault(_protocol_key(summary["protocol"]), summary["protocol"])
    lines.append("")
    if len(protocols) > 1:
        lines.append(f"WARNING: these rows were made with {len(protocols)} different protocols; their "
                     "numbers are not directly comparable:")
    lines += [f"Protocol: {_describe(p)}" for p in protocols.values()]
    lines.append("Values are mean ± standard error over windows.")
    return "\n".join(lines) + "\n"
