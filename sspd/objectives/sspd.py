"""The SSPD objective (docs/method.md §4): pyramid, diagonal-std and band-ratio terms on the TS levels,
and the predictor distillation loss, combined with the release's weights. Registered as ``"sspd"``.

    total, scalars = sspd_objective(online_outputs, target_outputs, fs=30.0)

L = 0.5·L_rpd + 0.5·Σ_l L_pyr(l) + 0.5·mean_l L_sd(l) + 0.2·mean_l L_snr(l). The target side is
detached everywhere here; the predictor's input is detached inside :class:`SSPDNetwork`; so the backbone
and TS stack learn only from L_pyr, L_sd and L_snr, the predictor only from L_rpd.

Every spectrum is float32 (autocast off) and built from the frame rate passed in: a batch may mix frame
rates ((B,) ``fs``), handled by grouping the clips of equal rate, never by assuming 30 fps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from sspd.losses import band_mask, magnitude_spectrum, neg_pearson, reduce_loss
from sspd.models.outputs import NetworkOutputs
from sspd.objectives.registry import ObjectiveSpec, register_objective
from sspd.ssm import (band_ratio_loss, diagonal_std_loss, pyramid_loss, self_similarity_map,
                      self_similarity_wave)

__all__ = [
    "SSPDLossWeights",
    "SSPDObjectiveConfig",
    "PredictorLossTerms",
    "predictor_loss_terms",
    "predictor_loss",
    "frame_rates",
    "sspd_objective",
]

PredictorLossForm = Literal["spectral-pearson", "psd-mse"]


@dataclass(frozen=True)
class SSPDLossWeights:
    """Weights of the four SSPD terms (the release's: 0.5, 0.5, 0.5, 0.2); 0 leaves a term out."""

    rpd: float = 0.5  # predictor distillation L_rpd
    pyr: float = 0.5  # Σ over levels of the pyramid distillation L_pyr(l)
    sd: float = 0.5   # mean over levels of the diagonal-std term L_sd(l)
    snr: float = 0.2  # mean over levels of the band-ratio term L_snr(l)

    def __post_init__(self) -> None:
        values = {"rpd": self.rpd, "pyr": self.pyr, "sd": self.sd, "snr": self.snr}
        for name, value in values.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"SSPDLossWeights.{name} must be a finite weight >= 0, got {value}")
        if not any(values.values()):
            raise ValueError("SSPDLossWeights: every weight is 0, so there is nothing to train: "
                             "set at least one of rpd, pyr, sd, snr > 0")


@dataclass(frozen=True)
class SSPDObjectiveConfig:
    """Every weight, band, eps and form of the SSPD objective; the defaults are the release's.

    Attributes:
        weights: the four term weights.
        predictor_loss: spectral half of L_rpd: ``"spectral-pearson"`` (release: negative Pearson of
            the two spectra) or ``"psd-mse"`` (the paper's text: MSE of the max-normalised PSDs).
        predictor_max_freq: top of L_rpd's spectra in Hz; min(this, fs/2) is used (15 Hz = fs/2 at 30 fps).
        predictor_demean: remove each signal's mean before L_rpd's spectra (release: no; the DC bin
            then counts as out-of-band energy of the ratio term and enters the spectral comparison).
        band: the pulse band in Hz of both band-ratio terms (0.5-3 Hz = 30-180 bpm).
        ratio_eps, ratio_form: guard and form of both band-ratio terms, see :func:`sspd.losses.band_ratio`
            (the release's ratio, unguarded there; ``"fraction"`` is the bounded form).
        pearson_eps: guard of every negative-Pearson denominator.
        ssm_eps: lower bound of token norms in the self-similarity maps.
        predictor_priors: weight of SiNC's spectral priors (bandwidth + sparsity + variance, see
            :mod:`sspd.objectives.sinc`) on the online predictor's signal, added to the total (0 = off, the
            release). The predictor reads detached features, so they shape the predictor only: an anchor
            besides online/target agreement, and a batch-variance term against every clip drifting to one rate.
        predictor_priors_band: the band of those priors in Hz (SiNC's 40-180 bpm).
        detach_predictor: the predictor reads the detached feature map (SSPD's gradient routing, True);
            False lets L_rpd's gradient reach the backbone, a broken setting kept for the collapse and
            health studies.
        sd_length_divisor, sd_unbiased, sd_eps: see :func:`sspd.ssm.diagonal_std_loss` (the
            (T' - d)/20 lag weight is the release's hidden factor).
    """

    weights: SSPDLossWeights = field(default_factory=SSPDLossWeights)
    predictor_loss: PredictorLossForm = "spectral-pearson"
    predictor_max_freq: float = 15.0
    predictor_demean: bool = False
    predictor_priors: float = 0.0
    predictor_priors_band: tuple[float, float] = (40.0 / 60.0, 3.0)
    detach_predictor: bool = True
    band: tuple[float, float] = (0.5, 3.0)
    ratio_eps: float = 1e-4
    ratio_form: Literal["ratio", "fraction"] = "ratio"
    pearson_eps: float = 1e-8
    ssm_eps: float = 1e-8
    sd_length_divisor: float | None = 20.0
    sd_unbiased: bool = True
    sd_eps: float = 1e-12

    def __post_init__(self) -> None:
        if self.predictor_loss not in ("spectral-pearson", "psd-mse"):
            raise ValueError("SSPDObjectiveConfig.predictor_loss must be 'spectral-pearson' or 'psd-mse', "
                             f"got {self.predictor_loss!r}")
        if self.ratio_form not in ("ratio", "fraction"):
            raise ValueError(f"SSPDObjectiveConfig.ratio_form must be 'ratio' or 'fraction', got "
                             f"{self.ratio_form!r}")
        low, high = self.band
        if not 0 <= low < high <= self.predictor_max_freq:
            raise ValueError(f"SSPDObjectiveConfig.band must satisfy 0 <= low < high <= predictor_max_freq="
                             f"{self.predictor_max_freq}, got {self.band}")
        for name in ("ratio_eps", "pearson_eps", "ssm_eps", "sd_eps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SSPDObjectiveConfig.{name} must be > 0, got {getattr(self, name)}")


class PredictorLossTerms(NamedTuple):
    """The three parts of L_rpd, each (B,) per clip."""

    time: Tensor      # NP(y_o, y_t)
    spectrum: Tensor  # NP (or MSE) of the 0..min(15 Hz, fs/2) spectra
    ratio: Tensor     # band ratio of the online spectrum


def _band_spectra(y: Tensor, fs: float, max_freq: float) -> tuple[Tensor, Tensor]:
    """(B, T) → frequencies (F',) and float32 magnitude spectra (B, F'), bins 0 ≤ f ≤ min(max_freq, fs/2)."""
    freqs, mag = magnitude_spectrum(y, fs)                     # (F,), (B, F)
    keep = freqs <= min(max_freq, fs / 2)
    return freqs[keep], mag[..., keep]                         # (F',), (B, F')


def _spectral_ratio(freqs: Tensor, spec: Tensor, band: tuple[float, float], eps: float, form: str) -> Tensor:
    """Band ratio of max-normalised spectra (B, F') over all their bins; see :func:`sspd.losses.band_ratio`."""
    norm = _max_normalised(spec)
    in_sum = norm[..., band_mask(freqs, *band)].sum(dim=-1)   # (B,)
    total_sum = norm.sum(dim=-1)                                 # (B,)
    if form == "fraction":
        return 1.0 - in_sum / (total_sum + eps)
    if form == "ratio":
        return (total_sum + eps) / (in_sum + eps) - 1.0
    raise ValueError(f"ratio form must be 'ratio' or 'fraction', got {form!r}")


def _max_normalised(spec: Tensor) -> Tensor:
    """Each row divided by its maximum (rows of zeros stay zero)."""
    return spec / spec.amax(dim=-1, keepdim=True).clamp_min(torch.finfo(spec.dtype).tiny)


def predictor_loss_terms(y_online: Tensor, y_target: Tensor, fs: float, *,
                         form: PredictorLossForm = "spectral-pearson", max_freq: float = 15.0,
                         band: tuple[float, float] = (0.5, 3.0), demean: bool = False,
                         pearson_eps: float = 1e-8, ratio_eps: float = 1e-4,
                         ratio_form: str = "ratio") -> PredictorLossTerms:
    """The parts of SSPD's predictor distillation loss L_rpd, per clip (the target side is detached).

    L_rpd = NP(y_o, y_t) + NP(P(y_o), P(y_t)) + (Σ_{0..fmax} P(y_o) / Σ_band P(y_o) - 1), with P the
    magnitude spectrum over 0 ≤ f ≤ fmax = min(max_freq, fs/2), normalised by its maximum there (the
    ratio is guarded by ``ratio_eps`` like :func:`sspd.losses.band_ratio`; the release has no guard).
    ``form="psd-mse"`` replaces the spectral NP by MSE(PSD_o, PSD_t) of the power spectra |X|²
    normalised by their maxima.

    Args:
        y_online, y_target: (B, T) predicted signals of the two views.
        fs: their frame rate in Hz.
        form, max_freq, band, demean, pearson_eps, ratio_eps, ratio_form: see
            :class:`SSPDObjectiveConfig`.

    Returns:
        :class:`PredictorLossTerms` of three (B,) float32 tensors. NaN/inf input raises ValueError.
    """
    if y_online.ndim != 2 or y_online.shape != y_target.shape:
        raise ValueError(f"predictor loss expects two (B, T) signals of one shape, got "
                         f"{tuple(y_online.shape)} and {tuple(y_target.shape)}")
    y_target = y_target.detach()
    if demean:
        y_online = y_online - y_online.mean(dim=-1, keepdim=True)
        y_target = y_target - y_target.mean(dim=-1, keepdim=True)
    time = neg_pearson(y_online, y_target, eps=pearson_eps, reduction="none")             # (B,)
    freqs, spec_o = _band_spectra(y_online, fs, max_freq)                                 # (F',), (B, F')
    _, spec_t = _band_spectra(y_target, fs, max_freq)                                     # (B, F')
    if form == "psd-mse":
        psd_o, psd_t = (_max_normalised(s.square()) for s in (spec_o, spec_t))
        spectrum = F.mse_loss(psd_o, psd_t, reduction="none").mean(dim=-1)                 # (B,)
    elif form == "spectral-pearson":
        spectrum = neg_pearson(spec_o, spec_t, eps=pearson_eps, reduction="none")          # (B,)
    else:
        raise ValueError(f"predictor loss form must be 'spectral-pearson' or 'psd-mse', got {form!r}")
    ratio = _spectral_ratio(freqs, spec_o, band, ratio_eps, ratio_form)                   # (B,)
    return PredictorLossTerms(time=time, spectrum=spectrum, ratio=ratio)


def predictor_loss(y_online: Tensor, y_target: Tensor, fs: float, *, reduction: str = "mean",
                   **options) -> Tensor:
    """L_rpd = sum of :func:`predictor_loss_terms` (``options`` are its keywords), reduced over the batch."""
    terms = predictor_loss_terms(y_online, y_target, fs, **options)
    return reduce_loss(terms.time + terms.spectrum + terms.ratio, reduction)


def frame_rates(fs: float | Sequence[float] | Tensor, batch: int) -> Tensor:
    """The frame rate of every clip as a (B,) float64 CPU tensor; raises unless all are finite and > 0."""
    values = torch.as_tensor(fs, dtype=torch.float64).detach().cpu().flatten()
    if values.numel() == 1:
        values = values.expand(batch)
    if values.shape != (batch,):
        raise ValueError(f"fs must be one frame rate or one per clip (B={batch},), got {values.numel()} values")
    if not bool(torch.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"fs must be finite and > 0 Hz, got {values.tolist()}: pass each clip's frame rate")
    return values


def _per_frame_rate(fn: Callable[..., Tensor], fs: Tensor, *signals: Tensor) -> Tensor:
    """(B, ...) values of ``fn(*signals, fs)``, calling it once per distinct frame rate in the batch.

    ``fn`` maps (b, ...) signals of one frame rate to (b, ...) per-clip values.
    """
    rates = torch.unique(fs)
    if rates.numel() == 1:
        return fn(*signals, float(rates[0]))
    groups = [torch.nonzero(fs == rate).flatten() for rate in rates]            # clip indices per rate
    values = torch.cat([fn(*(s[index.to(s.device)] for s in signals), float(rate))
                        for rate, index in zip(rates, groups)])                  # (B, ...) grouped
    order = torch.argsort(torch.cat(groups)).to(values.device)
    return values[order]                                                         # (B, ...) clip order


def _level_terms(h_online: Tensor, h_target: Tensor, fs: Tensor,
                 config: SSPDObjectiveConfig) -> tuple[Tensor, Tensor, Tensor]:
    """L_pyr, L_sd and L_snr of one TS level, from tokens (B, T'_l, D); scalars (batch means)."""
    ssm_o = self_similarity_map(h_online, eps=config.ssm_eps)                 # (B, T', T')
    ssm_t = self_similarity_map(h_target.detach(), eps=config.ssm_eps)        # (B, T', T')
    ssw_o, ssw_t = self_similarity_wave(ssm_o), self_similarity_wave(ssm_t)   # (B, T')
    pyr = pyramid_loss(ssm_o, ssm_t, ssw_o, ssw_t, eps=config.pearson_eps)
    sd = diagonal_std_loss(ssm_o, length_divisor=config.sd_length_divisor, unbiased=config.sd_unbiased,
                           eps=config.sd_eps)

    def snr_per_clip(wave: Tensor, rate: float) -> Tensor:
        return band_ratio_loss(wave, rate, band=config.band, eps=config.ratio_eps, form=config.ratio_form,
                               reduction="none")

    return pyr, sd, _per_frame_rate(snr_per_clip, fs, ssw_o).mean()


def _predictor_options(config: SSPDObjectiveConfig) -> dict:
    """The keyword arguments of :func:`predictor_loss_terms` that ``config`` sets."""
    return {"form": config.predictor_loss, "max_freq": config.predictor_max_freq, "band": config.band,
            "demean": config.predictor_demean, "pearson_eps": config.pearson_eps,
            "ratio_eps": config.ratio_eps, "ratio_form": config.ratio_form}


def _predictor_terms(online: Tensor, target: Tensor, fs: Tensor,
                     config: SSPDObjectiveConfig) -> PredictorLossTerms:
    """Batch means of the three L_rpd parts, from (B, T) online and target signals."""
    options = _predictor_options(config)

    def per_clip(y_o: Tensor, y_t: Tensor, rate: float) -> Tensor:
        return torch.stack(predictor_loss_terms(y_o, y_t, rate, **options), dim=1)  # (b, 3)

    values = _per_frame_rate(per_clip, fs, online, target)  # (B, 3)
    return PredictorLossTerms(*values.mean(dim=0).unbind())


def _weighted_total(parts: dict[str, Tensor], config: SSPDObjectiveConfig) -> Tensor:
    """Σ weight·term over the terms with a non-zero weight (a zero weight keeps its term out of the graph)."""
    weights = config.weights
    pairs = [(weights.rpd, parts["rpd"]), (weights.pyr, parts["pyr"]), (weights.sd, parts["sd"]),
             (weights.snr, parts["snr"])]
    return sum(w * term for w, term in pairs if w != 0)


def _predictor_priors(rppg: Tensor, fs: Tensor, config: SSPDObjectiveConfig) -> dict[str, Tensor]:
    """SiNC's three priors on the online predictor's signal (B, T): {bandwidth, sparsity, variance}
    (the variance term only for batches of two or more clips)."""
    from sspd.objectives.sinc import SiNCConfig, single_rate, sinc_terms

    sinc = SiNCConfig(band=tuple(config.predictor_priors_band), variance_weight=float(rppg.shape[0] > 1))
    return sinc_terms(rppg, single_rate(fs), sinc)


def sspd_objective(online: NetworkOutputs, target: NetworkOutputs, fs: float | Sequence[float] | Tensor,
                   config: SSPDObjectiveConfig = SSPDObjectiveConfig()) -> tuple[Tensor, dict[str, Tensor]]:
    """The SSPD loss of one batch from the online and target networks' outputs.

    Args:
        online, target: :class:`NetworkOutputs` of the online view through the online network and of the
            target view through the target network (the target side is detached here).
        fs: the clips' frame rate in Hz, one value or one per clip (B,).
        config: weights, bands, eps and forms.

    Returns:
        (total, scalars): the weighted total (a scalar with a graph) and detached scalars named
        ``total``, ``rpd`` (with ``rpd/time``, ``rpd/spectrum``, ``rpd/ratio``), ``pyr`` (Σ over
        levels), ``sd`` and ``snr`` (means over levels), and per level ``pyr/l{i}``, ``sd/l{i}``,
        ``snr/l{i}`` (i = 0 the shallowest). Unweighted values: the weights act only in ``total``.
    """
    if len(online.hs) != len(target.hs) or not online.hs:
        raise ValueError(f"sspd_objective: online has {len(online.hs)} TS levels, target {len(target.hs)}: "
                         "build the target as a deep copy of the online network")
    rates = frame_rates(fs, online.rppg.shape[0])
    scalars: dict[str, Tensor] = {}
    levels = [_level_terms(h_o, h_t, rates, config) for h_o, h_t in zip(online.hs, target.hs)]
    for i, (pyr, sd, snr) in enumerate(levels):
        scalars.update({f"pyr/l{i}": pyr, f"sd/l{i}": sd, f"snr/l{i}": snr})
    rpd_terms = _predictor_terms(online.rppg, target.rppg, rates, config)
    parts = {"rpd": sum(rpd_terms), "pyr": sum(level[0] for level in levels),
             "sd": torch.stack([level[1] for level in levels]).mean(),
             "snr": torch.stack([level[2] for level in levels]).mean()}
    total = _weighted_total(parts, config)
    if config.predictor_priors:
        priors = _predictor_priors(online.rppg, rates, config)
        total = total + config.predictor_priors * sum(priors.values())
        scalars.update({f"priors/{name}": value for name, value in priors.items()})
    scalars.update({f"rpd/{name}": value for name, value in rpd_terms._asdict().items()})
    scalars.update(parts, total=total)
    return total, {name: value.detach() for name, value in scalars.items()}


def _registered_sspd(online: NetworkOutputs, target: NetworkOutputs | None, fs: Tensor, batch: Any,
                     config: SSPDObjectiveConfig) -> tuple[Tensor, dict[str, Tensor]]:
    return sspd_objective(online, target, fs, config)


SSPD = register_objective(ObjectiveSpec(
    name="sspd", fn=_registered_sspd, config_type=SSPDObjectiveConfig, views=2, target="ema",
    outputs=("rppg", "hs"), detach_predictor=True,
    # the network reads frame differences and no SSPD term asks its prediction for a pulse's shape: it follows
    # the pulse's difference (read as a pulse, slow pulses put more power at their second harmonic)
    output_signal="diff",
    description="SSPD: self-similarity distillation to an EMA target, predictor distilled on detached features"))
