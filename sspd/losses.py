"""Losses and spectral helpers on (B, T) signal tensors: pure functions (``neg_pearson``, ``band_ratio``, spectra).

Spectra are always computed in float32 (autocast is switched off around the FFT): half-precision FFTs
lose the small pulsatile component and only accept power-of-two lengths on some devices. Frequency
bands are built from the frame rate ``fs`` passed by the caller, never from an assumed 30 fps.

These are differentiable torch functions for training objectives (no window, no density scaling).
For analysis of signals (HR, SNR, density periodograms with windows, numpy in and out) use
:mod:`sspd.signal` (``sspd.signal.periodogram``). ``band_mask`` is :func:`sspd.signal.band_mask`, which
works on tensors too: one band rule (inclusive edges) for the losses and the analysis alike.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor

from sspd.signal import band_mask, check_fs  # band_mask: the one band rule, numpy or torch

__all__ = [
    "neg_pearson",
    "rfft_freqs",
    "band_mask",
    "magnitude_spectrum",
    "power_spectrum",
    "reduce_loss",
    "band_ratio",
    "float32_region",
]


def _reduce(values: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def neg_pearson(pred: Tensor, target: Tensor, eps: float = 1e-8, reduction: str = "mean") -> Tensor:
    """Negative Pearson loss ``1 - r`` along the last axis.

    Args:
        pred, target: (..., T) tensors of the same shape; every leading index is one row (a clip's
            signal, or one row of a self-similarity map).
        eps: added to the product of the norms, so a constant row gives r = 0 (loss 1), not NaN.
        reduction: ``"mean"`` over rows (default), ``"sum"``, or ``"none"`` for the (...) per-row losses.

    Returns:
        The reduced loss in [0, 2]; r is clamped to [-1, 1] against rounding. Computed in float32.
    """
    if pred.shape != target.shape:
        raise ValueError(f"neg_pearson: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if pred.shape[-1] < 2:
        raise ValueError(f"neg_pearson needs at least 2 samples along the last axis, got {pred.shape[-1]}")
    x = pred.float()
    y = target.float()
    xc = x - x.mean(dim=-1, keepdim=True)
    yc = y - y.mean(dim=-1, keepdim=True)
    r = (xc * yc).sum(dim=-1) / (xc.norm(dim=-1) * yc.norm(dim=-1) + eps)
    return _reduce(1.0 - r.clamp(-1.0, 1.0), reduction)


@contextmanager
def float32_region(device: torch.device):
    """Disable autocast for ``device`` so that ops inside run in the dtype of their inputs."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def rfft_freqs(n: int, fs: float, nfft: int | None = None, device=None) -> Tensor:
    """Frequencies (Hz) of the one-sided spectrum of ``n`` samples at ``fs`` Hz, zero-padded to ``nfft``."""
    fs = check_fs(fs)
    nfft = n if nfft is None else nfft
    if nfft < n:
        raise ValueError(f"nfft={nfft} is shorter than the signal ({n} samples)")
    return torch.fft.rfftfreq(nfft, d=1.0 / fs, device=device, dtype=torch.float32)


def magnitude_spectrum(x: Tensor, fs: float, nfft: int | None = None) -> tuple[Tensor, Tensor]:
    """One-sided magnitude spectrum along the last axis, in float32.

    Args:
        x: (..., T) signal; the mean is NOT removed (callers decide what the DC bin means to them).
        fs: sample rate in Hz.
        nfft: FFT length (zero padding); defaults to T.

    Returns:
        freqs (F,) in Hz and |X| (..., F), both float32, F = nfft // 2 + 1.
    """
    if not torch.isfinite(x).all():
        raise ValueError("magnitude_spectrum: input contains NaN or inf")
    freqs = rfft_freqs(x.shape[-1], fs, nfft, device=x.device)
    with float32_region(x.device):
        mag = torch.fft.rfft(x.float(), n=nfft, dim=-1).abs()
    return freqs, mag


def power_spectrum(x: Tensor, fs: float, nfft: int | None = None) -> tuple[Tensor, Tensor]:
    """One-sided power spectrum |X|² along the last axis, in float32; see :func:`magnitude_spectrum`."""
    freqs, mag = magnitude_spectrum(x, fs, nfft)
    return freqs, mag.square()


def reduce_loss(values: Tensor, reduction: str) -> Tensor:
    """Reduce per-row loss values: ``"mean"``, ``"sum"`` or ``"none"`` (returned unchanged)."""
    return _reduce(values, reduction)


def _band_ratio_masks(freqs: Tensor, fs: float, band: tuple[float, float],
                      total_band: tuple[float, float] | None) -> tuple[Tensor, Tensor]:
    """Boolean (F,) masks of the in-band bins and of the bins summed in the numerator."""
    in_band = band_mask(freqs, *band)
    # The release sums every bin with 0 <= f < fs/2: the Nyquist bin (even lengths) is left out.
    total = freqs < fs / 2 if total_band is None else band_mask(freqs, *total_band)
    if bool((in_band & ~total).any()):
        raise ValueError(
            f"band {band} Hz reaches outside the total band "
            f"{'[0, fs/2)' if total_band is None else total_band} at fs={fs} Hz: "
            "narrow the band or widen total_band")
    return in_band, total


def band_ratio(x: Tensor, fs: float, band: tuple[float, float] = (0.5, 3.0),
               total_band: tuple[float, float] | None = None, eps: float = 1e-4, form: str = "ratio",
               spectrum: str = "magnitude", nfft: int | None = None) -> Tensor:
    """How much of each row's spectrum lies outside ``band``: 0 when all of it lies inside.

    P is the one-sided spectrum (float32) normalised by its per-row maximum, so ``eps`` is relative to
    the spectral peak and the result does not depend on the signal's scale. The mean is NOT removed:
    a DC component counts as out-of-band energy (as in SSPD's band-ratio terms).

    Args:
        x: (..., T) signals (a self-similarity wave, a predicted pulse).
        fs: sample rate of ``x`` in Hz.
        band: in-band range ``(low, high)`` in Hz, inclusive (default: 0.5-3 Hz, 30-180 bpm).
        total_band: the bins of the numerator, inclusive; ``None`` = every bin with 0 <= f < fs/2.
        eps: guard of the division. The SSPD release divides with no guard, which explodes (~1e7) for
            constant input; with the guard a row with no in-band energy gives about ``Σ_total P / eps``.
        form: ``"ratio"``: (Σ_total P + eps) / (Σ_band P + eps) - 1, the release's ratio with a guard,
            in [0, (F + eps) / eps - 1]; ``"fraction"``: 1 - Σ_band P / (Σ_total P + eps), the
            out-of-band fraction, bounded in [0, 1].
        spectrum: ``"magnitude"`` (|X|) or ``"power"`` (|X|²).
        nfft: FFT length (zero padding); defaults to T.

    Returns:
        (...,) float32 values, one per row. Raises ValueError on NaN/inf input or an empty band.
    """
    if eps <= 0:
        raise ValueError(f"band_ratio: eps must be > 0, got {eps}")
    if spectrum not in ("magnitude", "power"):
        raise ValueError(f"band_ratio: spectrum must be 'magnitude' or 'power', got {spectrum!r}")
    if form not in ("ratio", "fraction"):
        raise ValueError(f"band_ratio: form must be 'ratio' or 'fraction', got {form!r}")
    freqs, mag = magnitude_spectrum(x, fs, nfft)                # (F,), (..., F)
    spec = mag if spectrum == "magnitude" else mag.square()
    spec = spec / spec.amax(dim=-1, keepdim=True).clamp_min(torch.finfo(spec.dtype).tiny)
    in_band, total = _band_ratio_masks(freqs, fs, band, total_band)
    in_sum = spec[..., in_band].sum(dim=-1)                      # (...,)
    total_sum = spec[..., total].sum(dim=-1)                     # (...,)
    if form == "ratio":
        return (total_sum + eps) / (in_sum + eps) - 1.0
    return 1.0 - in_sum / (total_sum + eps)
