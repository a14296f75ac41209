"""Contrast-Phys (Sun & Li, ECCV 2022): contrast of normalised power spectra within and across videos.

    total, scalars = contrast_phys_objective(online_outputs, None, fs, batch, ContrastPhysConfig())

The network's ST-rPPG head (``model.head: st_rppg``) gives S² spatial signals per clip (S = 2). From each
signal, K = 4 random windows of half the clip's length are cut; each window's PSD is
P = |rfft(x, norm="forward")|², restricted to 40-250 bpm and normalised to sum 1. With d(p, q) the mean
squared difference of two such PSDs:

- positive term: the mean of d over all pairs of PSDs from the same video (every window and position,
  a PSD never paired with itself): signals of one face at one time should share a spectrum;
- negative term: the mean of d over all pairs of PSDs from different videos: different people (at
  different times) should not;
- loss = positive - negative.

The negative term is the only protection against collapse and assumes that different videos of a
batch have different heart rates. The irrelevant power ratio (IPR: the fraction of the mean signal's
power outside 40-250 bpm) is logged, not optimised. A batch must carry which video each clip came from
(``batch["video_id"]`` (B,), set by the synthetic and cache datasets) and hold at least two videos.
The engine hands its per-step view generator as ``batch["generator"]``, so the windows repeat on resume;
``batch["window_starts"]`` (B, N, K) gives them explicitly. Spectra are float32 with autocast off.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from sspd.losses import band_mask, float32_region
from sspd.models.outputs import NetworkOutputs
from sspd.objectives.registry import ObjectiveSpec, register_objective
from sspd.objectives.sinc import single_rate

__all__ = ["ContrastPhysConfig", "clip_signals", "video_ids", "window_starts", "window_psds", "contrast_terms",
           "irrelevant_power_ratio", "contrast_phys_objective", "CONTRAST_PHYS"]


@dataclass(frozen=True)
class ContrastPhysConfig:
    """Contrast-Phys's windows, band and weights (the paper's values).

    Attributes:
        windows: K, random windows per spatial signal (4).
        window_fraction: a window's length as a fraction of the clip (0.5: half the clip).
        band: the heart-rate band in Hz that the PSDs are restricted to and the IPR measures
            (40-250 bpm).
        n_fft: FFT length of a window (zero padding, for finer bins on short clips); None = the window
            length, as the paper.
        positive_weight, negative_weight: loss = w_p·positive - w_n·negative (1, 1).
        eps: guard of the PSD normalisation (a constant window has no in-band power).
    """

    windows: int = 4
    window_fraction: float = 0.5
    band: tuple[float, float] = (40.0 / 60.0, 250.0 / 60.0)
    n_fft: int | None = None
    positive_weight: float = 1.0
    negative_weight: float = 1.0
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if isinstance(self.windows, bool) or not isinstance(self.windows, int) or self.windows < 1:
            raise ValueError(f"ContrastPhysConfig.windows must be an int >= 1, got {self.windows!r}")
        if not 0 < self.window_fraction <= 1:
            raise ValueError(f"ContrastPhysConfig.window_fraction must be in (0, 1], got {self.window_fraction}")
        low, high = self.band
        if not 0 < low < high:
            raise ValueError(f"ContrastPhysConfig.band must satisfy 0 < low < high (Hz), got {self.band}")
        if self.n_fft is not None and (isinstance(self.n_fft, bool) or not isinstance(self.n_fft, int)
                                       or self.n_fft < 2):
            raise ValueError(f"ContrastPhysConfig.n_fft must be an int >= 2 or null, got {self.n_fft!r}")
        weights = (self.positive_weight, self.negative_weight)
        if not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
            raise ValueError(f"ContrastPhysConfig weights must be finite, >= 0 and not both 0, got {weights}")
        if not self.eps > 0:
            raise ValueError(f"ContrastPhysConfig.eps must be > 0, got {self.eps}")

    def window_length(self, frames: int) -> int:
        """Samples per window of a ``frames``-long clip (at least 2)."""
        length = int(frames * self.window_fraction)
        if length < 2:
            raise ValueError(f"Contrast-Phys: a window of {self.window_fraction} x {frames} frames holds fewer "
                             "than 2 samples: use longer clips or a larger window_fraction")
        return length


def clip_signals(outputs: NetworkOutputs) -> Tensor:
    """The signals the loss contrasts, (B, N, T): the ST-rPPG head's spatial signals (N = S²), or the one
    predicted signal (N = 1) of a network with another head."""
    if outputs.spatial is not None:
        return outputs.spatial
    return outputs.rppg[:, None, :]


def video_ids(batch: Mapping[str, Any], batch_size: int) -> Tensor:
    """(B,) int64 ids of the video each clip came from, from ``batch["video_id"]`` (ints or names).

    Raises ValueError when the batch has none or fewer than two distinct videos (no negative pair).
    """
    ids = batch.get("video_id")
    if ids is None:
        raise ValueError("Contrast-Phys needs the video each clip came from: the batch has no 'video_id' (B,); "
                         "train on the synthetic or cache sources (they set it) or add it to your dataset's items")
    if isinstance(ids, Tensor):
        ids = ids.detach().cpu().flatten().tolist()
    ids = list(ids) if isinstance(ids, Sequence) and not isinstance(ids, str) else [ids]
    if len(ids) != batch_size:
        raise ValueError(f"Contrast-Phys: the batch has {len(ids)} video ids for {batch_size} clips")
    codes = {key: i for i, key in enumerate(dict.fromkeys(ids))}
    if len(codes) < 2:
        raise ValueError(f"Contrast-Phys needs clips of at least 2 different videos in every batch (its negative "
                         f"term compares videos), got {batch_size} clip(s) of one video: raise loop.batch_size "
                         "(per rank and micro-batch) or give more videos")
    return torch.tensor([codes[key] for key in ids], dtype=torch.int64)


def window_starts(shape: tuple[int, int, int], frames: int, length: int,
                  generator: torch.Generator | None = None) -> Tensor:
    """(B, N, K) random window starts, uniform in [0, frames - length], drawn from ``generator``."""
    device = generator.device if generator is not None else "cpu"
    return torch.randint(0, frames - length + 1, shape, generator=generator, device=device)


def window_psds(signals: Tensor, starts: Tensor, length: int, fs: float, band: tuple[float, float],
                n_fft: int | None = None, eps: float = 1e-8) -> Tensor:
    """Normalised in-band PSDs of the windows, (B, N, K, F) float32, each summing to 1 (0 when constant).

    Args:
        signals: (B, N, T) signals; starts: (B, N, K) window starts; length: samples per window.
        fs: frame rate in Hz; band: (low, high) Hz, edges inclusive; n_fft: zero padding (None: length).
    """
    frames = signals.shape[-1]
    if starts.shape != (*signals.shape[:2], starts.shape[-1]):
        raise ValueError(f"window starts {tuple(starts.shape)} do not match signals {tuple(signals.shape)}")
    if int(starts.min()) < 0 or int(starts.max()) + length > frames:
        raise ValueError(f"Contrast-Phys: a window of {length} samples starting at {starts.min()}..{starts.max()} "
                         f"leaves the {frames}-frame clip")
    n = max(length, n_fft or length)
    freqs = torch.fft.rfftfreq(n, d=1.0 / fs, device=signals.device)               # (F_all,)
    try:
        inside = band_mask(freqs, *band)                                             # (F_all,)
    except ValueError:
        raise ValueError(f"Contrast-Phys: the band {band} Hz holds no frequency bin of a {n}-point FFT at "
                         f"{fs} Hz: use longer clips or set objective.contrast_phys.n_fft") from None
    index = starts.to(signals.device)[..., None] + torch.arange(length, device=signals.device)  # (B, N, K, L)
    with float32_region(signals.device):
        x = signals.float()
        windows = torch.gather(x[:, :, None, :].expand(-1, -1, index.shape[2], -1), 3, index)  # (B, N, K, L)
        windows = windows - windows.mean(dim=-1, keepdim=True)
        power = torch.fft.rfft(windows, n=n, dim=-1, norm="forward").abs().square()[..., inside]  # (B, N, K, F)
        return power / (power.sum(dim=-1, keepdim=True) + eps)


def contrast_terms(psds: Tensor, ids: Tensor) -> tuple[Tensor, Tensor]:
    """(positive, negative): mean squared PSD difference over same-video pairs (a PSD never with itself)
    and over different-video pairs. psds (B, N, K, F); ids (B,) video of each clip."""
    batch, positions, windows, bins = psds.shape
    flat = psds.reshape(-1, bins)                                                    # (M, F), M = B·N·K
    owner = ids.to(psds.device).repeat_interleave(positions * windows)             # (M,)
    distance = (flat[:, None, :] - flat[None, :, :]).square().mean(dim=-1)          # (M, M)
    same = owner[:, None] == owner[None, :]
    same = same & ~torch.eye(flat.shape[0], dtype=torch.bool, device=psds.device)
    if not bool(same.any()):
        raise ValueError("Contrast-Phys: no two PSDs of one video to pair: use windows >= 2 or a head with "
                         "several spatial signals")
    return distance[same].mean(), distance[owner[:, None] != owner[None, :]].mean()


def irrelevant_power_ratio(y: Tensor, fs: float, band: tuple[float, float]) -> Tensor:
    """(B,) fraction of each mean-centred signal's power (DC excluded) outside ``band`` Hz; y (B, T)."""
    with float32_region(y.device):
        centred = y.float() - y.float().mean(dim=-1, keepdim=True)
        power = torch.fft.rfft(centred, dim=-1, norm="forward").abs().square()[:, 1:]   # (B, F-1)
    freqs = torch.fft.rfftfreq(y.shape[-1], d=1.0 / fs, device=y.device)[1:]
    outside = (freqs < band[0]) | (freqs > band[1])
    return (power * outside).sum(dim=-1) / power.sum(dim=-1).clamp_min(1e-20)


def contrast_phys_objective(online: NetworkOutputs, target: NetworkOutputs | None, fs: Tensor,
                            batch: Mapping[str, Any],
                            config: ContrastPhysConfig = ContrastPhysConfig()) -> tuple[Tensor, dict[str, Tensor]]:
    """Contrast-Phys's loss of one batch: w_p·positive - w_n·negative over the clips' window PSDs.

    Args:
        online: the online outputs: ``spatial`` (B, N, T) when the network has the ST-rPPG head, else
            ``rppg`` (B, T) as one signal per clip.
        target: ignored (no target network).
        fs: (B,) frame rates, all equal.
        batch: ``video_id`` (B,) (required); ``generator`` (the engine's per-step generator) or
            ``window_starts`` (B, N, K) for the windows.

    Returns:
        (total, scalars ``total``, ``positive``, ``negative`` (unweighted) and ``ipr``, detached).
    """
    signals = clip_signals(online)                                                   # (B, N, T)
    if not bool(torch.isfinite(signals).all()):
        raise ValueError("Contrast-Phys: the predicted signal contains NaN or inf")
    rate = single_rate(fs, who="Contrast-Phys")
    ids = video_ids(batch, signals.shape[0])
    length = config.window_length(signals.shape[-1])
    starts = batch.get("window_starts")
    if starts is None:
        starts = window_starts((*signals.shape[:2], config.windows), signals.shape[-1], length,
                               batch.get("generator"))
    psds = window_psds(signals, starts, length, rate, config.band, config.n_fft, config.eps)
    positive, negative = contrast_terms(psds, ids)
    total = config.positive_weight * positive - config.negative_weight * negative
    ipr = irrelevant_power_ratio(online.rppg.detach(), rate, config.band).mean()
    scalars = {"total": total.detach(), "positive": positive.detach(), "negative": negative.detach(), "ipr": ipr}
    return total, scalars


CONTRAST_PHYS = register_objective(ObjectiveSpec(
    name="contrast-phys", fn=contrast_phys_objective, config_type=ContrastPhysConfig, views=1,
    outputs=("rppg", "spatial"),
    description="Contrast-Phys: spectra of windows of one video pulled together, of different videos pushed apart"))
