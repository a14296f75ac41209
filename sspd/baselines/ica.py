"""ICA (Poh, McDuff & Picard, Optics Express 2010): blind source separation of the RGB trace.

The three channels are normalised (zero mean, unit variance), whitened, and unmixed by symmetric
FastICA (Hyvarinen 1999, log-cosh contrast), written here in numpy and vectorised over the batch; the
pulse is the source with the largest spectral peak in the heart-rate band. (Poh et al. used JADE; both
estimate the unmixing up to the order and sign of the sources, and FastICA vectorises simply.)
"""
from __future__ import annotations

import logging

import numpy as np

from sspd.baselines.inputs import as_rgb_batch, restore_batch, window_length
from sspd.baselines.windows import cut_windows, hann, overlap_add, window_starts
from sspd.signal import DEFAULT_BAND, band_mask, check_band, check_fs, periodogram

__all__ = ["ica", "fastica"]

log = logging.getLogger(__name__)


def _inverse_sqrt(m: np.ndarray) -> np.ndarray:
    """M^(-1/2) of symmetric positive definite matrices (..., 3, 3) by eigendecomposition."""
    evals, evecs = np.linalg.eigh(m)
    return (evecs / np.sqrt(evals)[..., None, :]) @ np.swapaxes(evecs, -1, -2)


def _whiten(x: np.ndarray) -> np.ndarray:
    """Whitened (B, 3, T) copy of zero-mean rows; raises if the channels are linearly dependent."""
    cov = x @ np.swapaxes(x, -1, -2) / x.shape[-1]  # (B, 3, 3)
    evals = np.linalg.eigvalsh(cov)  # (B, 3) ascending
    degenerate = evals[:, 0] <= 1e-10 * evals[:, -1]
    if degenerate.any():
        rows = np.flatnonzero(degenerate).tolist()
        raise ValueError(f"ica: the three colour channels of trace(s) (or windows) {rows} are linearly "
                         "dependent (rank < 3), so there are not three sources to separate; use pos or "
                         "chrom for such a trace")
    return _inverse_sqrt(cov) @ x  # (B, 3, T)


def fastica(z: np.ndarray, max_iter: int = 200, tol: float = 1e-6, seed: int = 0) -> np.ndarray:
    """Symmetric FastICA unmixing matrices for whitened rows.

    Args:
        z: (B, K, T) whitened signals (identity covariance per batch entry).
        max_iter: iterations at most; a batch entry stops updating once it has converged, so a batch
            gives the same result as its entries one at a time.
        tol: convergence when every row of W changes direction by less than this (1 - |w_new . w|).
        seed: seeds the random orthogonal starting matrix (the same for every batch entry).

    Returns:
        (B, K, K) orthogonal unmixing matrices W; the sources are W @ z.
    """
    if z.ndim != 3 or z.shape[1] > z.shape[2]:
        raise ValueError(f"fastica: z must be whitened signals (B, K, T) with K <= T, got shape {z.shape}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"fastica: max_iter must be an integer >= 1, got {max_iter!r}")
    n_batch, k, n = z.shape
    start = np.random.default_rng(seed).standard_normal((k, k))
    w = np.broadcast_to(_inverse_sqrt(start @ start.T) @ start, (n_batch, k, k)).copy()
    done = np.zeros(n_batch, dtype=bool)
    for _ in range(max_iter):
        g = np.tanh(w @ z)  # (B, K, T): derivative of log cosh
        w_new = g @ np.swapaxes(z, -1, -2) / n - (1.0 - g**2).mean(axis=-1)[..., None] * w
        w_new = _inverse_sqrt(w_new @ np.swapaxes(w_new, -1, -2)) @ w_new  # symmetric decorrelation
        change = np.abs(1.0 - np.abs(np.einsum("bij,bij->bi", w_new, w))).max(axis=-1)  # (B,)
        w = np.where(done[:, None, None], w, w_new)
        done |= change < tol
        if done.all():
            return w
    # Usual, not an error, for RGB traces: two of the three sources are often near-Gaussian noise,
    # whose rotation ICA cannot fix, while the non-Gaussian pulse source is already separated.
    log.info("fastica: %d of %d entries did not converge in %d iterations (tol %g)",
             int((~done).sum()), n_batch, max_iter, tol)
    return w


def _band_peak_power(y: np.ndarray, fs: float, band: tuple[float, float]) -> np.ndarray:
    """Highest value of each row's Hann-windowed periodogram inside ``band`` (Hz): (M, L) -> (M,)."""
    freqs, psd = periodogram(y, fs)  # (F,), (M, F)
    return psd[:, band_mask(freqs, band[0], band[1])].max(axis=-1)


def _separate(x: np.ndarray, fs: float, band: tuple[float, float], seed: int) -> np.ndarray:
    """The pulse source of each (3, L) row of x (M, 3, L): (M, L), unit variance, sign set by green."""
    std = x.std(axis=-1, keepdims=True)  # (M, 3, 1)
    if not (std > 0).all():
        raise ValueError("ica: a colour channel is constant over the trace (or over a window); ICA "
                         "needs variation in all three channels")
    xn = (x - x.mean(axis=-1, keepdims=True)) / std  # Poh's normalisation
    z = _whiten(xn)
    sources = fastica(z, seed=seed) @ z  # (M, 3, L)
    m, k, length = sources.shape
    peaks = _band_peak_power(sources.reshape(m * k, length), fs, band).reshape(m, k)  # (M, 3)
    pulse = sources[np.arange(m), peaks.argmax(axis=-1)]  # (M, L)
    return pulse * _in_band_sign(pulse, xn[:, 1], fs, band)[:, None]


def _in_band_sign(y: np.ndarray, ref: np.ndarray, fs: float, band: tuple[float, float]) -> np.ndarray:
    """(M,) sign (+1 or -1) of the in-band covariance of rows y (M, L) with rows ref (M, L).

    ICA has no sign; the pulse is oriented like the green channel, which carries it most. Only the
    band counts: outside it the green channel is dominated by illumination changes.
    """
    freqs = np.fft.rfftfreq(y.shape[-1], d=1.0 / fs)  # (F,)
    in_band = (freqs >= band[0]) & (freqs <= band[1])
    cross = np.fft.rfft(y, axis=-1)[:, in_band] * np.conj(np.fft.rfft(ref, axis=-1)[:, in_band])
    return np.where(cross.real.sum(axis=-1) < 0, -1.0, 1.0)


def ica(rgb, fs: float, band: tuple[float, float] = DEFAULT_BAND, window_s: float | None = None,
        seed: int = 0) -> np.ndarray:
    """ICA baseline: the independent component of the RGB trace with the strongest pulse.

    Args:
        rgb: (3, T) or (B, 3, T) RGB trace (numpy or torch).
        fs: frame rate in Hz.
        band: heart-rate band in Hz in which the sources' spectral peaks are compared.
        window_s: None to separate the whole trace at once (Poh et al. used 30 s windows); otherwise
            separate windows of this many seconds, 50 % overlap, Hann overlap-add.
        seed: seeds FastICA's starting point, so results are reproducible.

    Returns:
        (T,) or (B, T) float64 pulse signal; each separated trace or window has unit variance before
        the overlap-add.
    """
    fs = check_fs(fs, name="ica: fs")
    band = check_band(band, fs, name="ica: band")
    x, single = as_rgb_batch(rgb, "ica")
    n_batch, _, n_frames = x.shape
    if window_s is None:
        return restore_batch(_separate(x, fs, band, seed), single)
    length = window_length(fs, window_s, n_frames, "ica")
    starts = window_starts(n_frames, length, max(1, length // 2))
    c = cut_windows(x, length, starts)  # (B, N, 3, L)
    pulse = _separate(c.reshape(-1, 3, length), fs, band, seed)  # (B * N, L)
    s = pulse.reshape(n_batch, len(starts), length)  # (B, N, L)
    return restore_batch(overlap_add(s, starts, n_frames, hann(length)), single)
