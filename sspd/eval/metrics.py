"""Heart-rate metrics and the windowed evaluation of predicted pulse signals against ground-truth PPG.

:func:`hr_metrics` scores HR pairs (MAE, RMSE, MAPE, Pearson r, each with a standard error),
:func:`bland_altman` gives the bias and 95 % limits of agreement, and :func:`evaluate_signals` turns
predicted and reference signals into per-window HR pairs and a summary whose ``protocol`` entry records
how every number was made (estimator, band, window, stride, preset, split).

Standard errors (n pairs, errors e = pred - true, sample standard deviations with ddof=1):
    MAE:  sd(|e|) / √n;  MAPE: 100 · sd(|e| / true) / √n (both are means of per-pair terms);
    RMSE: delta method, SE(MSE) / (2 · RMSE) with SE(MSE) = sd(e²) / √n;
    Pearson r: √((1 - r²) / (n - 2)).
They are NaN when n is too small (n < 2; n < 3 for r), with the reason in ``HRMetrics.notes``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.signal import find_peaks

from sspd.signal import (BANDPASS_ORDER, DEFAULT_BAND, as_signal_rows, bandpass, check_band, check_fs, choose_nfft,
                         detrend, estimate_hr, find_spectral_peak_hz, next_pow2, periodogram, prepare_pulse, snr_db)

__all__ = [
    "PAPER_BAND",
    "PRESETS",
    "TOOLBOX_BAND",
    "TOOLBOX_DETREND_LAMBDA",
    "BlandAltman",
    "HRMetrics",
    "SignalEvaluation",
    "WindowResult",
    "bland_altman",
    "evaluate_signals",
    "hr_metrics",
    "summarise_windows",
]

PAPER_BAND = DEFAULT_BAND  # Hz, 45-150 bpm: the SSPD paper's band and sspd's default
TOOLBOX_BAND = (0.6, 3.3)  # Hz, 36-198 bpm: the rPPG-Toolbox's default band
TOOLBOX_DETREND_LAMBDA = 100.0  # the rPPG-Toolbox's smoothness-priors λ (λ² convention)
PRESETS = (None, "rppg-toolbox")
_Z95 = 1.959963984540054  # two-sided 95 % normal quantile


@dataclass(frozen=True)
class HRMetrics:
    """HR agreement over ``n`` pairs; bpm for MAE and RMSE, percent for MAPE. ``notes`` says why any
    value is NaN."""

    n: int
    mae: float
    mae_se: float
    rmse: float
    rmse_se: float
    mape: float
    mape_se: float
    pearson_r: float
    pearson_r_se: float
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class BlandAltman:
    """Bland-Altman agreement: ``bias`` = mean(pred - true), limits = bias ± 1.96 sd (bpm)."""

    n: int
    bias: float
    sd: float
    lower_limit: float
    upper_limit: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WindowResult:
    """One scored window: ``signal`` is the row of the (B, T) input, ``index`` the window within it."""

    signal: int
    index: int
    start_s: float
    end_s: float
    hr_pred: float
    hr_true: float
    snr_db: float


@dataclass(frozen=True)
class SignalEvaluation:
    """Per-window ``rows`` and a JSON-ready ``summary`` (metrics, Bland-Altman, SNR, protocol)."""

    rows: list[WindowResult]
    summary: dict[str, Any]


def _hr_pairs(pred_bpm: Any, true_bpm: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated 1-D float64 (n,) arrays of predicted and reference HR."""
    pred = np.asarray(pred_bpm, dtype=np.float64).reshape(-1)
    true = np.asarray(true_bpm, dtype=np.float64).reshape(-1)
    if pred.shape != true.shape:
        raise ValueError(f"pred_bpm has {pred.size} values and true_bpm {true.size}: pass one "
                         "predicted HR per reference HR")
    if pred.size == 0:
        raise ValueError("no HR pairs to score: pred_bpm and true_bpm are empty")
    if not (np.isfinite(pred).all() and np.isfinite(true).all()):
        raise ValueError("pred_bpm or true_bpm contains NaN/inf: drop the windows that failed")
    if np.any(true <= 0):
        raise ValueError(f"true_bpm must be > 0 (MAPE divides by it), got min {true.min()}")
    return pred, true


def _mean_and_se(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error sd(ddof=1)/√n of (n,) values; SE is NaN for n < 2."""
    mean = float(np.mean(values))
    if values.size < 2:
        return mean, math.nan
    return mean, float(np.std(values, ddof=1) / math.sqrt(values.size))


def _pearson(pred: np.ndarray, true: np.ndarray) -> tuple[float, float, str | None]:
    """Pearson r, its SE √((1-r²)/(n-2)) and the reason when either is NaN."""
    n = pred.size
    if n < 2:
        return math.nan, math.nan, f"pearson_r is NaN: needs at least 2 pairs, got {n}"
    pc, tc = pred - pred.mean(), true - true.mean()
    norm = math.sqrt(float(pc @ pc) * float(tc @ tc))
    if norm == 0:
        return math.nan, math.nan, "pearson_r is NaN: the predicted or the reference HR is constant"
    r = max(-1.0, min(1.0, float(pc @ tc) / norm))
    if n < 3:
        return r, math.nan, f"pearson_r_se is NaN: needs at least 3 pairs, got {n}"
    return r, math.sqrt((1.0 - r * r) / (n - 2)), None


def hr_metrics(pred_bpm: Any, true_bpm: Any) -> HRMetrics:
    """MAE, RMSE, MAPE and Pearson r of predicted against reference HR, each with a standard error.

    Args:
        pred_bpm, true_bpm: (n,) HR in bpm (any array-like of equal size; true_bpm > 0).

    Returns:
        :class:`HRMetrics`. With n = 1 every SE and r are NaN; with n = 2 the SE of r is NaN; a
        constant pred or true makes r NaN. The reasons are listed in ``notes``.
    """
    pred, true = _hr_pairs(pred_bpm, true_bpm)
    err = pred - true  # (n,)
    mae, mae_se = _mean_and_se(np.abs(err))
    mape, mape_se = _mean_and_se(100.0 * np.abs(err) / true)
    mse, mse_se = _mean_and_se(err ** 2)
    rmse = math.sqrt(mse)
    rmse_se = mse_se / (2.0 * rmse) if rmse > 0 else (0.0 if pred.size > 1 else math.nan)
    r, r_se, r_note = _pearson(pred, true)
    notes = [] if pred.size > 1 else ["standard errors are NaN: needs at least 2 pairs, got 1"]
    notes += [r_note] if r_note else []
    return HRMetrics(n=int(pred.size), mae=mae, mae_se=mae_se, rmse=rmse, rmse_se=rmse_se,
                     mape=mape, mape_se=mape_se, pearson_r=r, pearson_r_se=r_se, notes=tuple(notes))


def bland_altman(pred_bpm: Any, true_bpm: Any) -> BlandAltman:
    """Bias (mean of pred - true) and 95 % limits of agreement, bias ± 1.96 sd (sd with ddof=1;
    NaN sd and limits for a single pair)."""
    pred, true = _hr_pairs(pred_bpm, true_bpm)
    diff = pred - true  # (n,)
    bias = float(diff.mean())
    sd = float(np.std(diff, ddof=1)) if diff.size > 1 else math.nan
    return BlandAltman(n=int(diff.size), bias=bias, sd=sd, lower_limit=bias - _Z95 * sd,
                       upper_limit=bias + _Z95 * sd)


def _window_layout(n_samples: int, fs: float, window_s: float | None,
                   stride_s: float | None) -> tuple[int, np.ndarray]:
    """Window length L (samples) and the (K,) start samples of full windows of a T-sample signal."""
    if window_s is None:
        if stride_s is not None:
            raise ValueError("stride_s needs window_s: pass window_s too, or neither for whole signals")
        return n_samples, np.zeros(1, dtype=int)
    for name, value in (("window_s", window_s), ("stride_s", stride_s)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    length = int(round(window_s * fs))
    stride = length if stride_s is None else int(round(stride_s * fs))
    if length < 1 or stride < 1:
        raise ValueError(f"window_s={window_s} and stride_s={stride_s} must each be at least one "
                         f"sample (1/fs = {1 / fs:.3g} s)")
    if length > n_samples:
        raise ValueError(f"window_s={window_s} s is {length} samples, longer than the signal "
                         f"({n_samples} samples = {n_samples / fs:.3g} s): use a shorter window or "
                         "window_s=None to score whole signals")
    return length, np.arange(0, n_samples - length + 1, stride)


def _cut_windows(rows: np.ndarray, length: int, starts: np.ndarray) -> np.ndarray:
    """(B * K, L) windows of (B, T) rows, signal-major."""
    view = np.lib.stride_tricks.sliding_window_view(rows, length, axis=1)  # (B, T-L+1, L)
    return view[:, starts].reshape(-1, length)  # (B, K, L) -> (B * K, L)


def _prepare_toolbox(windows: np.ndarray, fs: float, band: tuple[float, float],
                     is_diff: bool) -> np.ndarray:
    """The rPPG-Toolbox's pre-processing of (N, L) windows: cumsum for difference signals, detrend
    λ=100, first-order Butterworth band-pass over ``band`` applied forward and backward."""
    x = np.cumsum(windows, axis=1) if is_diff else windows  # (N, L)
    x = detrend(x, TOOLBOX_DETREND_LAMBDA)
    return np.atleast_2d(bandpass(x, fs, band[0], band[1], order=1))


def _toolbox_hr(x: np.ndarray, fs: float, band: tuple[float, float], method: str) -> np.ndarray:
    """(N,) bpm as the rPPG-Toolbox computes it: the highest in-band bin of the raw periodogram
    (boxcar, no mean removal, nfft = next power of two of L, no interpolation), or 60 / the mean
    interval of every local maximum."""
    if method == "fft":
        freqs, psd = periodogram(x, fs, nfft=next_pow2(x.shape[1]), window="boxcar",
                                    remove_mean=False)  # (F,), (N, F)
        return 60.0 * find_spectral_peak_hz(freqs, psd, *band, interpolate=False)
    out = np.empty(x.shape[0])
    for i, row in enumerate(x):
        peaks, _ = find_peaks(row)
        if peaks.size < 2:
            raise ValueError(f"window {i}: found {peaks.size} peak(s), need 2: use method='fft'")
        out[i] = 60.0 / (np.mean(np.diff(peaks)) / fs)
    return out


def _check_reference_varies(true_w: np.ndarray) -> None:
    """Raise if a (N, L) reference window is constant: a flat label has no pulse, and scoring it would
    report the band's lower edge as the true heart rate."""
    spread = np.ptp(true_w, axis=1)  # (N,)
    flat = np.flatnonzero(spread <= 1e-12 * np.max(np.abs(true_w), axis=1))
    if flat.size:
        raise ValueError(f"reference window(s) {flat.tolist()[:10]} are constant: the label has no pulse there "
                         "(a flat or missing PPG); fix or drop that label file")


def _score_windows(pred_w: np.ndarray, true_w: np.ndarray, fs: float, method: str,
                   band: tuple[float, float], diff_labels: bool, integrated: bool,
                   preset: str | None) -> tuple[np.ndarray, ...]:
    """(N,) hr_pred, hr_true and SNR (dB, of the prediction at the reference HR) of (N, L) windows."""
    _check_reference_varies(true_w)
    if preset is None:
        pred_x = prepare_pulse(pred_w, fs, band, diff_labels)  # (N, L)
        true_x = prepare_pulse(true_w, fs, band, False)  # (N, L)
        hr_pred = np.atleast_1d(estimate_hr(pred_x, fs, method, band, integrated=diff_labels or integrated))
        hr_true = np.atleast_1d(estimate_hr(true_x, fs, method, band))
        return hr_pred, hr_true, np.atleast_1d(snr_db(pred_x, fs, hr_true, band))
    pred_x = _prepare_toolbox(pred_w, fs, band, diff_labels)  # (N, L)
    true_x = _prepare_toolbox(true_w, fs, band, False)  # (N, L)
    hr_true = _toolbox_hr(true_x, fs, band, method)
    snr = snr_db(pred_x, fs, hr_true, band, nfft=next_pow2(pred_x.shape[1]), window="boxcar",
                 remove_mean=False)
    return _toolbox_hr(pred_x, fs, band, method), hr_true, np.atleast_1d(snr)


def _describe_estimator(method: str, preset: str | None, length: int, fs: float) -> str:
    """One line saying how HR was estimated, for the summary's protocol entry."""
    if preset == "rppg-toolbox":
        prep = (f"detrend λ={TOOLBOX_DETREND_LAMBDA:g}, 1st-order Butterworth band-pass (zero phase)")
        if method == "fft":
            return f"{prep}; highest in-band bin of the boxcar periodogram, nfft={next_pow2(length)}"
        return f"{prep}; 60 / mean interval of all local maxima"
    prep = (f"smoothness-priors detrend (trend half-gain at band low / 2), order-{BANDPASS_ORDER} "
            "zero-phase Butterworth band-pass")
    if method == "fft":
        return (f"{prep}; Hann periodogram peak, nfft={choose_nfft(length, fs)}, "
                "log-parabolic interpolation")
    if method == "welch":
        return f"{prep}; Welch (8 s Hann segments, 50 % overlap) peak, log-parabolic interpolation"
    return f"{prep}; 60 / mean inter-beat interval of peaks after order-2 zero-phase Butterworth band-pass"


def _resolve_protocol(method: str, band: tuple[float, float] | None, preset: str | None,
                      fs: float) -> tuple[float, float]:
    """Validate method and preset; the band to use (the preset's default when ``band`` is None)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    allowed = ("fft", "peaks") if preset else ("fft", "welch", "peaks")
    if method not in allowed:
        raise ValueError(f"method must be one of {allowed} with preset={preset!r}, got {method!r}")
    if band is None:
        band = TOOLBOX_BAND if preset else PAPER_BAND
    return check_band(band, fs)


def _snr_mean_and_se(snr: np.ndarray) -> tuple[float, float]:
    """Mean SNR (dB) and its SE over (N,) windows; an infinite SNR (no noise or no signal power in a
    window) makes the mean ±inf (NaN if both occur) and the SE NaN."""
    if np.isfinite(snr).all():
        return _mean_and_se(snr)
    has_pos, has_neg = bool(np.any(snr == np.inf)), bool(np.any(snr == -np.inf))
    return (math.nan if has_pos and has_neg else (math.inf if has_pos else -math.inf)), math.nan


def summarise_windows(rows: list[WindowResult], protocol: dict[str, Any]) -> dict[str, Any]:
    """The summary of :func:`evaluate_signals` from window rows; also pools the rows of several
    evaluations made with one protocol (e.g. videos of different lengths) into one summary."""
    hr_pred = np.array([r.hr_pred for r in rows])  # (N,)
    hr_true = np.array([r.hr_true for r in rows])  # (N,)
    snr_mean, snr_se = _snr_mean_and_se(np.array([r.snr_db for r in rows]))
    return {"n_windows": len(rows), "metrics": hr_metrics(hr_pred, hr_true).as_dict(),
            "bland_altman": bland_altman(hr_pred, hr_true).as_dict(), "snr_db": snr_mean,
            "snr_db_se": snr_se, "protocol": protocol}


def evaluate_signals(pred: Any, true: Any, fs: float, *, window_s: float | None = None,
                     stride_s: float | None = None, method: str = "fft",
                     band: tuple[float, float] | None = None, diff_labels: bool = False,
                     integrated: bool = False, preset: str | None = None,
                     split: str | None = None) -> SignalEvaluation:
    """Score predicted pulse signals against ground-truth PPG, window by window.

    Each window of ``pred`` and of ``true`` goes through the same pre-processing and HR estimator
    (so the reference HR is measured exactly like the prediction's); the SNR is that of the processed
    prediction at the reference HR (:func:`sspd.signal.snr_db`). Only full windows are scored.

    Pre-processing and estimators:
        ``preset=None`` (sspd): integrate if ``diff_labels``, smoothness-priors detrend, an order-2
        zero-phase Butterworth band-pass over ``band``, then
        :func:`sspd.signal.estimate_hr` with ``method`` ("fft", "welch" or "peaks") over ``band``
        (default 0.75-2.5 Hz) and the Hann-window SNR. A prediction integrated from a difference
        (``diff_labels`` or ``integrated``) is read with the estimator's octave check
        (``estimate_hr(..., integrated=True)``; "peaks" has none).
        ``preset="rppg-toolbox"``: the rPPG-Toolbox post-processing, step for step: cumsum if
        ``diff_labels``, detrend λ=100, first-order Butterworth band-pass (zero phase), then the
        highest in-band bin of the boxcar periodogram with nfft = next power of two ("fft") or the
        mean interval of all local maxima ("peaks"), and its SNR (boxcar, ±0.1 Hz around HR and 2×HR).
        ``band`` defaults to the toolbox's 0.6-3.3 Hz; pass :data:`PAPER_BAND` for the paper's.
        (The toolbox also scores a trailing partial window; this function does not.)

    Args:
        pred: (T,) or (B, T) predicted signals at ``fs``; with ``diff_labels`` a first difference of
            the pulse (it is integrated by a cumulative sum first); with ``integrated`` the cumulative sum
            of one (a ``diff`` network's output integrated by the caller).
        true: the ground-truth PPG waveform, same shape, never differenced.
        fs: sample rate in Hz.
        window_s: window length in seconds; None scores each whole signal as one window.
        stride_s: step between windows in seconds; None means window_s (no overlap).
        split: a label (e.g. "test") recorded in the protocol so reported numbers carry it.

    Returns:
        :class:`SignalEvaluation`: a :class:`WindowResult` per window, and a summary with
        ``n_windows``, ``metrics`` (:func:`hr_metrics`), ``bland_altman``, ``snr_db`` (mean),
        ``snr_db_se`` and ``protocol`` (preset, estimator, method, band_hz, window_s, stride_s,
        window_samples, fs, diff_labels, integrated, split).
    """
    fs = check_fs(fs)
    pred_rows, _ = as_signal_rows(pred, "pred")  # (B, T)
    true_rows, _ = as_signal_rows(true, "true")  # (B, T)
    if pred_rows.shape != true_rows.shape:
        raise ValueError(f"pred {np.shape(pred)} and true {np.shape(true)} differ in shape: pass the "
                         "reference PPG resampled to the prediction's frames")
    band = _resolve_protocol(method, band, preset, fs)
    length, starts = _window_layout(pred_rows.shape[1], fs, window_s, stride_s)
    pred_w, true_w = _cut_windows(pred_rows, length, starts), _cut_windows(true_rows, length, starts)
    try:
        hr_pred, hr_true, snr = _score_windows(pred_w, true_w, fs, method, band, diff_labels, integrated, preset)
    except ValueError as err:
        raise ValueError(f"evaluate_signals ({pred_w.shape[0]} windows of {length} samples, "
                         f"numbered signal by signal): {err}") from err
    rows = [WindowResult(signal=i // starts.size, index=i % starts.size,
                         start_s=float(starts[i % starts.size] / fs),
                         end_s=float((starts[i % starts.size] + length) / fs),
                         hr_pred=float(hr_pred[i]), hr_true=float(hr_true[i]), snr_db=float(snr[i]))
            for i in range(pred_w.shape[0])]
    protocol = {"preset": preset or "sspd", "estimator": _describe_estimator(method, preset, length, fs),
                "method": method, "band_hz": list(band), "window_s": window_s,
                "stride_s": stride_s if stride_s is not None else window_s, "window_samples": length,
                "fs": fs, "diff_labels": diff_labels, "integrated": integrated, "split": split}
    return SignalEvaluation(rows=rows, summary=summarise_windows(rows, protocol))
