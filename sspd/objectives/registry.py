"""Self-supervised objectives by name: each a pure function of the networks' outputs with a typed config.

    objective = build_objective("sinc", SiNCConfig())
    total, scalars = objective(online_outputs, None, fs, batch)      # (scalar with graph, {name: scalar})

An :class:`ObjectiveSpec` declares what the engine must give the objective: a target network (an EMA
copy, built only for objectives that declare one), the TS stack, whether the predictor learns through
the backbone, and labels (the supervised control). The engine owns views, networks, EMA, optimiser
steps, checkpoints and logging; the objective owns its formula and config only (docs/method.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from torch import Tensor

from sspd.models.outputs import NetworkOutputs

__all__ = ["ObjectiveSpec", "Objective", "register_objective", "get_objective", "list_objectives",
           "build_objective"]

#: fn(online, target or None, fs (B,) float64, batch mapping, config) -> (total, {name: detached scalar})
ObjectiveFn = Callable[[NetworkOutputs, "NetworkOutputs | None", Tensor, Mapping[str, Any], Any],
                       "tuple[Tensor, dict[str, Tensor]]"]


@dataclass(frozen=True)
class ObjectiveSpec:
    """What an objective is and what it needs from the engine.

    Attributes:
        name: the registry name (``objective.name`` in a run config).
        fn: the loss, see :data:`ObjectiveFn`.
        config_type: its typed config (a dataclass; ``config_type()`` is the default).
        needs_target: build an EMA target network and a second (target) view.
        uses_ts: run the TS stack (its tokens fill ``NetworkOutputs.hs``).
        detach_predictor: the predictor reads the detached feature map (SSPD's gradient routing).
        needs_labels: the batch must carry ``ppg`` labels (the supervised control).
        description: one line for ``--help`` and error messages.
    """

    name: str
    fn: ObjectiveFn
    config_type: type
    needs_target: bool = False
    uses_ts: bool = False
    detach_predictor: bool = False
    needs_labels: bool = False
    description: str = ""


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
    """The objective ``name`` bound to ``config`` (its default config when None; a wrong type raises)."""
    spec = get_objective(name)
    config = spec.config_type() if config is None else config
    if not isinstance(config, spec.config_type):
        raise ValueError(f"objective {name!r} takes a {spec.config_type.__name__}, got {type(config).__name__}")
    return Objective(spec, config)
