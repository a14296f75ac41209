"""Figures people would rather look at than read: waveform overlays, Bland-Altman, HR scatter.

Every function draws on its own :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot state,
no display needed), writes a PNG and returns its path. The HR-over-time figure of a prediction is
:func:`sspd.infer.plots.plot_hr_over_time`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
from matplotlib.figure import Figure

from sspd.eval.metrics import BlandAltman, bland_altman, hr_metrics
from sspd.infer.plots import save_png
from sspd.signal import check_fs, zscore

__all__ = ["plot_waveforms", "plot_bland_altman", "plot_hr_scatter", "read_metrics_jsonl",
           "plot_training_curves"]


def plot_waveforms(signals: Mapping[str, Any], fs: float, path: str | Path, *,
                   reference: Any | None = None, reference_name: str = "ground truth",
                   title: str | None = None, max_seconds: float | None = 20.0) -> Path:
    """Overlay pulse signals (each z-scored) against an optional reference, one panel per signal.

    Args:
        signals: name → (T,) signal at ``fs``.
        fs: sample rate in Hz (the time axis is in seconds).
        path: PNG to write.
        reference: optional (T,) reference (e.g. the PPG) drawn in every panel.
        max_seconds: show only the first seconds (None: everything), so beats stay visible.
    """
    fs = check_fs(fs)
    if not signals:
        raise ValueError("plot_waveforms needs at least one signal")
    fig = Figure(figsize=(10, 1.8 * len(signals) + 0.6))
    axes = fig.subplots(len(signals), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, sig) in zip(axes, signals.items()):
        sig = np.asarray(sig, dtype=np.float64).ravel()
        n = sig.size if max_seconds is None else min(sig.size, int(round(max_seconds * fs)))
        t = np.arange(n) / fs
        if reference is not None:
            ref = np.asarray(reference, dtype=np.float64).ravel()
            ax.plot(t, zscore(ref[:n]), color="0.6", lw=1.0, label=reference_name)
        ax.plot(t, zscore(sig[:n]), lw=1.2, label=name)
        ax.set_ylabel("z-score")
        ax.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)


def plot_bland_altman(pred_bpm: Any, true_bpm: Any, path: str | Path, *,
                      title: str = "Bland-Altman") -> tuple[Path, BlandAltman]:
    """Bland-Altman plot (difference against mean, bias and 95 % limits); returns the path and stats."""
    pred = np.asarray(pred_bpm, dtype=np.float64).ravel()
    true = np.asarray(true_bpm, dtype=np.float64).ravel()
    stats = bland_altman(pred, true)
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.scatter((pred + true) / 2, pred - true, s=14, alpha=0.7)
    for value, style, label in ((stats.bias, "-", f"bias {stats.bias:+.2f}"),
                                (stats.lower_limit, "--", f"-1.96 sd {stats.lower_limit:+.2f}"),
                                (stats.upper_limit, "--", f"+1.96 sd {stats.upper_limit:+.2f}")):
        if np.isfinite(value):
            ax.axhline(value, color="C3", ls=style, lw=1, label=label)
    ax.set_xlabel("mean of predicted and reference HR (bpm)")
    ax.set_ylabel("predicted - reference (bpm)")
    ax.set_title(f"{title} (n={stats.n})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_png(fig, path), stats


def plot_hr_scatter(pred_bpm: Any, true_bpm: Any, path: str | Path, *, title: str = "HR") -> Path:
    """Predicted against reference HR with the identity line and MAE / r in the title."""
    pred = np.asarray(pred_bpm, dtype=np.float64).ravel()
    true = np.asarray(true_bpm, dtype=np.float64).ravel()
    metrics = hr_metrics(pred, true)
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.scatter(true, pred, s=14, alpha=0.7)
    lo, hi = float(min(pred.min(), true.min())) - 5, float(max(pred.max(), true.max())) + 5
    ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("reference HR (bpm)")
    ax.set_ylabel("predicted HR (bpm)")
    ax.set_title(f"{title}: MAE {metrics.mae:.2f} bpm, r {metrics.pearson_r:.3f} (n={metrics.n})")
    fig.tight_layout()
    return save_png(fig, path)


def read_metrics_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (one JSON object per line, with ``step``); a line that is not
    JSON raises naming the file and line (a run killed mid-write leaves at most a truncated last line,
    which is skipped)."""
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such metrics file; a run directory has metrics.jsonl once the "
                                "loop has logged a step")
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number == len(lines):
                break  # the truncated last line of an interrupted run
            raise ValueError(f"{path}, line {number}: not JSON ({err}); the file is corrupt") from err
    if not any("step" in r for r in records):
        raise ValueError(f"{path}: no record with a 'step'; it is not an sspd metrics.jsonl")
    return [r for r in records if "step" in r]


def plot_training_curves(metrics_path: str | Path, path: str | Path, *,
                         loss_keys: tuple[str, ...] | None = None, lr_keys: tuple[str, ...] = ("lr", "lr_backbone"),
                         title: str | None = None) -> Path:
    """Training loss curves (top, log scale when every value is positive) and learning rates (bottom)
    from a run's ``metrics.jsonl``.

    Args:
        metrics_path: the JSONL file (:class:`sspd.engine.JSONLSink` format).
        path: PNG to write.
        loss_keys: the scalars drawn as losses; default: ``total`` and every ``*loss*`` key present.
        lr_keys: the learning-rate scalars drawn when present.
    """
    records = read_metrics_jsonl(metrics_path)
    keys = sorted({k for r in records for k in r})
    if loss_keys is None:
        loss_keys = tuple(k for k in keys if k == "total" or "loss" in k)
    if not [k for k in loss_keys if k in keys]:
        raise ValueError(f"{metrics_path}: none of the loss keys {list(loss_keys)} is logged; it has {keys}")
    fig = Figure(figsize=(8, 6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    all_positive = True
    for key in (k for k in loss_keys if k in keys):
        steps, values = _series(records, key)
        top.plot(steps, values, lw=1.2, label=key)
        all_positive &= bool(np.all(values[np.isfinite(values)] > 0))
    if all_positive:
        top.set_yscale("log")
    top.set_ylabel("loss")
    top.legend(fontsize=8)
    for key in (k for k in lr_keys if k in keys):
        bottom.plot(*_series(records, key), lw=1.2, label=key)
    bottom.set_xlabel("step")
    bottom.set_ylabel("learning rate")
    if any(k in keys for k in lr_keys):
        bottom.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)


def _series(records: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(n,) steps and (n,) float values of ``key`` over the records that log it."""
    pairs = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
    steps, values = zip(*pairs) if pairs else ((), ())
    return np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64)
