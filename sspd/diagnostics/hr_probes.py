"""The spread of predicted heart rates across clips, and the pile-up statistic.

A network that learned the pulse predicts as many heart rates as the clips have; a collapsed one
predicts one typical rate for every clip, or locks onto a non-cardiac periodic source in the band (a
light flicker, talking, motion), and its predicted HRs pile up at that source's frequency. The pile-up
(the share of clips within ±``tolerance_bpm`` of the densest HR) catches both, with or without labels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sspd.diagnostics._checks import as_tensor
from sspd.signal import check_band, check_fs, estimate_hr

__all__ = ["HRSpread", "hr_spread", "pileup", "normalised_entropy", "find_varying_rows"]


@dataclass(frozen=True)
class HRSpread:
    """Spread of the predicted HRs of N clips (bpm), and of their labels when given.

    Attributes:
        hr_bpm: (N,) predicted HR of each non-flat clip (flat rows have no HR and are left out).
        std_bpm: std of the predicted HRs (unbiased).
        entropy: entropy of their histogram over the band, normalised to [0, 1] (see
            :func:`normalised_entropy`): 0 when all fall in one bin.
        mode_bpm: the densest HR: the median of the largest group of HRs within ±tolerance of one HR.
        pileup: the share of clips in that group, in [1/N, 1].
        label_std_bpm, label_pileup: the same statistics of the labels (None without labels).
        std_ratio: std_bpm / label_std_bpm (None without labels, or when the labels' std is below
            ``min_label_std_bpm``: the ratio of two small numbers says nothing).
        pileup_excess: pileup - label_pileup (None without labels): how much more the predictions pile
            up than the truth does.
    """

    hr_bpm: np.ndarray
    std_bpm: float
    entropy: float
    mode_bpm: float
    pileup: float
    label_std_bpm: float | None = None
    label_pileup: float | None = None
    std_ratio: float | None = None
    pileup_excess: float | None = None


def pileup(hr_bpm: np.ndarray, tolerance_bpm: float = 3.0) -> tuple[float, float]:
    """The densest HR and the share of HRs within ±``tolerance_bpm`` of it.

    Vectorised over pairs: count[i] = #{j : |hr_j - hr_i| <= tolerance}, from an (N, N) comparison.
    The group is the one of the HR with the largest count (the first on ties); the mode is its median.

    Args:
        hr_bpm: (N,) heart rates, N >= 1.

    Returns:
        (mode_bpm, fraction) with fraction in [1/N, 1].
    """
    hr = np.asarray(hr_bpm, dtype=np.float64).reshape(-1)               # (N,)
    if hr.size == 0:
        raise ValueError("pileup needs at least one heart rate")
    close = np.abs(hr[:, None] - hr[None, :]) <= tolerance_bpm          # (N, N)
    best = int(np.argmax(close.sum(axis=1)))
    group = hr[close[best]]
    return float(np.median(group)), group.size / hr.size


def normalised_entropy(hr_bpm: np.ndarray, band_bpm: tuple[float, float], bin_bpm: float) -> float:
    """Entropy of the histogram of HRs over ``band_bpm`` in bins of ``bin_bpm``, normalised to [0, 1].

    HRs outside the band are clipped into its edge bins. The normaliser is log(min(N, n_bins)), the
    largest entropy N values can reach: 1 when the HRs occupy as many bins as they can, evenly.
    """
    hr = np.asarray(hr_bpm, dtype=np.float64).reshape(-1)               # (N,)
    n_bins = max(1, math.ceil((band_bpm[1] - band_bpm[0]) / bin_bpm))
    cap = min(hr.size, n_bins)
    if cap < 2:
        return 0.0
    edges = band_bpm[0] + bin_bpm * np.arange(n_bins + 1)                 # (n_bins + 1,)
    counts, _ = np.histogram(np.clip(hr, edges[0], edges[-1]), bins=edges)
    p = counts[counts > 0] / hr.size
    return float(-(p * np.log(p)).sum() / math.log(cap))


def find_varying_rows(rows: np.ndarray) -> np.ndarray:
    """(N,) boolean: the rows of ``rows`` (N, T) that vary (a flat row has no heart rate)."""
    spread = np.ptp(rows, axis=1)                                        # (N,)
    return spread > 1e-12 * np.abs(rows).max(axis=1)


def _label_stats(labels: np.ndarray, spread: dict, tolerance_bpm: float,
                 min_label_std_bpm: float) -> dict:
    """The label fields of :class:`HRSpread`, given the prediction fields in ``spread``."""
    label_std = float(np.std(labels, ddof=1))
    label_pileup = pileup(labels, tolerance_bpm)[1]
    ratio = spread["std_bpm"] / label_std if label_std >= min_label_std_bpm else None
    return {"label_std_bpm": label_std, "label_pileup": label_pileup, "std_ratio": ratio,
            "pileup_excess": spread["pileup"] - label_pileup}


def hr_spread(pred: Any, fs: float, band: Any, labels_hr: Any = None, *, tolerance_bpm: float = 3.0,
              bin_bpm: float = 5.0, min_label_std_bpm: float = 3.0) -> HRSpread:
    """Spread of the heart rates predicted for N clips, compared with the labels' spread when given.

    HRs come from :func:`sspd.signal.estimate_hr` (spectral peak, ``band``); flat rows have none and
    are left out, with their labels.

    Healthy range: as spread as the labels: std_ratio near 1 and pileup_excess near 0. Without labels,
    subjects' resting HRs spread with a std of about 8-12 bpm, which puts about 0.3 of the clips within
    ±3 bpm of the mode; predictions that all sit at one frequency give a pile-up of 1.

    Args:
        pred: (N, T) predicted signals of N clips (the rolling buffer's predictions).
        fs: sample rate in Hz.
        band: (low, high) Hz for the HR search and the histogram.
        labels_hr: (N,) reference HR (bpm) of the same clips, or None.
        tolerance_bpm: half-width of the pile-up window.
        bin_bpm: histogram bin width for the entropy.
        min_label_std_bpm: below this label std the std ratio is not computed (None).

    Returns:
        An :class:`HRSpread`. Raises ValueError when fewer than 2 rows vary.
    """
    rows = as_tensor(pred, "pred", 2, "(N, T)").numpy()                  # (N, T)
    fs = check_fs(fs)
    band = check_band(band, fs)
    if not (tolerance_bpm > 0 and bin_bpm > 0):
        raise ValueError(f"tolerance_bpm and bin_bpm must be > 0, got {tolerance_bpm}, {bin_bpm}")
    keep = find_varying_rows(rows)
    if keep.sum() < 2:
        raise ValueError(f"hr_spread needs at least 2 non-constant prediction rows, got {int(keep.sum())}"
                         f" of {rows.shape[0]}: a flat output has no heart rate (see temporal_std)")
    hr = np.asarray(estimate_hr(rows[keep], fs, method="fft", band=band))  # (N',)
    mode, share = pileup(hr, tolerance_bpm)
    fields = {"hr_bpm": hr, "std_bpm": float(np.std(hr, ddof=1)), "mode_bpm": mode, "pileup": share,
              "entropy": normalised_entropy(hr, (60.0 * band[0], 60.0 * band[1]), bin_bpm)}
    if labels_hr is not None:
        labels = as_tensor(labels_hr, "labels_hr", 1, "(N,)").numpy()    # (N,)
        if labels.shape[0] != rows.shape[0]:
            raise ValueError(f"labels_hr has {labels.shape[0]} values for {rows.shape[0]} prediction "
                             "rows: pass one reference HR (bpm) per clip")
        fields.update(_label_stats(labels[keep], fields, tolerance_bpm, min_label_std_bpm))
    return HRSpread(**fields)
