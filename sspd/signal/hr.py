"""Heart-rate estimators for (T,) / (B, T) pulse signals: spectral peak (FFT or Welch) or peak intervals.

Every estimate depends on the estimator, the band and the window length (the signal's duration): report
all three next to any number these functions produce.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.signal import find_peaks, welch

from sspd.signal.checks import (DEFAULT_BAND, as_signal_rows, check_band, check_covers_band, check_fs,
                                 restore_rows)
from sspd.signal.filters import bandpass
from sspd.signal.spectra import band_mask, choose_nfft, periodogram

__all__ = ["HR_METHODS", "DEFAULT_BAND", "estimate_hr", "find_spectral_peak_hz"]

HR_METHODS = ("fft", "welch", "peaks")
_MIN_RELATIVE_PROMINENCE = 0.5  # peaks less prominent than this x the median are not beats
# a spectral peak less than half a resolution cell (0.5 / window length Hz) outside the band reads as the band's edge
EDGE_TOLERANCE_CYCLES = 0.5
# an integrated signal's peak stands when its difference peaks within one resolution cell of it or of its double
OCTAVE_TOLERANCE_CYCLES = 1.0
_MAX_SPECTRUM_VALUES = 4 << 20  # bound on the B * F spectrum values the FFT estimator holds at once


def _check_orientation(rows: np.ndarray, fs: float, low: float) -> None:
    """Raise, saying to transpose, when (B, T) rows are too short but the columns would be long enough: a
    (T, B) array of B signals in columns."""
    needed = math.ceil(fs / low - 1e-9)
    if rows.shape[1] < needed <= rows.shape[0]:
        raise ValueError(f"x has shape {rows.shape}: {rows.shape[1]} samples per row, but rows are signals "
                         f"(B, T); these look like {rows.shape[1]} signals of {rows.shape[0]} samples in columns: "
                         "pass x.T")


def _check_not_constant(rows: np.ndarray) -> None:
    """Raise if a row has no variation: its heart rate is undefined (a flat or missing signal)."""
    spread = np.ptp(rows, axis=1)  # (B,)
    scale = np.max(np.abs(rows), axis=1)  # (B,)
    flat = np.flatnonzero(spread <= 1e-12 * scale)
    if flat.size:
        raise ValueError(f"signal row(s) {flat.tolist()[:10]} are constant: the heart rate of a flat "
                         "signal is undefined (check the sensor or the model output for collapse)")


def _refine_log_parabola(power: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """Sub-bin peak offsets (in bins, within [-0.5, 0.5]) from a parabola through the log power of
    each row's peak bin and its two neighbours; 0 where the peak is the first or last bin.

    A Gaussian-shaped peak is a parabola in log power, so this is nearly unbiased for the Hann window.
    """
    rows = np.arange(power.shape[0])
    inner = (peak > 0) & (peak < power.shape[1] - 1)
    k = np.clip(peak, 1, power.shape[1] - 2)
    tiny = np.finfo(np.float64).tiny
    left, mid, right = (np.log(power[rows, k + s] + tiny) for s in (-1, 0, 1))  # (B,) each
    curvature = left - 2.0 * mid + right
    safe = inner & (curvature < 0)
    offset = np.zeros_like(mid)
    offset[safe] = 0.5 * (left[safe] - right[safe]) / curvature[safe]
    return np.clip(offset, -0.5, 0.5)


def find_spectral_peak_hz(freqs: np.ndarray, power: np.ndarray, low: float, high: float,
                          interpolate: bool = True, peaks_only: bool = False,
                          edge_tolerance_hz: float = 0.0) -> np.ndarray:
    """Frequency (Hz) of the highest in-band bin of each row of ``power`` (B, F).

    With ``peaks_only`` only bins that are local maxima of the whole spectrum (no higher neighbour)
    count, when a row has one in the band: a band edge on the flank of content outside the band (a slow
    sway leaking through the window's main lobe) is then never read as the heart rate. An edge bin still
    counts when the spectrum keeps rising beyond it to a peak no more than ``edge_tolerance_hz`` outside
    the band: a pulse just past the edge (the 181 bpm bins of a 180 bpm band) reads as the edge, not as
    whatever ripple the band holds. With ``interpolate`` the bin is refined by
    :func:`_refine_log_parabola`, so the estimate is not quantised to the bin width (it may then lie up to
    half a bin outside the band).
    Returns (B,) Hz.
    """
    mask = band_mask(freqs, low, high)  # (F,)
    first = int(np.argmax(mask))
    last = len(mask) - 1 - int(np.argmax(mask[::-1]))
    in_band = power[:, mask]  # (B, F')
    if peaks_only:
        left = np.concatenate([power[:, :1], power[:, :-1]], axis=1)[:, mask]   # each bin's neighbours
        right = np.concatenate([power[:, 1:], power[:, -1:]], axis=1)[:, mask]
        is_peak = (in_band >= left) & (in_band >= right)  # (B, F')
        if edge_tolerance_hz > 0:  # an edge no inner neighbour exceeds, on the flank of a peak just outside
            is_peak[:, 0] |= (in_band[:, 0] >= right[:, 0]) & _outward_peak_within(power, freqs, first, -1,
                                                                                   edge_tolerance_hz)
            is_peak[:, -1] |= (in_band[:, -1] >= left[:, -1]) & _outward_peak_within(power, freqs, last, +1,
                                                                                     edge_tolerance_hz)
        has_peak = is_peak.any(axis=1, keepdims=True)     # (B, 1): else the plain in-band maximum
        in_band = np.where(is_peak | ~has_peak, in_band, -np.inf)
    peak = first + np.argmax(in_band, axis=1)  # (B,) bin index in the full spectrum
    if not interpolate:
        return freqs[peak]
    step = freqs[1] - freqs[0]
    return freqs[peak] + step * _refine_log_parabola(power, peak)


def _outward_peak_within(power: np.ndarray, freqs: np.ndarray, edge: int, direction: int,
                         tolerance_hz: float) -> np.ndarray:
    """(B,) bool: from bin ``edge`` outward (``direction`` -1 or +1) the spectrum rises to a local
    maximum 1 to ``tolerance_hz / bin width`` bins past the edge bin (the spectrum's end counts as one)."""
    reach = int(np.floor(tolerance_hz / float(freqs[1] - freqs[0])))
    stop = edge + direction * (reach + 2)
    outward = power[:, edge:stop if stop >= 0 else None:direction]  # (B, <= reach + 2) edge bin first
    falls = np.diff(outward, axis=1) < 0                            # step i: bin i -> i + 1 falls
    top = np.where(falls.any(axis=1), np.argmax(falls, axis=1),     # the first bin followed by a fall
                   outward.shape[1] - 1 if outward.shape[1] < reach + 2 else reach + 1)  # else: end or beyond
    return (top >= 1) & (top <= reach)


def _spectral_peak(freqs: np.ndarray, psd: np.ndarray, fs: float, band: tuple[float, float], length: int,
                   integrated: bool) -> np.ndarray:
    """(B,) Hz: the peak of each row of ``psd`` (B, F), spectra of ``length``-sample segments; for an
    ``integrated`` signal the octave check of :func:`estimate_hr`."""
    cell = fs / length  # one resolution cell, Hz
    peak = find_spectral_peak_hz(freqs, psd, *band, peaks_only=True, edge_tolerance_hz=EDGE_TOLERANCE_CYCLES * cell)
    if not integrated:
        return peak
    response = (2.0 * np.sin(np.pi * freqs / fs)) ** 2  # (F,) the power response of the first difference
    diff_peak = find_spectral_peak_hz(freqs, psd * response, *band, peaks_only=True,
                                      edge_tolerance_hz=EDGE_TOLERANCE_CYCLES * cell)
    tolerance = OCTAVE_TOLERANCE_CYCLES * cell
    confirmed = (np.abs(diff_peak - peak) <= tolerance) | (np.abs(diff_peak - 2.0 * peak) <= tolerance)
    half = psd * np.sqrt(response)  # the half-way weighting, f rather than 1 or f²: neither reading's bias
    stronger = _power_at(freqs, half, peak) >= _power_at(freqs, half, diff_peak)
    return np.where(confirmed | stronger, peak, diff_peak)


def _power_at(freqs: np.ndarray, power: np.ndarray, hz: np.ndarray) -> np.ndarray:
    """(B,) each row's ``power`` at the bin nearest to its ``hz`` (B,) on the uniform grid ``freqs``."""
    bins = np.clip(np.rint((hz - freqs[0]) / (freqs[1] - freqs[0])).astype(np.int64), 0, freqs.size - 1)
    return power[np.arange(power.shape[0]), bins]


def _fft_hr(rows: np.ndarray, fs: float, band: tuple[float, float], nfft: int | None,
            window: str, integrated: bool) -> np.ndarray:
    """(B,) bpm from the zero-padded, windowed periodogram, rows processed in memory-bounded chunks."""
    nfft = choose_nfft(rows.shape[1], fs) if nfft is None else int(nfft)
    chunk = max(1, _MAX_SPECTRUM_VALUES // nfft)
    out = []
    for start in range(0, rows.shape[0], chunk):
        freqs, psd = periodogram(rows[start:start + chunk], fs, nfft=nfft, window=window)  # (b, F)
        out.append(_spectral_peak(freqs, np.atleast_2d(psd), fs, band, rows.shape[1], integrated))
    return 60.0 * np.concatenate(out)


def _welch_hr(rows: np.ndarray, fs: float, band: tuple[float, float], nfft: int | None,
              window: str, segment_s: float, integrated: bool) -> np.ndarray:
    """(B,) bpm from the Welch spectrum (segments of ``segment_s`` s, 50 % overlap, each zero-padded)."""
    if not segment_s > 0:
        raise ValueError(f"welch_segment_s must be > 0 s, got {segment_s}")
    nperseg = min(rows.shape[1], max(int(round(segment_s * fs)), int(np.ceil(fs / band[0]))))
    nfft = choose_nfft(nperseg, fs) if nfft is None else max(int(nfft), nperseg)
    freqs, psd = welch(rows, fs=fs, window=window, nperseg=nperseg, noverlap=nperseg // 2,
                       nfft=nfft, detrend="constant", axis=1)  # (F,), (B, F)
    return 60.0 * _spectral_peak(freqs, psd, fs, band, nperseg, integrated)


def _refine_sample_peaks(row: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sub-sample peak positions: vertex of the parabola through each peak sample and its neighbours."""
    left, mid, right = row[peaks - 1], row[peaks], row[peaks + 1]
    curvature = left - 2.0 * mid + right
    offset = np.zeros_like(mid)
    ok = curvature < 0
    offset[ok] = 0.5 * (left[ok] - right[ok]) / curvature[ok]
    return peaks + np.clip(offset, -0.5, 0.5)


def _beat_times(row: np.ndarray, fs: float, distance: int) -> np.ndarray:
    """(P,) seconds of the beats of one band-passed row; fewer than 2 when no interval is measurable."""
    peaks, props = find_peaks(row, distance=distance, prominence=0.0)
    if peaks.size < 2:
        return peaks / fs
    # Edge transients of the filter and dicrotic bumps are far less prominent than beats.
    prominence = props["prominences"]
    peaks = peaks[prominence >= _MIN_RELATIVE_PROMINENCE * np.median(prominence)]
    return _refine_sample_peaks(row, peaks) / fs


def _peaks_hr(rows: np.ndarray, fs: float, band: tuple[float, float], order: int) -> np.ndarray:
    """(B,) bpm = 60 / mean inter-beat interval of the peaks of the band-passed signal."""
    filtered = np.atleast_2d(bandpass(rows, fs, band[0], band[1], order=order))  # (B, T)
    distance = max(1, int(np.floor(fs / band[1])))  # no two beats closer than the fastest in-band rate
    out = np.empty(rows.shape[0])
    for i, row in enumerate(filtered):
        times = _beat_times(row, fs, distance)  # (P,)
        if times.size < 2:
            raise ValueError(f"row {i}: found {times.size} pulse peak(s), need 2 for an interval: pass "
                             "a longer signal or use method='fft'")
        out[i] = 60.0 / np.mean(np.diff(times))
    return out


def estimate_hr(x: Any, fs: float, method: str = "fft", band: tuple[float, float] = DEFAULT_BAND, *,
                nfft: int | None = None, window: str = "hann", welch_segment_s: float = 8.0,
                filter_order: int = 2, integrated: bool = False) -> float | np.ndarray:
    """Heart rate (bpm) of each signal row.

    Estimators:
        ``"fft"``: the highest in-band local maximum (a bin no neighbour exceeds, or a band edge whose
        spectrum rises to a peak less than half a resolution cell, 0.5 / window length Hz, outside the band;
        the highest in-band bin when there is none) of the periodogram of the mean-removed,
        ``window``-tapered signal zero-padded to ``nfft`` (default :func:`choose_nfft`: a grid of <= 0.1 bpm), refined by
        a parabola through the log power of the peak bin and its neighbours. Not quantised to 60 fs / T.
        ``"welch"``: the same peak search on a Welch spectrum of ``welch_segment_s`` s segments with 50 %
        overlap (smoother, coarser: the resolution is that of one segment).
        ``"peaks"``: 60 / the mean interval between peaks of the signal band-passed to ``band``
        (zero-phase Butterworth of ``filter_order``), with peaks at least ``fs / band[1]`` samples
        apart, at least half as prominent as the median peak, refined to sub-sample positions. A pulse
        whose fundamental sits near ``band[0]`` is attenuated by the filter (gain 1/2 at the edge), so a
        strong second harmonic can then add peaks: prefer ``"fft"`` for HR near the band's edges.

    Args:
        x: (T,) or (B, T) numpy array or torch tensor, at least one period of ``band[0]`` long; any
            finite scale (each row is scaled to a unit peak first, so 1e-300 and 1e300 give the same HR).
        fs: sample rate in Hz.
        method: ``"fft"``, ``"welch"`` or ``"peaks"``.
        band: (low, high) Hz searched; the default :data:`DEFAULT_BAND`, (0.75, 2.5) Hz, is 45-150 bpm.
        integrated: the rows are the integral (cumulative sum) of a signal that follows the pulse's first
            difference (a ``diff`` network's output). Integrating restores the fundamental of a slow pulse,
            whose difference has the stronger second harmonic, but it also multiplies the power of
            everything below the pulse by (f_pulse / f)²: a fast pulse's window can then peak at a slow
            ripple. So the peak is also searched in the difference's spectrum (this spectrum times the
            first difference's power response, 4 sin²(π f / fs)). The integral's peak stands when the
            difference peaks at it or at its double, within one resolution cell (1 / window length Hz,
            the Welch segment's for "welch"); otherwise the two candidates are compared in the spectrum
            weighted half-way, by 2 sin(π f / fs) (power ∝ f, between the integral's 1 and the
            difference's f²), and the stronger one is returned. "peaks" counts beats in time and has no
            such check (``integrated`` is ignored there).

    Returns:
        HR in bpm: a float for a (T,) input, a (B,) float64 array for (B, T).
    """
    rows, was_1d = as_signal_rows(x)  # (B, T)
    fs = check_fs(fs)
    band = check_band(band, fs)
    _check_orientation(rows, fs, band[0])
    check_covers_band(rows.shape[1], fs, band[0], high=band[1])
    _check_not_constant(rows)
    rows = rows / np.max(np.abs(rows), axis=1, keepdims=True)  # unit peak: no power under- or overflows
    if method == "fft":
        hr = _fft_hr(rows, fs, band, nfft, window, integrated)
    elif method == "welch":
        hr = _welch_hr(rows, fs, band, nfft, window, welch_segment_s, integrated)
    elif method == "peaks":
        hr = _peaks_hr(rows, fs, band, filter_order)
    else:
        raise ValueError(f"method must be one of {HR_METHODS}, got {method!r}")
    return restore_rows(hr, was_1d)
