"""Adaptation without labels: start a run from a trained model (``model.init``) and adapt it to unlabeled
videos of a new domain with a self-supervised objective (SiNC's priors, or SSPD).

    network, spec = initial_network(ModelConfig(init="PURE_PhysNet_DiffNormalized.pth", input_size=72),
                                    frames=128, view=TOOLBOX_VIEW)
    counts = apply_adaptation(network, AdaptConfig(layers="norm"))      # what may change
    trainer.frozen_batchnorm = True                                     # AdaptConfig(batchnorm="frozen")

The run config's ``adapt`` section (:class:`AdaptConfig`) says which layers adapt (all, the normalisation
layers' affine parameters only, or the output head only), whether BatchNorm layers use the batch's
statistics and update their running ones while training (``train``) or keep the model's (``frozen``), and
when to stop without labels: every ``check_every`` steps the inference network runs on ``check_clips``
clips drawn once from the training data (unlabeled) and SiNC's bandwidth + sparsity losses of its signal
(integrated when it is a pulse difference) are logged as ``adapt/held_priors``; ``patience`` checks
without improvement end the run (stop reason ``early-stop``), and ``keep: best`` ends it with the weights
of the best check. The check clips are drawn from the training data, so the check measures how
pulse-like the output is on that domain, not accuracy on new subjects.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from sspd.augment.inference import InferenceView, prepare_view
from sspd.configuration import require_positive_int
from sspd.models.network import ModelConfig, SSPDNetwork, build_network, network_spec
from sspd.engine.observers import RunContext, RunObserver
from sspd.engine.step import TrainStep
from sspd.objectives.sinc import SiNCConfig, sinc_terms

__all__ = ["AdaptConfig", "ADAPT_LAYERS", "initial_network", "apply_adaptation", "norm_parameters",
           "check_objective_signal", "resolve_signal", "HeldPriorsCheck"]

log = logging.getLogger(__name__)

#: which parameters adapt: every one, the normalisation layers' affine ones, the output head's, or none
#: (with BatchNorm in train mode: only its statistics are re-estimated on the new domain)
ADAPT_LAYERS = ("all", "norm", "head", "none")
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)


@dataclass
class AdaptConfig:
    """How a run adapts the network it starts from (``model.init``), and when it stops, label-free.

    Attributes:
        layers: ``all`` (every parameter trains), ``norm`` (only the affine parameters of the BatchNorm,
            LayerNorm and GroupNorm layers, as in test-time entropy adaptation) or ``head`` (only the
            output: the SSPD predictor, or the backbone's own head for an rPPG-Toolbox model) or ``none``
            (no gradient step: with ``batchnorm: train`` only the BatchNorm statistics are re-estimated).
        batchnorm: ``train`` (batch statistics, running statistics updated: re-estimated on the new
            domain) or ``frozen`` (the running statistics of the start model, never updated).
        check_every: steps between label-free checks (0: none).
        check_clips: clips drawn once from the training data for the checks (at least 2).
        patience: checks without an improvement larger than ``min_delta`` that end the run (None: never).
        min_delta: the least decrease of ``adapt/held_priors`` counted as an improvement.
        keep: ``last`` (the run ends with its last weights) or ``best`` (with the online weights of the
            best check, written as the final checkpoint).
    """

    layers: Literal["all", "norm", "head", "none"] = "all"
    batchnorm: Literal["train", "frozen"] = "train"
    check_every: int = 0
    check_clips: int = 8
    patience: int | None = None
    min_delta: float = 0.0
    keep: Literal["last", "best"] = "last"

    def __post_init__(self) -> None:
        if self.layers not in ADAPT_LAYERS:
            raise ValueError(f"adapt.layers must be one of {', '.join(ADAPT_LAYERS)}, got {self.layers!r}")
        if self.batchnorm not in ("train", "frozen") or self.keep not in ("last", "best"):
            raise ValueError(f"adapt.batchnorm must be 'train' or 'frozen' and adapt.keep 'last' or 'best', got "
                             f"{self.batchnorm!r}, {self.keep!r}")
        if self.layers == "none" and self.batchnorm == "frozen":
            raise ValueError("adapt.layers=none with adapt.batchnorm=frozen changes nothing: use adapt.batchnorm=train "
                             "(re-estimate the BatchNorm statistics) or let some layers adapt")
        if isinstance(self.check_every, bool) or not isinstance(self.check_every, int) or self.check_every < 0:
            raise ValueError(f"adapt.check_every must be an int >= 0 (0: no checks), got {self.check_every!r}")
        require_positive_int("adapt", check_clips=self.check_clips)
        if self.check_clips < 2:
            raise ValueError(f"adapt.check_clips must be >= 2, got {self.check_clips}")
        if self.patience is not None:
            require_positive_int("adapt", patience=self.patience)
            if not self.check_every:
                raise ValueError("adapt.patience needs adapt.check_every > 0 (the checks it counts)")
        if not (math.isfinite(self.min_delta) and self.min_delta >= 0):
            raise ValueError(f"adapt.min_delta must be >= 0, got {self.min_delta}")
        if self.keep == "best" and not self.check_every:
            raise ValueError("adapt.keep=best needs adapt.check_every > 0 (the checks that pick the best)")


def initial_network(model: ModelConfig, *, frames: int, view: InferenceView) -> tuple[SSPDNetwork, dict[str, Any]]:
    """The run's network and its spec: built from ``model`` (random weights), or, with ``model.init``, the
    network of that file (an sspd run directory or checkpoint, or an rPPG-Toolbox state dict) with its
    weights, rebuilt for clips of ``frames`` difference frames.

    With ``model.init`` the file's architecture, output and signal are the network's; ``model.input_size``
    and the run's inference ``view`` must equal the file's (the data and the views are made for them).

    Raises:
        FileNotFoundError: no such file. ValueError: not a model file, or an input size or view that differs
            (the message names the settings to change).
    """
    if model.init is None:
        spec = network_spec(model, frames=frames, view=view)
        return build_network(spec), spec
    from sspd.engine.pretrained import load_pretrained

    start, checkpoint = load_pretrained(model.init, which="online", map_location="cpu")
    spec = copy.deepcopy(checkpoint["network"])
    size = max(start.input_size)
    if size != model.input_size:
        raise ValueError(f"model.init {model.init}: the network takes {size}x{size} inputs but model.input_size "
                         f"is {model.input_size}: set model.input_size={size} (and data.box_size >= {size})")
    if start.view != view:
        fix = " ".join(f"views.{k}={v}" for k, v in vars(start.view).items() if getattr(view, k) != v)
        raise ValueError(f"model.init {model.init}: the network was trained on the view {vars(start.view)} but "
                         f"the run's views make {vars(view)}: set {fix}")
    spec["backbone_kwargs"]["frames"] = frames
    network = build_network(spec)
    network.load_state_dict(start.state_dict(), strict=True)
    log.info("model.init: %s (%s, output %s, signal %s)", model.init, spec["backbone"], network.output,
             network.signal)
    return network, spec


def norm_parameters(network: nn.Module) -> list[nn.Parameter]:
    """The affine parameters of every BatchNorm, LayerNorm, GroupNorm and InstanceNorm layer."""
    return [p for m in network.modules() if isinstance(m, _NORMS) for p in m.parameters(recurse=False)]


def apply_adaptation(network: SSPDNetwork, adapt: AdaptConfig) -> dict[str, int]:
    """Set ``requires_grad`` as ``adapt.layers`` says (the others get no gradient and keep their values;
    ``none`` freezes every parameter, the steps then only run the forward);
    returns the number of trainable and frozen scalar parameters."""
    if adapt.layers == "all":
        chosen = list(network.parameters())
    elif adapt.layers == "norm":
        chosen = norm_parameters(network)
    elif adapt.layers == "head":
        chosen = network.output_parameters()
    else:
        chosen = []
    if not chosen and adapt.layers != "none":
        raise ValueError(f"adapt.layers={adapt.layers}: the network has no such parameters (a parameter-free "
                         "read-out has no head to adapt); choose all or norm")
    keep = {id(p) for p in chosen}
    for parameter in network.parameters():
        parameter.requires_grad_(id(parameter) in keep)
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    return {"trainable": trainable, "frozen": sum(p.numel() for p in network.parameters()) - trainable}


def resolve_signal(model: ModelConfig, objective: Any) -> ModelConfig:
    """``model`` with ``signal: auto`` replaced by what ``objective`` (an :class:`sspd.objectives.Objective`
    or ``ObjectiveConfig``) makes the prediction follow (:meth:`ObjectiveSpec.signal`); any other ``model``
    as it is."""
    if model.signal != "auto":
        return model
    spec = objective.spec
    options = objective.config if hasattr(objective, "config") else objective.options
    return dataclasses.replace(model, signal=spec.signal(options))


def check_objective_signal(network: SSPDNetwork, objective: Any) -> None:
    """Raise when a network whose signal is a pulse difference is trained on it as a pulse: SiNC must
    integrate it (``objective.sinc.signal=diff``) and the supervised control compare differences."""
    if network.signal != "diff":
        return
    name, config = objective.name, objective.config
    if name == "sinc" and config.signal != "diff":
        raise ValueError("the network's output is a pulse difference (model signal diff, e.g. an rPPG-Toolbox "
                         "model): set objective.sinc.signal=diff so SiNC's priors shape its integrated output")
    if name == "supervised" and config.target != "diff":
        raise ValueError("the network's output is a pulse difference (model signal diff): set "
                         "objective.supervised.target=diff")


def _draw_clips(dataset: Any, count: int, seed: int) -> tuple[torch.Tensor, float]:
    """``count`` clips (B, C, T+1, S, S) float of ``dataset`` (seeded indices) and their frame rate."""
    if dataset is None or len(dataset) < 1:
        raise ValueError("adapt.check_every needs a training dataset to draw check clips from")
    rng = np.random.default_rng(seed)
    indices = rng.choice(len(dataset), size=count, replace=len(dataset) < count)
    items = [dataset[int(i)] for i in indices]
    video = torch.stack([torch.as_tensor(item["video"]).float() for item in items])  # (B, C, T+1, S, S)
    rates = {float(item["fps"]) for item in items}
    if len(rates) != 1:
        raise ValueError(f"adapt checks need clips of one frame rate, got {sorted(rates)}")
    return video, rates.pop()


class HeldPriorsCheck(RunObserver):
    """The label-free check of :class:`AdaptConfig` (``check_every``, ``patience``, ``keep``)."""

    state_key = "adapt_check"
    stop_reason = "early-stop"

    def __init__(self, adapt: AdaptConfig, context: RunContext) -> None:
        self.adapt, self.total_steps = adapt, context.total_steps
        self.video, self.fs = _draw_clips(context.dataset, adapt.check_clips, context.seed + 7919)
        self.best, self.best_step, self.bad = math.inf, 0, 0
        self.best_state: dict[str, torch.Tensor] | None = None

    @classmethod
    def factory(cls, adapt: AdaptConfig):
        """An observer factory for :func:`sspd.engine.run_pretraining` (None when checks are off)."""
        return (lambda context: cls(adapt, context)) if adapt.check_every else None

    @torch.no_grad()
    def measure(self, network: SSPDNetwork) -> dict[str, float]:
        """SiNC's bandwidth and sparsity losses of the inference network's signal on the check clips."""
        was_training = network.training
        network.eval()
        try:
            device = next(network.parameters()).device
            view = prepare_view(self.video.to(device), network.input_size, network.view)  # (B, C, T, h, w)
            signal = network.predict(view).float()  # (B, T)
        finally:
            network.train(was_training)
        terms = sinc_terms(signal, self.fs, SiNCConfig(signal=network.signal, variance_weight=0.0))
        bandwidth, sparsity = float(terms["bandwidth"]), float(terms["sparsity"])
        return {"adapt/held_bandwidth": bandwidth, "adapt/held_sparsity": sparsity,
                "adapt/held_priors": bandwidth + sparsity}

    def after_step(self, step: int, seen: Any, labels_hr: Any, trainer: TrainStep) -> tuple[dict[str, float], str]:
        last = step == self.total_steps
        if step % self.adapt.check_every and not last:
            return {}, ""
        online = trainer.online_network
        scalars = self.measure(online)
        value = scalars["adapt/held_priors"]
        if value < self.best - self.adapt.min_delta:
            self.best, self.best_step, self.bad = value, step, 0
            if self.adapt.keep == "best":
                self.best_state = copy.deepcopy(online.state_dict())
        else:
            self.bad += 1
        stop = self.adapt.patience is not None and self.bad >= self.adapt.patience
        message = (f"label-free stop: the check clips' SiNC L_b + L_s has not improved for {self.bad} checks "
                   f"(best {self.best:.4f} at step {self.best_step})") if stop else ""
        if (stop or last) and self.best_state is not None and self.best_step != step:
            online.load_state_dict(self.best_state)
            log.info("adapt.keep=best: the run ends with the weights of step %d", self.best_step)
        scalars["adapt/best_step"] = float(self.best_step)
        return scalars, message

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step, "bad": self.bad, "best_state": self.best_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step, self.bad = float(state["best"]), int(state["best_step"]), int(state["bad"])
        self.best_state = state.get("best_state")
