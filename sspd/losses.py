"""Losses and spectral helpers on (B, T) signal tensors: pure functions, with thin Modules.

Spectra are always computed in float32 (autocast is switched off around the FFT): half-precision FFTs
lose the small pulsatile component and only accept power-of-two lengths on some devices. Frequency
bands are built from the frame rate ``fs`` passed by the caller, never from an assumed 30 fps.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = [
    "neg_pearson",
    "NegPearsonLoss",
    "rfft_freqs",
    "band_mask",
    "magnitude_spectrum",
    "power_spectrum",
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


class NegPearsonLoss(nn.Module):
    """Module form of :func:`neg_pearson`; holds only its hyper-parameters."""

    def __init__(self, eps: float = 1e-8, reduction: str = "mean") -> None:
        super().__init__()
        self.eps = eps
        self.reduction = reduction

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return neg_pearson(pred, target, eps=self.eps, reduction=self.reduction)


@contextmanager
def _float32_region(device: torch.device):
    """Disable autocast for ``device`` so that ops inside run in the dtype of their inputs."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def rfft_freqs(n: int, fs: float, nfft: int | None = None, device=None) -> Tensor:
    """Frequencies (Hz) of the one-sided spectrum of ``n`` samples at ``fs`` Hz, zero-padded to ``nfft``."""
    if fs <= 0:
        raise ValueError(f"fs must be > 0 Hz, got {fs}: pass the clip's frame rate")
    nfft = n if nfft is None else nfft
    if nfft < n:
        raise ValueError(f"nfft={nfft} is shorter than the signal ({n} samples)")
    return torch.fft.rfftfreq(nfft, d=1.0 / fs, device=device, dtype=torch.float32)


def band_mask(freqs: Tensor, low: float, high: float) -> Tensor:
    """Boolean (F,) mask of ``low <= f <= high``; raises if no bin falls in the band."""
    if not low < high:
        raise ValueError(f"band must satisfy low < high, got ({low}, {high})")
    mask = (freqs >= low) & (freqs <= high)
    if not bool(mask.any()):
        step = float(freqs[1] - freqs[0]) if freqs.numel() > 1 else float("nan")
        raise ValueError(
            f"no frequency bin lies in [{low}, {high}] Hz (bins 0..{float(freqs[-1]):.3g} Hz every "
            f"{step:.3g} Hz): use a longer signal, a larger nfft, or a wider band")
    return mask


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
    with _float32_region(x.device):
        mag = torch.fft.rfft(x.float(), n=nfft, dim=-1).abs()
    return freqs, mag


def power_spectrum(x: Tensor, fs: float, nfft: int | None = None) -> tuple[Tensor, Tensor]:
    """One-sided power spectrum |X|² along the last axis, in float32; see :func:`magnitude_spectrum`."""
    freqs, mag = magnitude_spectrum(x, fs, nfft)
    return freqs, mag.square()
