"""Self-supervised objectives by name: each a pure function of the networks' outputs with a typed config.

    objective = build_objective("sinc", SiNCConfig())
    total, scalars = objective(online_outputs, None, fs, batch)      # (scalar with graph, {name: scalar})

An :class:`ObjectiveSpec` declares what the engine must give the objective: one view or two, a target
network (an EMA copy, built only for objectives that declare one), the outputs it reads (the TS stack runs
only when ``"hs"`` is among them), whether the predictor learns through the backbone, and labels (the
supervised control). Its ``config_type`` is the objective's own typed options: the run config's
``objective: {name: <name>, <name>: {...}}`` section is read into it (:class:`sspd.objectives.ObjectiveConfig`),
so registering an objective is all it takes to train it from a run config. The engine owns views,
networks, EMA, optimiser steps, checkpoints and logging; the objective owns its formula and config only
(docs/method.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from torch import Tensor

from sspd.models.outputs import NetworkOutputs

__all__ = ["ObjectiveSpec", "Objective", "register_objective", "unregister_objective", "get_objective",
           "list_objectives", "build_objective", "OUTPUTS", "TARGETS"]

#: what an objective may read of :class:`NetworkOutputs` (``hs`` makes the engine run the TS stack)
OUTPUTS = ("rppg", "hs", "pooled", "spatial")
#: the target networks the engine builds: none, or an EMA copy of the online network
TARGETS = (None, "ema")

#: fn(online, target or None, fs (B,) float64, batch mapping, config) -> (total, {name: detached scalar})
ObjectiveFn = Callable[[NetworkOutputs, "NetworkOutputs | None", Tensor, Mapping[str, Any], Any],
                       "tuple[Tensor, dict[str, Tensor]]"]


@dataclass(frozen=True)
class ObjectiveSpec:
    """What an objective is and what it needs from the engine.

    Attributes:
        name: the registry name (``objective.name`` in a run config; its options are the section named
            after it, hyphens as underscores).
        fn: the loss, see :data:`ObjectiveFn`.
        config_type: its typed config (a dataclass; ``config_type()`` is the default), read from the run
            config's ``objective.<name>`` section with the config loader's checks.
        views: 1 (one view per clip, given to the online network) or 2 (an online and a target view, made
            together: :func:`sspd.augment.make_views`); None: 2 with a target, else 1. Two views need a
            target; one view with a target gives the target the online view.
        target: None (no second network) or ``"ema"`` (an EMA copy of the online network, updated after
            every optimiser step; its outputs are the objective's second argument).
        outputs: the :class:`NetworkOutputs` fields the loss reads (:data:`OUTPUTS`); ``"hs"`` runs the TS
            stack (otherwise ``hs`` is empty); ``spatial`` is filled by the ST-rPPG head only.
        needs_target, uses_ts: the older spellings of ``target="ema"`` and ``"hs" in outputs`` (either
            spelling may be given; after construction both agree).
        detach_predictor: the predictor reads the detached feature map (SSPD's gradient routing).
        needs_labels: the batch must carry ``ppg`` labels (the supervised control).
        description: one line for ``--help`` and error messages.
        output_signal: what the prediction of a network trained by this objective follows, ``"pulse"`` or
            ``"diff"`` (the pulse's first difference, integrated before the HR), or a function of the
            objective's options giving it; it becomes the network's signal where a run's ``model.signal``
            is ``auto``. None: ``"pulse"``.
    """

    name: str
    fn: ObjectiveFn
    config_type: type
    views: int | None = None
    target: str | None = None
    outputs: tuple[str, ...] = ("rppg",)
    needs_target: bool = False
    uses_ts: bool = False
    detach_predictor: bool = False
    needs_labels: bool = False
    description: str = ""
    output_signal: str | Callable[[Any], str] | None = None

    def signal(self, options: Any) -> str:
        """What the prediction follows after training with ``options``: ``"pulse"`` or ``"diff"``."""
        signal = self.output_signal(options) if callable(self.output_signal) else (self.output_signal or "pulse")
        if signal not in ("pulse", "diff"):
            raise ValueError(f"ObjectiveSpec {self.name!r}: output_signal must give 'pulse' or 'diff', got {signal!r}")
        return signal

    def __post_init__(self) -> None:
        where = f"ObjectiveSpec {self.name!r}"
        target = "ema" if self.needs_target and self.target is None else self.target
        if target not in TARGETS:
            raise ValueError(f"{where}: target must be one of {TARGETS}, got {target!r}")
        views = self.views if self.views is not None else (2 if target else 1)
        if views not in (1, 2):
            raise ValueError(f"{where}: views must be 1 or 2, got {views!r}")
        if views == 2 and target is None:
            raise ValueError(f"{where}: two views need a target network (the second view is the target's): "
                             "declare target='ema', or views=1")
        outputs = tuple(self.outputs) + (("hs",) if self.uses_ts and "hs" not in self.outputs else ())
        unknown = [o for o in outputs if o not in OUTPUTS]
        if unknown or not outputs:
            raise ValueError(f"{where}: outputs must be among {OUTPUTS}, got {outputs!r}")
        if not (isinstance(self.config_type, type) and callable(self.fn)):
            raise ValueError(f"{where}: fn must be callable and config_type a class (a dataclass of options)")
        for name, value in (("target", target), ("views", views), ("outputs", outputs),
                            ("needs_target", target == "ema"), ("uses_ts", "hs" in outputs)):
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class Objective:
    """A spec bound to its config: call it with the outputs of one step."""

    spec: ObjectiveSpec
    config: Any

    @property
    def name(self) -> str:
        return self.spec.name

    def __call__(self, online: NetworkOutputs, target: NetworkOutputs | None, fs: Tensor,
                 batch: Mapping[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        if self.spec.needs_target and target is None:
            raise ValueError(f"objective {self.name!r} needs the target network's outputs, got None")
        return self.spec.fn(online, target, fs, batch, self.config)


_REGISTRY: dict[str, ObjectiveSpec] = {}


def register_objective(spec: ObjectiveSpec) -> ObjectiveSpec:
    """Add ``spec`` under ``spec.name``; raises if the name is taken."""
    if spec.name in _REGISTRY:
        raise ValueError(f"objective {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_objective(name: str) -> ObjectiveSpec:
    """Remove the objective ``name`` (e.g. one a test or a notebook registered); returns its spec; an
    unknown name raises with the valid ones."""
    spec = get_objective(name)
    del _REGISTRY[name]
    return spec


def list_objectives() -> list[str]:
    """The registered objective names, sorted."""
    return sorted(_REGISTRY)


def get_objective(name: str) -> ObjectiveSpec:
    """The spec registered as ``name``; an unknown name raises with the valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown objective {name!r}; valid objectives: {', '.join(list_objectives())}") from None


def build_objective(name: str, config: Any = None) -> Objective:
    """The objective ``name`` bound to ``config``: an instance of its ``config_type``, a mapping of its options
    (read with the config loader's checks), or None (its defaults); a wrong type raises."""
    spec = get_objective(name)
    if config is None:
        config = spec.config_type()
    elif isinstance(config, Mapping) and not isinstance(config, spec.config_type):
        from sspd.configuration import load_config

        config = load_config(spec.config_type, config)
    if not isinstance(config, spec.config_type):
        raise ValueError(f"objective {name!r} takes a {spec.config_type.__name__}, got {type(config).__name__}")
    return Objective(spec, config)
