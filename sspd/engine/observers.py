"""The watchers of a pretraining run: the :class:`RunObserver` protocol, the :class:`RunContext` its
factory is given, and how the run composes them.

    factories = [CollapseWatch.factory(collapse), HealthWatch.factory(collapse), LoopProbe.factory(probe)]
    run_pretraining(..., observers=factories)      # each built on rank 0 once the run's context is known

Every watcher of a run is an observer: the online probe (:class:`sspd.engine.online_probe.LoopProbe`),
the adaptation's held-priors check (:class:`sspd.engine.adapt.HeldPriorsCheck`), and the collapse
monitor and health check of :mod:`sspd.diagnostics` (given by the caller, so the engine never imports
what sits above it). Each saves its state in every checkpoint under its own :attr:`RunObserver.state_key`
and gets it back on resume; the run's writer (:class:`sspd.engine.runfiles.run_writer.RunWriter`)
knows none of them by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch

from sspd.engine.capture import CapturedOutputs
from sspd.engine.facts import RunFacts

if TYPE_CHECKING:  # the step imports the online probe, an observer: importing it here would be a cycle
    from sspd.engine.step import TrainStep

__all__ = ["RunContext", "RunObserver", "ObserverFactory"]


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """What an observer of a run may need to know, given to its factory on rank 0.

    Attributes:
        run_dir: the run directory; facts: the run's :class:`sspd.engine.facts.RunFacts` (frame rate,
        frames, input size, band, view), the same the loop gives the snapshots; total_steps: optimiser
        steps of the run; seed: the run seed; dataset: the training dataset (for observers that draw clips
        of their own); feature_dim: D of the online backbone's pooled features (0: not known).
    """

    run_dir: Path
    facts: RunFacts
    total_steps: int
    seed: int
    dataset: Any = None
    feature_dim: int = 0

    @property
    def fps(self) -> float:
        """The clips' frame rate in Hz (``facts.fps``)."""
        return self.facts.fps

    @property
    def frames(self) -> int:
        """Difference frames T per clip (``facts.frames``)."""
        return self.facts.frames

    @property
    def input_size(self) -> int:
        """The network's input side (``facts.input_size``)."""
        return self.facts.input_size


class RunObserver:
    """Watches a run from rank 0; every method has a do-nothing default.

    ``after_step`` sees every step's captured outputs (with the labels of their batch,
    :attr:`CapturedOutputs.ppg`) and returns (scalars to log, a stop message or "");
    ``at_checkpoint`` runs at every checkpoint step and at the last step and returns scalars to log;
    ``state_dict``/``load_state_dict`` go to the checkpoint under :attr:`state_key` (None: no state; a
    checkpoint without the key, or None under it, leaves the observer as built); ``on_resume`` runs after
    a resumed run's checkpoint is loaded. A run an observer stops ends with the observer's
    :attr:`stop_reason`. ``restart_request`` (read after a checkpoint step's ``at_checkpoint``) may ask
    for the network to start over from new initial weights; the loop then restarts it and calls every
    observer's ``on_restart``.
    """

    state_key: str | None = None
    #: the run's stop reason when this observer ends it
    stop_reason: str = "collapse"

    def after_step(self, step: int, seen: CapturedOutputs | None, labels_hr: torch.Tensor | None,
                   trainer: "TrainStep") -> tuple[dict[str, float], str]:
        return {}, ""

    def at_checkpoint(self, step: int, trainer: "TrainStep") -> dict[str, float]:
        return {}

    def state_dict(self) -> Any:
        return None

    def load_state_dict(self, state: Any) -> None:
        return None

    def on_resume(self) -> None:
        return None

    def restart_request(self) -> str:
        """Why the network should start over from new initial weights now ("" when it should not)."""
        return ""

    def on_restart(self, step: int) -> None:
        """The network started over after ``step`` from new initial weights."""
        return None


#: builds an observer on rank 0 once the run's context is known
ObserverFactory = Callable[[RunContext], RunObserver]
