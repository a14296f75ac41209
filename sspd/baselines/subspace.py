"""LGI and PBV: projections computed from each window's own colour covariance.

Both work on short windows (default 1.6 s, Hann overlap-add with 50 % overlap) and take an RGB trace
(3, T) or (B, 3, T) (numpy or torch), returning (T,) or (B, T) float64 numpy.
"""
from __future__ import annotations

import numpy as np

from sspd.baselines.inputs import as_rgb_batch, restore_batch, window_length
from sspd.baselines.windows import (bandpass_windows, check_colour_means, cut_windows, hann,
                                    normalise_by_mean, overlap_add, window_starts)
from sspd.signal import check_fs

__all__ = ["lgi", "pbv", "PBV_SIGNATURE"]

# Standard blood-volume pulse signature: the relative pulsatile amplitude of R, G, B for a typical
# RGB camera under white light, as used by Wang et al. (IEEE TBME 2017) for PBV.
PBV_SIGNATURE = np.array([0.33, 0.77, 0.53])


def _windows(rgb, fs: float, window_s: float, name: str):
    """Shared set-up: (B, 3, T) trace, (B, N, 3, L) windows, (N,) starts, L, single flag."""
    fs = check_fs(fs, name=f"{name}: fs")
    x, single = as_rgb_batch(rgb, name)
    length = window_length(fs, window_s, x.shape[-1], name)
    starts = window_starts(x.shape[-1], length, max(1, length // 2))
    return x, cut_windows(x, length, starts), starts, length, single


def lgi(rgb, fs: float, window_s: float = 1.6) -> np.ndarray:
    """LGI, local group invariance (Pilz, Krajewski, Blazek & Zaeske, CVPR workshops 2018).

    In each window the principal direction u of the raw colour samples (the top eigenvector of
    C C^T, i.e. the mean skin colour) is projected out, P = I - u u^T; what remains of the green
    channel after the projection, mean removed, is the pulse. Changes of light intensity scale the
    colour along u and are removed; the pulse, whose colour direction differs from the skin tone's,
    is kept.

    Args:
        rgb: (3, T) or (B, 3, T) RGB trace, positive values.
        fs: frame rate in Hz.
        window_s: window length in seconds.

    Returns:
        (T,) or (B, T) float64 pulse signal, in the units of ``rgb``.
    """
    x, c, starts, length, single = _windows(rgb, fs, window_s, "lgi")  # c: (B, N, 3, L)
    check_colour_means(c, "lgi")  # the principal direction is the skin tone only for raw colour
    scatter = np.einsum("bnil,bnjl->bnij", c, c)  # (B, N, 3, 3)
    u = np.linalg.eigh(scatter)[1][..., -1]  # (B, N, 3): eigenvector of the largest eigenvalue
    proj = np.eye(3) - u[..., :, None] * u[..., None, :]  # (B, N, 3, 3)
    s = np.einsum("bnj,bnjl->bnl", proj[:, :, 1, :], c)  # (B, N, L): green row of P C
    s = s - s.mean(axis=-1, keepdims=True)
    return restore_batch(overlap_add(s, starts, x.shape[-1], hann(length)), single)


def pbv(rgb, fs: float, window_s: float = 1.6, band: tuple[float, float] = (0.6, 3.0),
        order: int = 3, signature: np.ndarray = PBV_SIGNATURE, ridge: float = 1e-6) -> np.ndarray:
    """PBV, blood-volume pulse signature (de Haan & van Leest, Physiol. Meas. 2014).

    In each window the mean-normalised, band-passed channels Cn (3, L) give Q = Cn Cn^T, and the
    weights W = P_bv Q^-1 / (P_bv Q^-1 P_bv^T) make the projection S = W Cn the signal of least
    energy whose colour direction is the pulse signature P_bv. The paper leaves the scale k of W free;
    here it is set so that W P_bv^T = 1, so a pulse a * P_bv * p(t) comes out as a * p(t).

    Args:
        rgb: (3, T) or (B, 3, T) RGB trace, positive values.
        fs: frame rate in Hz.
        window_s: window length in seconds.
        band: band-pass applied to the normalised channels, Hz (wider than the HR band, as in chrom).
        order: Butterworth order of the band-pass.
        signature: (3,) relative pulsatile amplitude of R, G, B for the camera.
        ridge: added to Q as ``ridge * trace(Q) / 3 * I`` so a window with rank-deficient colour
            variation (e.g. a noise-free trace) still has a solution.

    Returns:
        (T,) or (B, T) float64 pulse signal, in relative units of the skin colour.
    """
    signature = np.asarray(signature, dtype=np.float64)
    if signature.shape != (3,) or not np.isfinite(signature).all() or not signature.any():
        raise ValueError(f"pbv: signature must be a finite non-zero (3,) RGB vector, got {signature!r}")
    x, c, starts, length, single = _windows(rgb, fs, window_s, "pbv")
    cn = bandpass_windows(normalise_by_mean(c, "pbv") - 1.0, fs, band, order, "pbv")  # (B, N, 3, L)
    q = np.einsum("bnil,bnjl->bnij", cn, cn)  # (B, N, 3, 3)
    # ridge relative to the window's energy; the absolute 1e-30 only keeps a flat window solvable
    q = q + (ridge * np.trace(q, axis1=-2, axis2=-1)[..., None, None] / 3 + 1e-30) * np.eye(3)
    w = np.linalg.solve(q, np.broadcast_to(signature, q.shape[:-1])[..., None])[..., 0]  # (B, N, 3)
    w = w / (w @ signature)[..., None]  # W P_bv^T = 1
    s = np.einsum("bnc,bncl->bnl", w, cn)  # (B, N, L)
    return restore_batch(overlap_add(s, starts, x.shape[-1], hann(length)), single)
