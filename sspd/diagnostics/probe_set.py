"""All collapse probes at once, as named scalars for the engine's logging dict.

:func:`compute_probes` takes whatever a training step has (pooled features, online and target
predictions, a self-similarity map and wave, labels, the model) and returns the probes it can compute,
under the stable names of :data:`PROBE_DESCRIPTIONS`. Per-clip probes (spread over clips, effective
rank, cross-clip correlation, HR spread) read a :class:`~sspd.diagnostics.buffer.ProbeBuffer` when one
is passed, else the batch, and are left out while fewer than ``min_clips`` clips are available.
Probes whose value is undefined (NaN) are left out too: an entry present is always a finite float.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor

from sspd.diagnostics._checks import as_tensor
from sspd.diagnostics.buffer import ProbeBuffer
from sspd.diagnostics.feature_probes import effective_rank, feature_std
from sspd.diagnostics.hr_probes import find_varying_rows, hr_spread
from sspd.diagnostics.sensitivity import input_sensitivity
from sspd.diagnostics.signal_probes import (agreement, cross_clip_correlation, harmonic_ratio,
                                            in_band_fraction, temporal_std)
from sspd.diagnostics.ssm_probes import toeplitz_score
from sspd.signal import DEFAULT_BAND, check_band, check_fs

__all__ = ["PROBE_PREFIX", "PROBE_DESCRIPTIONS", "compute_probes"]

PROBE_PREFIX = "collapse/"

#: Every probe name compute_probes may return, with what it measures (healthy value in brackets).
PROBE_DESCRIPTIONS: dict[str, str] = {
    "collapse/feature_std_time": "std over time of each clip's unit feature vectors, x sqrt(D) (~1)",
    "collapse/feature_std_clips": "std over clips of unit time-mean feature vectors, x sqrt(D) (~1)",
    "collapse/effective_rank": "RankMe of the clips' time-mean features (up to min(N, D); 1 = one direction)",
    "collapse/effective_rank_frac": "effective_rank / min(N, D) (info)",
    "collapse/cross_clip_corr": "mean |Pearson r| between different clips' predictions (< 2/pi)",
    "collapse/hr_std_bpm": "std of the predicted HRs over clips, bpm (info)",
    "collapse/hr_entropy": "normalised entropy of the predicted-HR histogram (info)",
    "collapse/hr_mode_bpm": "the densest predicted HR, bpm (info: where a pile-up sits)",
    "collapse/hr_pileup": "share of clips within +-3 bpm of the densest predicted HR (~0.3)",
    "collapse/hr_label_std_bpm": "std of the label HRs, bpm (info)",
    "collapse/hr_label_pileup": "hr_pileup of the label HRs (info)",
    "collapse/hr_pileup_excess": "hr_pileup minus the labels' pile-up (~0)",
    "collapse/hr_std_ratio": "std of predicted HRs / std of label HRs (~1)",
    "collapse/pred_in_band": "share of the predictions' power in the band (~1)",
    "collapse/ssw_in_band": "share of the self-similarity waves' power in the band (~1)",
    "collapse/pred_temporal_std": "std over time / RMS of each prediction (~1; 0 = flat)",
    "collapse/harmonic_ratio": "power at 2 x HR / power at HR of the predictions (< 0.3)",
    "collapse/shuffle_sensitivity": "output change (1 - r) when frames are shuffled in time (~1)",
    "collapse/swap_sensitivity": "output change (1 - r) when clips are swapped between samples (~1)",
    "collapse/agreement": "mean Pearson r of online and target predictions (info)",
    "collapse/ssm_toeplitz": "share of the SSMs' off-diagonal variance explained by lag means (info)",
}


def _name(short: str) -> str:
    return PROBE_PREFIX + short


def _batch_probes(pooled: Any, predictions: Any, target_predictions: Any, ssm: Any, ssw: Any,
                  fs: float, band: tuple[float, float]) -> dict[str, float]:
    """Probes of the current batch alone: features over time, prediction shape, SSM/SSW structure."""
    out: dict[str, float] = {}
    if pooled is not None:
        out[_name("feature_std_time")] = feature_std(pooled, over="time", relative=True)
    if predictions is not None:
        out[_name("pred_temporal_std")] = temporal_std(predictions)
        out[_name("pred_in_band")] = in_band_fraction(predictions, fs, band)
        out[_name("harmonic_ratio")] = harmonic_ratio(predictions, fs, band)
    if target_predictions is not None:
        if predictions is None:
            raise ValueError("compute_probes: target_predictions given without predictions: pass the "
                             "online predictions of the same clips")
        out[_name("agreement")] = agreement(predictions, target_predictions)
    if ssw is not None:
        out[_name("ssw_in_band")] = in_band_fraction(ssw, fs, band)
    if ssm is not None:
        out[_name("ssm_toeplitz")] = toeplitz_score(ssm, ignore_main_diagonal=True)
    return out


def _clip_feature_probes(features: Tensor | None, min_clips: int) -> dict[str, float]:
    """Spread and effective rank of (N, D) clip features; empty while N < min_clips."""
    if features is None or features.shape[0] < min_clips:
        return {}
    rank = effective_rank(features)
    return {_name("feature_std_clips"): feature_std(features[:, :, None], over="clips", relative=True),
            _name("effective_rank"): rank,
            _name("effective_rank_frac"): rank / min(features.shape)}


def _clip_signal_probes(preds: Tensor | None, labels: Tensor | None, fs: float,
                        band: tuple[float, float], min_clips: int) -> dict[str, float]:
    """Cross-clip correlation and HR spread of (N, T) predictions; empty while N < min_clips."""
    if preds is None or preds.shape[0] < min_clips:
        return {}
    out = {_name("cross_clip_corr"): cross_clip_correlation(preds)}
    rows = as_tensor(preds, "predictions", 2, "(N, T)").numpy()           # (N, T)
    if find_varying_rows(rows).sum() < 2:
        return out
    spread = hr_spread(rows, fs, band, labels)
    optional = {"hr_label_std_bpm": spread.label_std_bpm, "hr_label_pileup": spread.label_pileup,
                "hr_pileup_excess": spread.pileup_excess, "hr_std_ratio": spread.std_ratio}
    out.update({_name("hr_std_bpm"): spread.std_bpm, _name("hr_entropy"): spread.entropy,
                _name("hr_mode_bpm"): spread.mode_bpm, _name("hr_pileup"): spread.pileup})
    out.update({_name(k): v for k, v in optional.items() if v is not None})
    return out


def _clip_sources(buffer: ProbeBuffer | None, pooled: Any, predictions: Any,
                  labels_hr: Any) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """(N, D) clip features, (N, T) predictions and (N,) labels: the buffer's, else the batch's."""
    if buffer is not None:
        return buffer.features, buffer.predictions, buffer.labels_hr
    features = None if pooled is None else as_tensor(pooled, "pooled", 3, "(B, D, T)").mean(dim=2)
    preds = None if predictions is None else as_tensor(predictions, "predictions", 2, "(B, T)")
    labels = None if labels_hr is None else as_tensor(labels_hr, "labels_hr", 1, "(B,)")
    if labels is not None and (preds is None or labels.shape[0] != preds.shape[0]):
        raise ValueError("compute_probes: labels_hr needs predictions of the same clips, one label each")
    return features, preds, labels


def compute_probes(*, fs: float, band: tuple[float, float] = DEFAULT_BAND, pooled: Any = None,
                   predictions: Any = None, target_predictions: Any = None, ssm: Any = None,
                   ssw: Any = None, labels_hr: Any = None, buffer: ProbeBuffer | None = None,
                   model_fn: Callable[[Tensor], Tensor] | None = None, clips: Tensor | None = None,
                   generator: torch.Generator | None = None, min_clips: int = 16) -> dict[str, float]:
    """Compute every probe the given tensors allow, as ``{"collapse/<probe>": value}``.

    Args:
        fs: frame rate of the clips (and of the SSW's lag axis) in Hz.
        band: (low, high) Hz for the in-band fractions, the HR search and the harmonic ratio.
        pooled: (B, D, T) pooled backbone features of the batch.
        predictions: (B, T) online predictions of the batch.
        target_predictions: (B, T) target predictions of the same clips.
        ssm: (B, T', T') self-similarity maps of one TS level; ssw: (B, T') its waves.
        labels_hr: (B,) reference HRs (bpm) of the batch; used only without a buffer (the buffer
            holds its own labels: pass them to :meth:`ProbeBuffer.add`).
        buffer: rolling buffer of recent clips (include the current batch in it first).
        model_fn, clips: a callable clips -> (B, T) and the batch's clips (B, C, T, H, W), for the
            input-sensitivity probes (three extra forward passes); generator seeds the shuffle.
        min_clips: the fewest clips the per-clip probes are computed from.

    Returns:
        dict of probe name -> finite float; the names are the keys of :data:`PROBE_DESCRIPTIONS`.
    """
    if int(min_clips) != min_clips or min_clips < 2:
        raise ValueError(f"compute_probes: min_clips must be an integer >= 2, got {min_clips!r}")
    if (model_fn is None) != (clips is None):
        raise ValueError("compute_probes: pass model_fn and clips together for the sensitivity probes")
    fs = check_fs(fs)
    band = check_band(band, fs)
    out = _batch_probes(pooled, predictions, target_predictions, ssm, ssw, fs, band)
    features, preds, labels = _clip_sources(buffer, pooled, predictions, labels_hr)
    out.update(_clip_feature_probes(features, min_clips))
    out.update(_clip_signal_probes(preds, labels, fs, band, min_clips))
    if model_fn is not None:
        sensitivity = input_sensitivity(model_fn, clips, generator)
        out.update({_name(f"{kind}_sensitivity"): v for kind, v in sensitivity.items()})
    return {name: float(v) for name, v in out.items() if math.isfinite(v)}
