"""The online linear probe inside the pretraining loop: every N optimiser steps, a linear head on the online
backbone's pooled features of the step's batch (detached, captured by the step's own forward pass: no
extra forward) is scored, then trained, against the batch's PPG labels.

    run_pretraining(..., probe=OnlineProbeConfig(every_n_steps=8))   # the run composes LoopProbe.factory(probe)
    probe = LoopProbe(config.probe, feature_dim=D, fs=30.0, frames=T, seed=run_seed)   # rank 0 only
    scalars = probe.step(done, seen.pooled, batch_labels(batch))   # {} unless due and labelled
    # {"probe/loss", "probe/r", "probe/hr_mae_bpm", "probe/batches", "probe/clips"} on probe steps

:class:`LoopProbe` is a :class:`sspd.engine.observers.RunObserver` of the run like the collapse monitor: the
head and its optimiser are its state, saved under the checkpoint's ``"probe"`` key, so a resumed run's
probe continues exactly. The probe draws nothing from the global RNG, so switching it on
does not change the training run. :class:`OnlineProbe` (below) is built only when the probe is on
(sspd.eval builds on sspd.engine, not the reverse).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np
import torch
from torch import Tensor

from sspd.augment.inference import TARGETS, clip_target
from sspd.configuration import require_positive_int
from sspd.engine.capture import CapturedOutputs
from sspd.engine.facts import check_band_period
from sspd.engine.observers import ObserverFactory, RunObserver
from sspd.engine.seeding import derive_seed
from sspd.models.heads import LinearProbeHead
from sspd.losses import neg_pearson
from sspd.signal import DEFAULT_BAND, check_fs

__all__ = ["OnlineProbeConfig", "LABEL_KEYS", "batch_labels", "OnlineProbe", "LoopProbe"]

log = logging.getLogger(__name__)


@dataclass
class OnlineProbeConfig:
    """The online linear probe (:class:`sspd.engine.online_probe.OnlineProbe`): every N optimiser steps, a linear head
    on the online backbone's detached pooled features of the step's batch is scored, then trained, against
    the batch's PPG labels; ``probe/loss``, ``probe/r``, ``probe/hr_mae_bpm`` go to the sinks. It never
    touches the networks. Batches without labels skip it (one note in the log).

    Attributes:
        every_n_steps: probe period in optimiser steps (0 = off).
        lr: the head's Adam learning rate.
        steps_per_update: Adam steps on each probed batch (after scoring it).
        target: ``"diff"`` (the label's first difference, for frame-difference inputs) or ``"pulse"``.
    """

    every_n_steps: int = 8
    lr: float = 1e-2
    steps_per_update: int = 5
    target: Literal["diff", "pulse"] = "diff"

    def __post_init__(self) -> None:
        period = self.every_n_steps
        if isinstance(period, bool) or not isinstance(period, int) or period < 0:
            raise ValueError(f"probe.every_n_steps must be an int >= 0 (0 = off), got {period!r}")
        require_positive_int("probe", steps_per_update=self.steps_per_update)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"probe.lr must be a finite number > 0, got {self.lr}")

#: Where a batch carries its per-frame PPG (B, T+1): synthetic clips "ppg", cached windows "label".
LABEL_KEYS = ("ppg", "label")


def batch_labels(batch: Mapping[str, Any]) -> Tensor | None:
    """The batch's PPG labels (B, T+1) under one of :data:`LABEL_KEYS`, or None when it has none."""
    for key in LABEL_KEYS:
        value = batch.get(key)
        if isinstance(value, Tensor) and value.ndim == 2:
            return value
    return None


def _pulse_rows(ppg: Tensor) -> Tensor:
    """(B,) bool: the rows whose label varies and is finite (a no-pulse clip's zero label has no HR)."""
    label = ppg[:, 1:].double()  # (B, T) the frames the difference targets are read from
    finite = torch.isfinite(label).all(dim=1)
    label = torch.where(torch.isfinite(label), label, torch.zeros_like(label))
    spread = label.amax(dim=1) - label.amin(dim=1)  # (B,)
    return finite & (spread > 1e-6 * label.abs().amax(dim=1))


class OnlineProbe:
    """A linear probe trained alongside pretraining on detached features: a collapse-independent view
    of whether the features carry the pulse.

    Test-then-train: :meth:`update` first scores the current head on the new batch (which it has not
    seen), then takes ``steps_per_update`` Adam steps on it. :meth:`evaluate` returns the mean of those
    scores since the last call, and resets them::

        probe = OnlineProbe(feature_dim=network.backbone.feature_dim, fs=30.0)
        # every N steps, with the window's labels (B, T+1) and the online backbone's pooled features:
        probe.update(pool_features(feature_map).detach(), batch["label"])
        sink.log_scalars(step, probe.evaluate())   # {"probe/loss", "probe/r", "probe/hr_mae_bpm", ...}

    Args:
        feature_dim: D of the features.
        fs: frame rate of the features (Hz).
        target: ``"diff"`` (default, for frame-difference inputs) or ``"pulse"``.
        lr, steps_per_update: the head's Adam rate and steps per batch.
        band: the HR band (Hz) of the spectral-peak HR in ``probe/hr_mae_bpm``.
    """

    def __init__(self, feature_dim: int, fs: float, *, target: str = "diff", lr: float = 1e-2,
                 steps_per_update: int = 5, band: tuple[float, float] = DEFAULT_BAND, seed: int = 0) -> None:
        check_fs(fs, name="OnlineProbe: fs")
        if target not in TARGETS or steps_per_update < 1:
            raise ValueError(f"OnlineProbe needs target in {TARGETS} and steps_per_update >= 1; got "
                             f"{target!r}, {steps_per_update}")
        with torch.random.fork_rng(devices=[]):  # seed the head without touching the caller's RNG
            torch.manual_seed(seed)
            self.head = LinearProbeHead(feature_dim)
        self.optimizer = torch.optim.Adam(self.head.parameters(), lr=lr)
        self.fs, self.target, self.steps, self.band = float(fs), target, steps_per_update, band
        self._scores: list[dict[str, float]] = []

    def update(self, features: Tensor, ppg: Tensor) -> None:
        """Score then train on one batch: ``features`` (B, D, T) (detached here), ``ppg`` (B, T+1) the
        labels of the windows whose T difference frames made the features."""
        features = features.detach().float().cpu()
        if features.ndim != 3 or ppg.ndim != 2 or ppg.shape != (features.shape[0], features.shape[2] + 1):
            raise ValueError(f"OnlineProbe.update needs features (B, D, T) and ppg (B, T+1), got "
                             f"{tuple(features.shape)} and {tuple(ppg.shape)}")
        target = clip_target(ppg.detach().float().cpu(), self.target)  # (B, T)
        self._scores.append(self._score(features, target))
        self.head.train()
        for _ in range(self.steps):
            loss = neg_pearson(self.head(features), target)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

    @torch.no_grad()
    def _score(self, features: Tensor, target: Tensor) -> dict[str, float]:
        from sspd.signal import estimate_hr, integrate

        pred = self.head.eval()(features)  # (B, T)
        loss = float(neg_pearson(pred, target))
        diff = self.target == "diff"
        pred, target = pred.double().numpy(), target.double().numpy()
        if diff:  # HR of the integrated signals (mean removed first, or the head's bias integrates into a ramp)
            pred, target = integrate(pred), integrate(target)
        hr_pred = np.atleast_1d(estimate_hr(pred, self.fs, "fft", self.band, integrated=diff))  # as predict
        hr_true = np.atleast_1d(estimate_hr(target, self.fs, "fft", self.band))
        return {"loss": loss, "r": 1.0 - loss, "hr_mae_bpm": float(np.mean(np.abs(hr_pred - hr_true)))}

    def evaluate(self) -> dict[str, float]:
        """Mean scores since the last call as ``probe/<name>`` scalars (NaN before any update); resets."""
        if not self._scores:
            return {"probe/loss": math.nan, "probe/r": math.nan, "probe/hr_mae_bpm": math.nan,
                    "probe/batches": 0.0}
        out = {f"probe/{k}": float(np.mean([s[k] for s in self._scores])) for k in self._scores[0]}
        out["probe/batches"] = float(len(self._scores))
        self._scores = []
        return out


class LoopProbe(RunObserver):
    """The loop's side of :class:`OnlineProbe`, an observer of the run: when to probe, which clips, its
    state (the checkpoint's ``"probe"``).

    Args:
        config: the run config's ``probe`` section (every_n_steps >= 1, lr, steps_per_update, target).
        feature_dim: D of the online backbone's pooled features.
        fs: frame rate of the clips (Hz) (the run's ``RunFacts.fps``).
        frames: difference frames T per clip; must cover one period of the HR band's low edge.
        band: the HR band in Hz of ``probe/hr_mae_bpm`` (the run's ``RunFacts.band``).
        seed: the run seed (the head's initialisation derives its own seed from it).
    """

    state_key = "probe"

    def __init__(self, config: Any, *, feature_dim: int, fs: float, frames: int,
                 band: tuple[float, float] = DEFAULT_BAND, seed: int) -> None:
        if config.every_n_steps < 1:
            raise ValueError(f"LoopProbe needs probe.every_n_steps >= 1, got {config.every_n_steps}: "
                             "build none when the probe is off (0)")
        check_band_period(frames, fs, band, what="the online probe", off="probe.every_n_steps=0")
        self.every_n_steps, self.feature_dim, self.target = config.every_n_steps, feature_dim, config.target
        self.online_probe = OnlineProbe(feature_dim, fs, target=config.target, lr=config.lr,
                                        steps_per_update=config.steps_per_update, band=band,
                                        seed=derive_seed(seed, "online_probe") % 2**32)
        self._noted_unlabelled = False

    @classmethod
    def factory(cls, config: Any) -> ObserverFactory | None:
        """The observer factory of a run's ``probe`` section (None when the probe is off)."""
        if not config.every_n_steps:
            return None
        return lambda context: cls(config, feature_dim=context.feature_dim, fs=context.facts.fps,
                                   frames=context.facts.frames, band=context.facts.band, seed=context.seed)

    def after_step(self, step: int, seen: CapturedOutputs | None, labels_hr: Tensor | None,
                   trainer: Any) -> tuple[dict[str, float], str]:
        """The probe's step on the step's captured features and their batch's labels (never stops the run)."""
        if seen is None:
            return {}, ""
        return self.step(step, seen.pooled, seen.ppg), ""

    def due(self, done: int) -> bool:
        """Whether the step that brought the run to ``done`` optimiser steps is a probe step."""
        return done % self.every_n_steps == 0

    def step(self, done: int, pooled: Tensor | None, ppg: Tensor | None) -> dict[str, float]:
        """Score then train the head on this step's clips when due; their ``probe/`` scalars, else {}.

        Args:
            done: optimiser steps done, this one included.
            pooled: (B, D, T) the online backbone's pooled features of the step's (last) micro-batch.
            ppg: (B, T+1) that micro-batch's labels (:func:`batch_labels`), or None.
        """
        if not self.due(done) or pooled is None:
            return {}
        if ppg is None:
            self._note_unlabelled()
            return {}
        features, labels = self._labelled_clips(pooled, ppg)
        if labels.shape[0] == 0:
            log.debug("online probe: no clip of step %d has a varying label; skipped", done)
            return {}
        try:
            self.online_probe.update(features, labels)
        except ValueError as err:  # a flat head output (collapsed features) has no HR: note it, go on
            log.warning("online probe skipped at step %d: %s", done, err)
            return {}
        return {**self.online_probe.evaluate(), "probe/clips": float(labels.shape[0])}

    def _note_unlabelled(self) -> None:
        if not self._noted_unlabelled:
            log.info("online probe: the batches carry no labels (%s), so the probe is skipped; set "
                     "probe.every_n_steps=0 to silence this", " or ".join(repr(k) for k in LABEL_KEYS))
            self._noted_unlabelled = True

    def _labelled_clips(self, pooled: Tensor, ppg: Tensor) -> tuple[Tensor, Tensor]:
        """Features (B', D, T) and labels (B', T+1) of the finite clips with a varying label."""
        if pooled.ndim != 3 or pooled.shape[1] != self.feature_dim:
            raise ValueError(f"online probe: pooled features must be (B, {self.feature_dim}, T), got "
                             f"{tuple(pooled.shape)}")
        if ppg.shape != (pooled.shape[0], pooled.shape[2] + 1):
            raise ValueError(f"online probe: the batch's labels {tuple(ppg.shape)} do not match its pooled "
                             f"features {tuple(pooled.shape)}: labels (B, T+1) for features (B, D, T) are "
                             "needed (a backbone that changes T cannot be probed: set probe.every_n_steps=0)")
        features = pooled.detach().float().cpu()  # (B, D, T)
        labels = ppg.detach().float().cpu()  # (B, T+1)
        keep = _pulse_rows(labels) & torch.isfinite(features).flatten(1).all(dim=1)  # (B,)
        return features[keep], labels[keep]

    def state_dict(self) -> dict[str, Any]:
        """The head and its optimiser (the checkpoint's ``"probe"`` entry)."""
        return {"feature_dim": self.feature_dim, "target": self.target,
                "head": self.online_probe.head.state_dict(),
                "optimizer": self.online_probe.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; raises ValueError if it is another probe's."""
        missing = {"feature_dim", "target", "head", "optimizer"} - set(state)
        if missing:
            raise ValueError(f"online-probe state lacks {sorted(missing)}; give it what LoopProbe.state_dict() "
                             "returned")
        if (state["feature_dim"], state["target"]) != (self.feature_dim, self.target):
            raise ValueError(f"online-probe state is for D={state['feature_dim']}, target {state['target']!r}; "
                             f"this run's probe has D={self.feature_dim}, target {self.target!r}: keep "
                             "probe.target as it was when resuming")
        self.online_probe.head.load_state_dict(state["head"])
        self.online_probe.optimizer.load_state_dict(state["optimizer"])
