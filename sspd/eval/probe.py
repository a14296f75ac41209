"""The linear probe: how much pulse a frozen backbone's features carry, read by a per-frame linear map.

Offline (after pretraining)::

    features = extract_features(backbone, train_videos, window=64, input_size=32, target="diff")
    head, losses = train_probe(features, config=ProbeConfig(), subjects=select_subjects(
        features.subjects, fraction=0.25, seed=0))
    signals = network_signals(probe_predictor(backbone, head), test_videos, window=64, input_size=32,
                              target="diff")

The backbone is frozen (eval mode, no gradients); the pooled features (B, D, T) of each training window
are computed once (in memory, optionally saved to a ``.pt`` file and reused) and a
:class:`sspd.models.heads.LinearProbeHead` is trained on them with Adam on the negative Pearson loss (+ an
optional out-of-band-energy term, :func:`sspd.losses.band_ratio`). Label fractions pick a seeded subset of
the TRAINING SUBJECTS (subject-wise, so no subject is half in). Test windows go through
:func:`sspd.eval.model_eval.network_signals` and the windowed HR protocol.

Online (during pretraining) :class:`OnlineProbe`: test-then-train on each batch's detached features.
"""
from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from sspd.backbones import pool_features
from sspd.eval.model_eval import TARGETS, PredictFn, clip_target, prepare_view
from sspd.engine.online_probe import OnlineProbe  # trained inside the loop; re-exported here
from sspd.files import atomic_path
from sspd.models.heads import LinearProbeHead
from sspd.losses import band_ratio, neg_pearson
from sspd.signal import DEFAULT_BAND

__all__ = ["ProbeConfig", "FeatureSet", "extract_features", "select_subjects", "probe_loss", "train_probe",
           "probe_predictor", "OnlineProbe"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeConfig:
    """How the probe head is trained.

    Attributes:
        steps: Adam steps (full batch of the selected windows, or ``batch_size`` windows per step).
        lr, weight_decay: Adam's.
        batch_size: windows per step; None = all selected windows every step.
        band_weight: weight of the out-of-band energy fraction of the head's output (0 = off).
        band: the pulse band (Hz) of that term.
        seed: the head's initialisation and the batch draws.
    """

    steps: int = 300
    lr: float = 1e-2
    weight_decay: float = 0.0
    batch_size: int | None = None
    band_weight: float = 0.0
    band: tuple[float, float] = DEFAULT_BAND
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or not self.lr > 0 or self.weight_decay < 0 or self.band_weight < 0:
            raise ValueError(f"ProbeConfig needs steps >= 1, lr > 0, weight_decay >= 0, band_weight >= 0; "
                             f"got {self.steps}, {self.lr}, {self.weight_decay}, {self.band_weight}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"ProbeConfig.batch_size must be >= 1 or None, got {self.batch_size}")


@dataclass
class FeatureSet:
    """Frozen features of N windows: ``features`` (N, D, T), ``targets`` (N, T), per-window
    ``subjects`` and ``fps``, and the ``target`` kind the targets were made for."""

    features: Tensor
    targets: Tensor
    subjects: list[str]
    fps: list[float]
    target: str

    def select(self, subjects: Sequence[str]) -> "FeatureSet":
        """The windows of ``subjects`` only."""
        wanted = set(subjects)
        index = [i for i, s in enumerate(self.subjects) if s in wanted]
        if not index:
            raise ValueError(f"no window of subjects {sorted(wanted)}; the features have "
                             f"{sorted(set(self.subjects))}")
        return FeatureSet(self.features[index], self.targets[index], [self.subjects[i] for i in index],
                          [self.fps[i] for i in index], self.target)


def _video_windows(video: Any, clip_length: int, stride: int) -> np.ndarray:
    """(K,) non-overlapping training window starts of a video (none if it is too short)."""
    return np.arange(0, video.n_frames - clip_length + 1, stride, dtype=np.int64)


@torch.no_grad()
def _features_of(backbone: nn.Module, video: Any, starts: np.ndarray, clip_length: int,
                 input_size: int | tuple[int, int], batch_size: int,
                 view: Any = None) -> tuple[Tensor, Tensor]:
    """Pooled features (K, D, T) and labels (K, T+1) of a video's windows."""
    feats, labels = [], []
    for i in range(0, starts.size, batch_size):
        chunk = starts[i:i + batch_size]
        clip = torch.from_numpy(np.stack([video.frames[s:s + clip_length] for s in chunk]))  # (b, T+1, S, S, C)
        inputs = prepare_view(clip.permute(0, 4, 1, 2, 3), input_size, view)  # (b, C, T, h, w)
        feats.append(pool_features(backbone.forward_features(inputs)).float())  # (b, D, T)
        labels.append(torch.from_numpy(np.stack([np.asarray(video.label[s:s + clip_length], np.float32)
                                                 for s in chunk])))  # (b, T+1)
    return torch.cat(feats), torch.cat(labels)


def extract_features(backbone: nn.Module, videos: Sequence[Any], *, window: int,
                     input_size: int | tuple[int, int], target: str = "diff", stride: int | None = None,
                     batch_size: int = 4, cache_file: str | Path | None = None,
                     view: Any = None) -> FeatureSet:
    """Pooled features of the frozen ``backbone`` on every training window, computed once.

    Args:
        backbone: a :class:`sspd.backbones.Backbone`; put in eval mode and run under ``no_grad``.
        videos: :class:`sspd.eval.model_eval.EvalVideo` or cached videos (``subject``, ``frames``, ``label``).
        window: difference frames per window T; stride: frames between windows (default: window).
        target: ``"diff"`` or ``"pulse"`` (see :mod:`sspd.eval.model_eval`).
        view: the network's :class:`sspd.augment.InferenceView` (default: SSPD's raw difference).
        cache_file: a ``.pt`` file: loaded if it exists (and made with the same target and windows),
            written otherwise, so repeated probes (label fractions, seeds) skip the backbone.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    key = {"window": window, "stride": stride or window, "target": target, "videos": [v.name for v in videos],
           "view": repr(view), "network": network_fingerprint(backbone)}
    if cache_file is not None and Path(cache_file).is_file():
        return _read_feature_cache(Path(cache_file), key, target)
    backbone.eval()
    feats, targets, subjects, fps = [], [], [], []
    for video in videos:
        starts = _video_windows(video, window + 1, stride or window)
        if starts.size == 0:
            log.warning("probe: skipping %s (%d frames < one window of %d)", video.name, video.n_frames,
                        window + 1)
            continue
        f, labels = _features_of(backbone, video, starts, window + 1, input_size, batch_size, view)
        feats.append(f)
        targets.append(clip_target(labels, target))  # (K, T)
        subjects += [str(video.subject)] * starts.size
        fps += [float(video.fps)] * starts.size
    if not feats:
        raise ValueError(f"probe: no video has one window of {window + 1} frames; use a shorter window")
    out = FeatureSet(torch.cat(feats), torch.cat(targets), subjects, fps, target)
    if cache_file is not None:
        with atomic_path(cache_file, fsync=False) as tmp:
            torch.save({"key": key, "features": out.features, "targets": out.targets, "subjects": subjects,
                        "fps": fps}, tmp)
    return out


def network_fingerprint(network: nn.Module) -> str:
    """sha256 of a network's class and every tensor of its state (names, dtypes, shapes, values): two
    networks share it only when they compute the same features."""
    digest = hashlib.sha256(type(network).__qualname__.encode())
    for name, tensor in network.state_dict().items():
        flat = tensor.detach().cpu().reshape(-1).contiguous()
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


def _read_feature_cache(path: Path, key: dict[str, Any], target: str) -> FeatureSet:
    """The features saved in ``path`` when they were made with ``key``; one clear ValueError otherwise."""
    try:
        saved = torch.load(path, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError, AttributeError) as err:
        raise ValueError(f"{path} is not a feature cache of sspd probe ({type(err).__name__}); delete it or pass "
                         "another --feature-cache") from None
    fields = ("key", "features", "targets", "subjects", "fps")
    if not isinstance(saved, dict) or any(name not in saved for name in fields):
        raise ValueError(f"{path} is not a feature cache of sspd probe; delete it or pass another --feature-cache")
    if saved["key"] != key:
        differ = sorted(k for k in key if not isinstance(saved["key"], dict) or saved["key"].get(k) != key[k])
        what = "another network (other weights)" if differ == ["network"] else f"other {', '.join(differ)}"
        raise ValueError(f"{path}: a feature cache made for {what}; delete it or pass another --feature-cache")
    return FeatureSet(saved["features"], saved["targets"], saved["subjects"], saved["fps"], target)


def select_subjects(subjects: Sequence[str], fraction: float, seed: int = 0) -> list[str]:
    """A seeded subset of the distinct ``subjects``: round(fraction × count), at least one, sorted.

    The draw is a seeded permutation, so a smaller fraction of the same seed is a subset of a larger one.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    distinct = sorted(set(subjects))
    if not distinct:
        raise ValueError("select_subjects: no subjects given")
    count = max(1, int(round(fraction * len(distinct))))
    order = np.random.default_rng(seed).permutation(len(distinct))
    return sorted(distinct[i] for i in order[:count])


def probe_loss(pred: Tensor, target: Tensor, fs: float, *, band_weight: float = 0.0,
               band: tuple[float, float] = DEFAULT_BAND) -> Tensor:
    """Negative Pearson of (B, T) predictions against targets, + ``band_weight`` × the out-of-band
    energy fraction of the predictions (:func:`sspd.losses.band_ratio`, form "fraction")."""
    loss = neg_pearson(pred, target)
    if band_weight > 0:
        loss = loss + band_weight * band_ratio(pred, fs, band, form="fraction").mean()
    return loss


def _check_one_rate(fps: Sequence[float]) -> float:
    rates = sorted(set(fps))
    if len(rates) != 1:
        raise ValueError(f"the probe's training windows have several frame rates {rates}; the band term "
                         "needs one: resample the videos or probe each rate apart")
    return rates[0]


def train_probe(features: FeatureSet, *, config: ProbeConfig = ProbeConfig(),
                subjects: Sequence[str] | None = None) -> tuple[LinearProbeHead, list[float]]:
    """Train a :class:`LinearProbeHead` on frozen features (of ``subjects`` only, when given).

    Returns:
        (head in eval mode, the loss of every step).
    """
    data = features.select(subjects) if subjects is not None else features
    fs = _check_one_rate(data.fps)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    head = LinearProbeHead(data.features.shape[1])
    optimizer = torch.optim.Adam(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = data.features.shape[0]
    losses = []
    for _ in range(config.steps):
        index = (torch.randperm(n, generator=generator)[:config.batch_size] if config.batch_size
                 else torch.arange(n))
        loss = probe_loss(head(data.features[index]), data.targets[index], fs, band_weight=config.band_weight,
                          band=config.band)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return head.eval(), losses


def probe_predictor(backbone: nn.Module, head: LinearProbeHead) -> PredictFn:
    """The frozen backbone + trained head as a prepared-view → (B, T) function for
    :func:`sspd.eval.model_eval.network_signals`."""
    backbone.eval()
    head.eval()

    def predict(view: Tensor) -> Tensor:
        return head(pool_features(backbone.forward_features(view)))  # (B, D, T) -> (B, T)

    return predict
