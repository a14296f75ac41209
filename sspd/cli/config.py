"""The run configuration of ``sspd pretrain``: the typed sections of the library, composed into one tree.

    config = load_config(RunConfig, "experiments/synthetic_demo.yaml", overrides=["optim.lr=1e-3"])
    result = sspd.cli.pretrain.pretrain(config)          # run_pretraining(**config.sections(), ...)

Every section is defined beside the code that uses it (:class:`sspd.engine.DataConfig`,
:class:`sspd.engine.ModelConfig`, :class:`sspd.augment.ViewOptions`, :class:`sspd.objectives.ObjectiveConfig`,
:class:`sspd.engine.OptimConfig`, :class:`sspd.engine.ScheduleConfig`, :class:`sspd.ema.EMAConfig`,
:class:`sspd.engine.LoopConfig`, :class:`sspd.engine.LoggingConfig`, :class:`sspd.diagnostics.CollapseConfig`,
:class:`sspd.engine.OnlineProbeConfig`, :class:`sspd.engine.DistributedConfig`,
:class:`sspd.engine.adapt.AdaptConfig`); this module only composes
them, so no library function takes the whole tree. Every field has a default; the defaults ARE the
embedded synthetic demo (``experiments/synthetic_demo.yaml`` spells them out), so ``RunConfig()`` trains
on synthetic clips generated on the fly, with no data on disk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sspd.augment import ViewOptions
from sspd.configuration import config_to_dict
from sspd.diagnostics.watch import CollapseConfig, CollapseWatch, HealthWatch
from sspd.ema.pair import EMAConfig
from sspd.engine.adapt import AdaptConfig
from sspd.engine.data import DataConfig
from sspd.engine.distributed import DistributedConfig
from sspd.engine.loop import LoopConfig
from sspd.models.network import ModelConfig, network_spec
from sspd.engine.online_probe import OnlineProbeConfig
from sspd.engine.optimiser import OptimConfig, ScheduleConfig
from sspd.engine.runfiles.sinks import LoggingConfig
from sspd.objectives import ObjectiveConfig

__all__ = ["DataConfig", "ModelConfig", "OptimConfig", "ScheduleConfig", "EMAConfig", "LoopConfig",
           "LoggingConfig", "CollapseConfig", "OnlineProbeConfig", "DistributedConfig", "AdaptConfig", "RunConfig"]


@dataclass
class RunConfig:
    """One pretraining run: every section, a seed and the run directory."""

    seed: int = 0
    run_dir: str = "runs/pretrain"
    # the CPU recipe trains 600 steps over 512 clips (three times the steps of its first version, whose runs
    # learned the pulse in some seeds only; experiments/reliability_study.py)
    data: DataConfig = field(default_factory=lambda: DataConfig(clips=512))
    # signal auto: the prediction follows what the objective makes it follow (SSPD: the pulse's difference)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(signal="auto"))
    # the library's default views differ from the release's in three places (the paper presets pin the
    # release's): the normalised difference with the luminance removed, a colour prior without which the
    # predictor follows light changes instead of the pulse, and a per-frame motion drawn independently for
    # each view, so that the views agree through the pulse and not the head's motion (learning_study.py)
    views: ViewOptions = field(default_factory=lambda: ViewOptions(difference="normalized", luminance="remove",
                                                                   motion_px=3.0))
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(epochs=5, max_steps=600))
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    collapse: CollapseConfig = field(default_factory=CollapseConfig)
    probe: OnlineProbeConfig = field(default_factory=OnlineProbeConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        if not str(self.run_dir).strip():
            raise ValueError(f"run_dir must name a folder, got {self.run_dir!r} (which would write into the "
                             "current folder); e.g. run_dir: runs/my_run")
        if self.data.box_size < self.model.input_size:
            raise ValueError(f"data.box_size ({self.data.box_size}) must be >= model.input_size "
                             f"({self.model.input_size}): the online view is a crop of the box")

    def network_spec(self) -> dict[str, Any]:
        """The spec that rebuilds this run's network (:func:`sspd.models.network_spec`)."""
        from sspd.engine.adapt import resolve_signal

        return network_spec(resolve_signal(self.model, self.objective), frames=self.data.frames,
                            view=self.views.inference_view())

    def build_trainer(self, network: Any) -> Any:
        """The :class:`sspd.engine.TrainStep` of this run over ``network`` (:func:`sspd.engine.build_trainer`)."""
        from sspd.engine.optimiser import build_trainer

        return build_trainer(network, optim=self.optim, ema=self.ema, objective=self.objective.build(),
                             views=self.views, seed=self.seed, channels_last=self.loop.channels_last)

    def sections(self) -> dict[str, Any]:
        """The keyword arguments of :func:`sspd.engine.run_pretraining`: every section (the objective
        built), the seed and the run directory; the collapse section becomes the run's observers (the collapse
        monitor and the health check; the loop adds the online probe of ``probe``)."""
        return {"run_dir": self.run_dir, "seed": self.seed, "data": self.data, "model": self.model,
                "views": self.views, "objective": self.objective.build(), "optim": self.optim,
                "schedule": self.schedule, "ema": self.ema, "loop": self.loop, "logging": self.logging,
                "probe": self.probe, "distributed": self.distributed, "adapt": self.adapt,
                "observers": [CollapseWatch.factory(self.collapse), HealthWatch.factory(self.collapse)],
                "record": config_to_dict(self)}
