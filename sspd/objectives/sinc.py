"""SiNC (Speth et al., CVPR 2023): three priors on the predicted signal's spectrum, no target network.

    total, scalars = sinc_objective(online_outputs, None, fs, batch, SiNCConfig())

With P = |rfft(y - mean(y), n)|² (n large, so bins are fine) and B the pulse band of each clip:
- bandwidth  L_b = Σ_{f∉B} P / (Σ_f P + eps): power outside the band, a fraction of the total;
- sparsity   L_s = Σ_{f∈B, |f-f*|>w} P / (Σ_{f∈B} P + eps), f* the in-band peak, w = 0.1 Hz;
- variance   L_v = mean over the band's bins of (cumsum(q) - cumsum(u))², q the batch mean of each clip's
  in-band PSD normalised to sum 1, u the mean of the clips' uniform distributions over their own band:
  a 1-D earth mover's distance that is 0 when the batch's rates spread over the band and grows when
  they pile up (the anti-collapse term; it needs a batch, so B = 1 is refused).
Speed augmentation plays clip b at ``speed[b]`` times its rate, so its band becomes B·speed[b]; the
engine passes the factors as ``batch["speed"]`` (B,). Spectra are float32 with autocast off.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor

from sspd.losses import float32_region
from sspd.models.outputs import NetworkOutputs
from sspd.objectives.registry import ObjectiveSpec, register_objective

__all__ = ["SiNCConfig", "sinc_psd", "sinc_terms", "single_rate", "integrate_signal", "clip_bands", "bandwidth_loss", "sparsity_loss", "variance_loss",
           "sinc_objective", "SINC"]


@dataclass(frozen=True)
class SiNCConfig:
    """SiNC's band, spectral resolution, peak width and weights (the paper's values).

    Attributes:
        band: the pulse band in Hz (0.667-3.0 Hz = 40-180 bpm).
        n_fft: FFT length (zero padding); the authors pad to 5,400 samples. Signals longer than it are
            transformed at their own length.
        sparsity_width_hz: half-width around the in-band peak that the sparsity loss spares (0.1 Hz).
        bandwidth_weight, sparsity_weight, variance_weight: the three weights (1, 1, 1).
        eps: guard of every normalisation (a constant prediction has no power).
        signal: what the prediction is: ``"pulse"`` (the paper: the PSD of the prediction itself) or
            ``"diff"`` (the pulse's first difference, what a network on frame-difference inputs gives frame
            by frame: its cumulative sum, linearly detrended, is the pulse whose PSD the priors shape;
            inference integrates it the same way). With ``"pulse"`` on difference inputs the second
            harmonic, doubled by the differencing, can win the sparsity prior.
    """

    band: tuple[float, float] = (40.0 / 60.0, 3.0)
    n_fft: int = 5400
    sparsity_width_hz: float = 0.1
    bandwidth_weight: float = 1.0
    sparsity_weight: float = 1.0
    variance_weight: float = 1.0
    eps: float = 1e-8
    signal: str = "pulse"

    def __post_init__(self) -> None:
        if self.signal not in ("pulse", "diff"):
            raise ValueError(f"SiNCConfig.signal must be 'pulse' or 'diff', got {self.signal!r}")
        low, high = self.band
        if not 0 <= low < high:
            raise ValueError(f"SiNCConfig.band must satisfy 0 <= low < high, got {self.band}")
        if isinstance(self.n_fft, bool) or not isinstance(self.n_fft, int) or self.n_fft < 2:
            raise ValueError(f"SiNCConfig.n_fft must be an int >= 2, got {self.n_fft!r}")
        weights = (self.bandwidth_weight, self.sparsity_weight, self.variance_weight)
        if not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
            raise ValueError(f"SiNCConfig weights must be finite, >= 0 and not all 0, got {weights}")
        if not (self.sparsity_width_hz >= 0 and self.eps > 0):
            raise ValueError("SiNCConfig.sparsity_width_hz must be >= 0 and eps > 0, got "
                             f"{self.sparsity_width_hz}, {self.eps}")


def sinc_psd(y: Tensor, fs: float, n_fft: int = 5400) -> tuple[Tensor, Tensor]:
    """Frequencies (F,) in Hz and power spectra (B, F) of mean-centred (B, T) signals, float32.

    F = n // 2 + 1 with n = max(n_fft, T). NaN/inf input raises ValueError.
    """
    if y.ndim != 2:
        raise ValueError(f"sinc_psd expects (B, T) signals, got {tuple(y.shape)}")
    if not bool(torch.isfinite(y).all()):
        raise ValueError("sinc_psd: the predicted signal contains NaN or inf")
    n = max(int(n_fft), y.shape[-1])
    freqs = torch.fft.rfftfreq(n, d=1.0 / fs, device=y.device)                      # (F,)
    with float32_region(y.device):
        centred = y.float() - y.float().mean(dim=-1, keepdim=True)
        psd = torch.fft.rfft(centred, n=n, dim=-1).abs().square()                   # (B, F)
    return freqs.float(), psd


def integrate_signal(y: Tensor) -> Tensor:
    """(B, T) first differences → their cumulative sum with the least-squares line removed (B, T)."""
    pulse = torch.cumsum(y - y.mean(dim=-1, keepdim=True), dim=-1)
    t = torch.arange(y.shape[-1], device=y.device, dtype=pulse.dtype)
    t = t - t.mean()
    slope = (pulse * t).sum(dim=-1, keepdim=True) / t.square().sum().clamp_min(1e-12)
    return pulse - pulse.mean(dim=-1, keepdim=True) - slope * t


def clip_bands(band: tuple[float, float], batch_size: int, speed: Tensor | None = None,
               device: Any = None) -> tuple[Tensor, Tensor]:
    """(low, high) (B,) of each clip: ``band`` times its speed factor (1 without speed augmentation)."""
    scale = torch.ones(batch_size, device=device) if speed is None else speed.detach().float().to(device)
    if scale.shape != (batch_size,) or not bool((scale > 0).all()):
        raise ValueError(f"speed factors must be (B={batch_size},) positive values, got {tuple(scale.shape)}")
    return band[0] * scale, band[1] * scale


def _in_band(freqs: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """(B, F) masks of each clip's band; raises if a clip's band holds no bin."""
    mask = (freqs[None, :] >= low[:, None]) & (freqs[None, :] <= high[:, None])    # (B, F)
    if not bool(mask.any(dim=-1).all()):
        raise ValueError("SiNC: a clip's band holds no frequency bin: use a larger n_fft or a wider band")
    return mask


def bandwidth_loss(freqs: Tensor, psd: Tensor, low: Tensor, high: Tensor, eps: float = 1e-8) -> Tensor:
    """L_b per clip (B,): the fraction of each spectrum's power outside its band."""
    inside = _in_band(freqs, low, high)
    return (psd * ~inside).sum(dim=-1) / (psd.sum(dim=-1) + eps)


def sparsity_loss(freqs: Tensor, psd: Tensor, low: Tensor, high: Tensor, width_hz: float = 0.1,
                  eps: float = 1e-8) -> Tensor:
    """L_s per clip (B,): the fraction of in-band power farther than ``width_hz`` from the in-band peak."""
    inside = _in_band(freqs, low, high)
    in_power = psd * inside                                                         # (B, F)
    peak = in_power.masked_fill(~inside, -1.0).argmax(dim=-1)                      # (B,) index of f*
    # distance counted in bins, so a bin exactly ``width_hz`` away is near whatever the float rounding
    step = float(freqs[1] - freqs[0]) if freqs.numel() > 1 else 1.0
    bins = torch.arange(freqs.numel(), device=psd.device)
    far = (bins[None, :] - peak[:, None]).abs() * step > width_hz * (1 + 1e-6) + 1e-12   # (B, F)
    return (in_power * far).sum(dim=-1) / (in_power.sum(dim=-1) + eps)


def variance_loss(freqs: Tensor, psd: Tensor, low: Tensor, high: Tensor, eps: float = 1e-8) -> Tensor:
    """L_v of the batch (a scalar): EMD between the batch's mean normalised in-band PSD and the uniform.

    Raises ValueError for a batch of one clip: the term compares clips and would be meaningless.
    """
    if psd.shape[0] < 2:
        raise ValueError("SiNC's variance loss needs a batch of at least 2 clips (it measures how the "
                         "batch's predicted rates spread over the band): raise loop.batch_size, or set "
                         "objective.sinc.variance_weight=0")
    inside = _in_band(freqs, low, high).float()                                     # (B, F)
    in_power = psd * inside
    q = (in_power / (in_power.sum(dim=-1, keepdim=True) + eps)).mean(dim=0)         # (F,)
    u = (inside / inside.sum(dim=-1, keepdim=True)).mean(dim=0)                     # (F,)
    union = inside.amax(dim=0) > 0                                                  # (F,)
    return (q.cumsum(0) - u.cumsum(0))[union].square().mean()


def single_rate(fs: Tensor, *, who: str = "SiNC") -> float:
    """The one frame rate of a batch's (B,) rates; raises (naming the objective ``who``) when they differ,
    since the clips' spectra are compared bin by bin."""
    rates = torch.unique(torch.as_tensor(fs, dtype=torch.float64).flatten())
    if rates.numel() != 1:
        raise ValueError(f"{who} compares the clips' spectra bin by bin, so a batch needs one frame rate; got "
                         f"{rates.tolist()}: train on clips of one frame rate")
    return float(rates[0])


def sinc_terms(y: Tensor, fs: float, config: SiNCConfig = SiNCConfig(),
               speed: Tensor | None = None) -> dict[str, Tensor]:
    """SiNC's unweighted terms of predictions (B, T): batch means of ``bandwidth`` and ``sparsity`` and the
    batch's ``variance`` (left out when its weight is 0), each a scalar with a graph."""
    y = integrate_signal(y.float()) if config.signal == "diff" else y.float()
    freqs, psd = sinc_psd(y, fs, config.n_fft)                                      # (F,), (B, F)
    low, high = clip_bands(config.band, y.shape[0], speed, device=psd.device)
    terms = {"bandwidth": bandwidth_loss(freqs, psd, low, high, config.eps).mean(),
             "sparsity": sparsity_loss(freqs, psd, low, high, config.sparsity_width_hz, config.eps).mean()}
    if config.variance_weight:
        terms["variance"] = variance_loss(freqs, psd, low, high, config.eps)
    return terms


def sinc_objective(online: NetworkOutputs, target: NetworkOutputs | None, fs: Tensor,
                   batch: Mapping[str, Any], config: SiNCConfig = SiNCConfig()) -> tuple[Tensor, dict[str, Tensor]]:
    """SiNC's loss of one batch: w_b·mean L_b + w_s·mean L_s + w_v·L_v of the online predictions.

    Args:
        online: the online outputs; ``rppg`` (B, T) is the prediction (its graph reaches the backbone).
        target: ignored (SiNC has no target network).
        fs: (B,) frame rates, all equal.
        batch: may hold ``speed`` (B,), the clips' speed factors (their bands scale with them).

    Returns:
        (total, scalars ``total``, ``bandwidth``, ``sparsity``, ``variance``: unweighted, detached).
    """
    terms = sinc_terms(online.rppg, single_rate(fs), config, batch.get("speed"))
    weights = {"bandwidth": config.bandwidth_weight, "sparsity": config.sparsity_weight,
               "variance": config.variance_weight}
    total = sum(weights[name] * value for name, value in terms.items() if weights[name])
    scalars = {name: value.detach() for name, value in terms.items()}
    scalars["total"] = total.detach()
    return total, scalars


SINC = register_objective(ObjectiveSpec(
    name="sinc", fn=sinc_objective, config_type=SiNCConfig, views=1, outputs=("rppg",),
    output_signal=lambda options: options.signal,  # the priors shape the integrated output with signal=diff
    description="SiNC: bandwidth, sparsity and variance priors on the prediction's spectrum, no target"))
