"""GREEN, CHROM and POS: fixed projections of the temporally normalised RGB trace.

Each takes an RGB trace (3, T) or (B, 3, T) (numpy or torch) and its frame rate ``fs`` and returns the
pulse signal (T,) or (B, T) as float64 numpy. The sign follows each paper's formula (CHROM's output
falls when the skin brightens with the pulse, POS's rises); heart rate from the spectrum is unaffected.
"""
from __future__ import annotations

import numpy as np

from sspd.baselines.inputs import as_rgb_batch, restore_batch, window_length
from sspd.baselines.windows import (bandpass_windows, cut_windows, hann, normalise_by_mean,
                                    overlap_add, window_starts)
from sspd.signal import check_fs

__all__ = ["green", "chrom", "pos", "POS_PROJECTION"]

# Wang et al. 2017: the plane orthogonal to the temporally normalised skin tone [1, 1, 1].
POS_PROJECTION = np.array([[0.0, 1.0, -1.0],
                           [-2.0, 1.0, 1.0]])
# de Haan & Jeanne 2013: chrominance axes for the standardised skin tone (Xs, Ys rows).
CHROM_AXES = np.array([[3.0, -2.0, 0.0],
                       [1.5, 1.0, -1.5]])
_EPS = 1e-12  # guards std ratios in flat windows; far below any normalised colour variation


def green(rgb, fs: float) -> np.ndarray:
    """GREEN (Verkruysse et al. 2008): the green channel, as relative variation about its mean.

    No filtering and no colour model: the method's weakness is that any change of illumination
    intensity appears in the green channel as strongly as in the others and is not rejected.

    Args:
        rgb: (3, T) or (B, 3, T) RGB trace, positive values.
        fs: frame rate in Hz (checked; the method itself does not use it).

    Returns:
        (T,) or (B, T) float64: G / mean(G) - 1.
    """
    check_fs(fs, name="green: fs")
    x, single = as_rgb_batch(rgb, "green")
    g = x[:, 1, :]  # (B, T)
    mean = g.mean(axis=-1, keepdims=True)
    if not (mean > 0).all():
        raise ValueError("green: the green channel has a mean <= 0; pass raw positive colour values")
    return restore_batch(g / mean - 1.0, single)


def chrom(rgb, fs: float, window_s: float = 1.6, band: tuple[float, float] = (0.6, 3.0),
          order: int = 3) -> np.ndarray:
    """CHROM (de Haan & Jeanne, IEEE TBME 2013) on short windows, Hann overlap-add (50 % overlap).

    In each window: channels divided by their mean, chrominance signals Xs = 3R - 2G and
    Ys = 1.5R + G - 1.5B, both band-passed, then S = Xf - alpha * Yf with alpha = std(Xf) / std(Yf),
    which cancels the part of Xf and Yf that a change of light intensity puts in both.

    Args:
        rgb: (3, T) or (B, 3, T) RGB trace, positive values.
        fs: frame rate in Hz.
        window_s: window length in seconds (1.6 s holds a full beat down to about 40 bpm).
        band: pass band in Hz, wider than the 45-150 bpm HR band: the zero-phase filter is at -6 dB at
            its edges, and with 0.7 Hz a 45-50 bpm fundamental loses to its own second harmonic.
        order: Butterworth order of the band-pass (applied forwards and backwards).

    Returns:
        (T,) or (B, T) float64 pulse signal.
    """
    fs = check_fs(fs, name="chrom: fs")
    x, single = as_rgb_batch(rgb, "chrom")
    length = window_length(fs, window_s, x.shape[-1], "chrom")
    starts = window_starts(x.shape[-1], length, max(1, length // 2))
    cn = normalise_by_mean(cut_windows(x, length, starts), "chrom") - 1.0  # (B, N, 3, L)
    xy = np.einsum("kc,bncl->bnkl", CHROM_AXES, cn)  # (B, N, 2, L): Xs, Ys
    xy = bandpass_windows(xy, fs, band, order, "chrom")
    xf, yf = xy[:, :, 0], xy[:, :, 1]  # (B, N, L) each
    alpha = xf.std(axis=-1, keepdims=True) / (yf.std(axis=-1, keepdims=True) + _EPS)
    s = xf - alpha * yf  # (B, N, L)
    return restore_batch(overlap_add(s, starts, x.shape[-1], hann(length)), single)


def pos(rgb, fs: float, window_s: float = 1.6) -> np.ndarray:
    """POS, plane orthogonal to skin (Wang, den Brinker, Stuijk & de Haan, IEEE TBME 2017).

    In every window of ``window_s`` seconds (one per frame, as in the paper's Algorithm 1): channels
    divided by their mean, projected on the plane P = [[0, 1, -1], [-2, 1, 1]] orthogonal to the
    normalised skin tone, h = S1 + (std(S1) / std(S2)) S2, mean removed; the windows are overlap-added
    and each frame divided by the number of windows covering it (the paper's plain sum differs only at
    the first and last L - 1 frames, by that count).

    Args:
        rgb: (3, T) or (B, 3, T) RGB trace, positive values.
        fs: frame rate in Hz.
        window_s: window length in seconds (the paper's 1.6 s: 32 frames at 20 fps).

    Returns:
        (T,) or (B, T) float64 pulse signal.
    """
    fs = check_fs(fs, name="pos: fs")
    x, single = as_rgb_batch(rgb, "pos")
    length = window_length(fs, window_s, x.shape[-1], "pos")
    starts = window_starts(x.shape[-1], length, 1)
    cn = normalise_by_mean(cut_windows(x, length, starts), "pos")  # (B, N, 3, L)
    s = np.einsum("kc,bncl->bnkl", POS_PROJECTION, cn)  # (B, N, 2, L)
    s1, s2 = s[:, :, 0], s[:, :, 1]  # (B, N, L) each
    h = s1 + s1.std(axis=-1, keepdims=True) / (s2.std(axis=-1, keepdims=True) + _EPS) * s2
    h = h - h.mean(axis=-1, keepdims=True)
    return restore_batch(overlap_add(h, starts, x.shape[-1]), single)
