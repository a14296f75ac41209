"""SSPD's losses on self-similarity maps and waves (SSPD §4): pyramid, diagonal-std and band-ratio terms.

All are pure functions over tensors, computed in float32, with a ``reduction`` over the batch
(``"mean"``, ``"sum"`` or ``"none"`` for per-clip (B,) values).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from sspd.losses import band_ratio, neg_pearson, reduce_loss
from sspd.ssm.maps import diagonal_counts, upper_diagonals

__all__ = ["pyramid_loss", "diagonal_std_loss", "band_ratio_loss"]


def pyramid_loss(ssm_o: Tensor, ssm_t: Tensor, ssw_o: Tensor, ssw_t: Tensor, eps: float = 1e-8,
                 reduction: str = "mean") -> Tensor:
    """Distillation of one pyramid level: MSE(SSM) + MSE(SSW) + NP(SSM rows) + NP(SSW).

    The target side is detached here, so gradients reach only the online network whatever the caller
    did. NP is the negative Pearson loss along the last axis (each SSM row is one row), averaged over
    the rows of a clip.

    Args:
        ssm_o, ssm_t: (B, T', T') online and target self-similarity maps.
        ssw_o, ssw_t: (B, T') online and target self-similarity waves.
        eps: guard of the Pearson denominators.
        reduction: over the batch.

    Returns:
        A scalar, or (B,) per-clip values with ``reduction="none"``.
    """
    if ssm_o.shape != ssm_t.shape or ssw_o.shape != ssw_t.shape:
        raise ValueError(
            f"pyramid_loss: online and target shapes differ: SSM {tuple(ssm_o.shape)} vs "
            f"{tuple(ssm_t.shape)}, SSW {tuple(ssw_o.shape)} vs {tuple(ssw_t.shape)}")
    ssm_o, ssw_o = ssm_o.float(), ssw_o.float()
    ssm_t, ssw_t = ssm_t.detach().float(), ssw_t.detach().float()
    mse = F.mse_loss(ssm_o, ssm_t, reduction="none").mean(dim=(1, 2)) + \
        F.mse_loss(ssw_o, ssw_t, reduction="none").mean(dim=1)                     # (B,)
    pearson = neg_pearson(ssm_o, ssm_t, eps=eps, reduction="none").mean(dim=1) + \
        neg_pearson(ssw_o, ssw_t, eps=eps, reduction="none")                       # (B,)
    return reduce_loss(mse + pearson, reduction)


def diagonal_std_loss(ssm: Tensor, length_divisor: float | None = 20.0, unbiased: bool = True,
                      eps: float = 1e-12, reduction: str = "mean") -> Tensor:
    """Weighted standard deviation along the upper diagonals of a self-similarity map (SSPD's L_sd).

    L_sd = mean over lags d = 1 … T'-2 of std({SSM[i, i + d]}_i) · (T' - d) / length_divisor.
    Lag 0 (all ones) and lag T'-1 (a single entry, whose std is undefined) are left out. The weight
    (T' - d) / 20 is the release's hidden length factor; ``length_divisor=None`` weighs every lag 1.

    Args:
        ssm: (B, T', T') online self-similarity maps, T' >= 3.
        length_divisor: divisor of the (T' - d) lag weight, or None for equal weights.
        unbiased: divide by (n - 1) like ``torch.std`` in the release (True), or by n.
        eps: added to the variance before the square root, so a constant diagonal (std 0) has a finite
            gradient; it changes the std by at most sqrt(eps).
        reduction: over the batch.

    Returns:
        A scalar, or (B,) per-clip values with ``reduction="none"``.
    """
    n = ssm.shape[-1]
    if n < 3:
        raise ValueError(f"diagonal_std_loss needs maps of at least 3×3 (lags 1 … T'-2), got T'={n}")
    if length_divisor is not None and length_divisor <= 0:
        raise ValueError(f"diagonal_std_loss: length_divisor must be > 0 or None, got {length_divisor}")
    skewed, valid = upper_diagonals(ssm.float())                    # (B, T', T'), (T', T')
    skewed, valid = skewed[..., 1:n - 1], valid[:, 1:n - 1]         # lags 1 … T'-2
    counts = diagonal_counts(n, ssm.device)[1:n - 1].float()        # (T'-2,)
    means = skewed.sum(dim=1) / counts                              # (B, T'-2)
    # a float mask multiplies far faster than masked_fill broadcasts a (T', T') bool mask
    deviations = (skewed - means[:, None, :]) * valid.to(skewed.dtype)  # (B, T', T'-2), 0 off-diagonal
    variances = (deviations * deviations).sum(dim=1) / (counts - 1 if unbiased else counts)
    stds = (variances + eps).sqrt()                                 # (B, T'-2)
    if length_divisor is not None:
        stds = stds * counts / length_divisor                       # counts = T' - d
    return reduce_loss(stds.mean(dim=1), reduction)


def band_ratio_loss(wave: Tensor, fs: float, band: tuple[float, float] = (0.5, 3.0), eps: float = 1e-4,
                    form: str = "ratio", nfft: int | None = None, reduction: str = "mean") -> Tensor:
    """Band-ratio (SNR-like) loss of self-similarity waves (SSPD's L_snr).

    L = Σ_{0 <= f < fs/2} P[f] / Σ_{f in band} P[f] - 1 with P the magnitude spectrum of the wave
    normalised by its maximum; see :func:`sspd.losses.band_ratio` for the guard and the two forms.
    Default ``form="ratio"`` (the release's ratio, guarded): a wave with its energy in the band gives
    a few units at most, a constant wave (collapsed features) about 1/eps (1e4), finite with finite
    gradients, where the unguarded release reaches ~1e7. ``form="fraction"`` (1 - in/total, in
    [0, 1]) is the bounded alternative for runs where the ratio's scale dominates the other terms.

    Args:
        wave: (B, T') self-similarity waves (or any (B, T) signals).
        fs: the frame rate of the tokens in Hz (the clip's fs: TS blocks keep the frame rate).
        band: pass band in Hz (default 0.5-3 Hz, 30-180 bpm).
        eps, form, nfft: see :func:`sspd.losses.band_ratio`.
        reduction: over the batch.

    Returns:
        A scalar, or (B,) per-clip values with ``reduction="none"``. NaN or inf input raises ValueError.
    """
    if wave.dim() != 2:
        raise ValueError(f"band_ratio_loss expects waves (B, T'), got {tuple(wave.shape)}")
    values = band_ratio(wave, fs, band=band, eps=eps, form=form, nfft=nfft)  # (B,)
    return reduce_loss(values, reduction)
