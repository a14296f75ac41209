"""The run configuration of ``sspd pretrain``: nested dataclasses, the only place run configs live.

    config = load_config(RunConfig, "experiments/synthetic_demo.yaml", overrides=["optim.lr=1e-3"])

Every field has a default; the defaults ARE the embedded synthetic demo (``experiments/synthetic_demo.yaml``
spells them out), so ``RunConfig()`` trains on synthetic clips generated on the fly, with no data on disk.
The library receives the sections it needs (an :class:`sspd.objectives.ObjectiveConfig`, a
:class:`sspd.augment.ViewOptions`, numbers), never the whole config object; only the loop driver
(:func:`sspd.engine.loop.run_pretraining`) reads the whole tree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from sspd.augment import ViewOptions
from sspd.data.synthetic.config import SyntheticConfig
from sspd.objectives import ObjectiveConfig
from sspd.signal import check_fs

__all__ = ["DataConfig", "ModelConfig", "OptimConfig", "ScheduleConfig", "EMAConfig", "LoopConfig",
           "LoggingConfig", "CollapseConfig", "OnlineProbeConfig", "DistributedConfig", "RunConfig"]


def _positive_int(owner: str, **values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{owner}.{name} must be an int >= 1, got {value!r}")


@dataclass
class DataConfig:
    """Where the clips come from.

    Attributes:
        source: ``"synthetic"`` (clips rendered on the fly, the embedded default) or ``"cache"`` (random
            windows of a preprocessing cache written by ``sspd preprocess``).
        cache_dir: the cache folder (needed with ``source: cache``).
        frames: difference frames T per clip; the loader reads T + 1 raw frames.
        box_size: side of the face box the views are cut from (>= model.input_size).
        clips: synthetic clips per epoch (a fixed set: clip i is the same clip every epoch).
        fps: frame rate of the synthetic clips in Hz.
        windows_per_video: random windows per cached video per epoch.
        workers: DataLoader worker processes (0 = load in the training process).
        synthetic: the synthetic generator's knobs (``source: synthetic`` only), e.g.
            ``{hr_bpm: [60, 120], pulse_amplitude: [0.001, 0.002], no_pulse: true, flicker_hz: 1.3,
            motion_periodic: 0.02}``: see :class:`sspd.data.synthetic.SyntheticConfig`.
        motion_scale, illumination_scale: multiply every motion knob, or every illumination and specular
            change knob, of ``synthetic`` (0 switches them off, 2 doubles them).
    """

    source: Literal["synthetic", "cache"] = "synthetic"
    cache_dir: str | None = None
    frames: int = 64
    box_size: int = 72
    clips: int = 256
    fps: float = 30.0
    windows_per_video: int = 8
    workers: int = 0
    synthetic: SyntheticConfig = field(default_factory=lambda: SyntheticConfig(framing="crop"))
    motion_scale: float = 1.0
    illumination_scale: float = 1.0

    def synthetic_config(self) -> SyntheticConfig:
        """The generator's config with the nuisance scales applied."""
        return self.synthetic.scale_nuisances(motion=self.motion_scale, illumination=self.illumination_scale)

    def __post_init__(self) -> None:
        if not (self.motion_scale >= 0 and self.illumination_scale >= 0):
            raise ValueError(f"data.motion_scale and data.illumination_scale must be >= 0, got "
                             f"{self.motion_scale}, {self.illumination_scale}")
        _positive_int("data", frames=self.frames, box_size=self.box_size, clips=self.clips,
                      windows_per_video=self.windows_per_video)
        if self.source == "cache" and not self.cache_dir:
            raise ValueError("data.cache_dir is required with data.source=cache: set it to the folder "
                             "`sspd preprocess` wrote")
        check_fs(self.fps, name="data.fps")
        if self.workers < 0:
            raise ValueError(f"data.workers must be >= 0, got {self.workers}")


@dataclass
class ModelConfig:
    """The SSPD network: backbone, TS stack, predictor (:func:`sspd.engine.create_sspd_network`).

    Attributes:
        backbone: registered backbone (sspdnet, physnet, physformer).
        input_size: network input side in pixels (SSPD-Net needs >= 66).
        width: channel multiplier of the backbone (1.0 = the paper's network).
        backbone_options: further keyword options of the backbone (e.g. PhysFormer's depth).
        kernel_sizes, num_heads, attention, resample: the TS stack (SSPD: 9, 7, 5; 2 heads).
        predictor_hidden: hidden width of the predictor (SSPD: 64).
    """

    backbone: str = "sspdnet"
    input_size: int = 66
    width: float = 0.25
    backbone_options: dict[str, Any] = field(default_factory=dict)
    kernel_sizes: list[int] = field(default_factory=lambda: [9, 7, 5])
    num_heads: int = 2
    attention: str = "tokens"
    resample: str = "nearest"
    predictor_hidden: int = 64

    def __post_init__(self) -> None:
        _positive_int("model", input_size=self.input_size, num_heads=self.num_heads,
                      predictor_hidden=self.predictor_hidden)
        if not self.width > 0:
            raise ValueError(f"model.width must be > 0, got {self.width}")


@dataclass
class OptimConfig:
    """The optimiser (of the online network only).

    Attributes:
        name: ``adam`` (the release) or ``adamw``.
        lr: peak learning rate; weight_decay: decay (release: 0).
        grad_clip: clip the global gradient norm to this (None: no clipping).
        accumulation: micro-batches per optimiser step (the batch is split into this many).
    """

    name: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = None
    accumulation: int = 1

    def __post_init__(self) -> None:
        _positive_int("optim", accumulation=self.accumulation)
        if not (math.isfinite(self.lr) and self.lr > 0) or self.weight_decay < 0:
            raise ValueError(f"optim.lr must be > 0 and optim.weight_decay >= 0, got {self.lr}, "
                             f"{self.weight_decay}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"optim.grad_clip must be > 0 or null (no clipping), got {self.grad_clip}")


@dataclass
class ScheduleConfig:
    """Learning-rate schedule (:func:`sspd.engine.lr_at`): constant (release), cosine, onecycle."""

    name: Literal["constant", "cosine", "onecycle"] = "constant"
    warmup_steps: int = 0
    min_lr: float = 0.0
    pct_start: float = 0.3


@dataclass
class EMAConfig:
    """The target network's EMA: per-step cosine momentum, buffer policy, mode (release: none, train)."""

    momentum_start: float = 0.9
    momentum_end: float = 1.0
    buffers: Literal["none", "copy", "ema"] = "none"
    target_mode: Literal["train", "eval"] = "train"


@dataclass
class LoopConfig:
    """Length, batch, precision, checkpoints, guards.

    Attributes:
        epochs: passes over the data; max_steps: cap on optimiser steps (None: epochs × steps/epoch).
        stop_after: end the run after this many optimiser steps as if interrupted (the schedules still
            span the whole run), leaving a checkpoint to resume from.
        batch_size: clips per optimiser step over all ranks and micro-batches (the global batch).
        precision: ``fp32`` (default), ``bf16`` (autocast; about 2x faster on CPUs with AMX-BF16,
            slower on CPUs without it) or ``fp16`` (autocast + grad scaler, CUDA only).
        channels_last: run the networks in channels_last_3d (the same values; faster 3-D convs on CPU).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        checkpoint_every: write last.pt and step_XXXXXXX.pt every N steps (and at the end).
        keep_last: step checkpoints kept.
        max_nonfinite: stop after this many consecutive skipped (non-finite) steps.
        best_metric: the scalar whose mean since the previous checkpoint selects best.pt (lower is better).
    """

    epochs: int = 4
    max_steps: int | None = 200
    stop_after: int | None = None
    batch_size: int = 4
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every: int = 100
    keep_last: int = 2
    max_nonfinite: int = 5
    best_metric: str = "total"

    def __post_init__(self) -> None:
        _positive_int("loop", epochs=self.epochs, batch_size=self.batch_size,
                      checkpoint_every=self.checkpoint_every, max_nonfinite=self.max_nonfinite)
        for name in ("max_steps", "stop_after"):
            value = getattr(self, name)
            if value is not None:
                _positive_int("loop", **{name: value})


@dataclass
class LoggingConfig:
    """What goes to TensorBoard and the JSONL, and how often (in optimiser steps)."""

    every_n_steps: int = 1
    images_every_n_steps: int = 16
    histograms_every_n_steps: int = 32
    snapshot_clips: int = 4

    def __post_init__(self) -> None:
        _positive_int("logging", every_n_steps=self.every_n_steps, images_every_n_steps=self.images_every_n_steps,
                      histograms_every_n_steps=self.histograms_every_n_steps, snapshot_clips=self.snapshot_clips)


@dataclass
class CollapseConfig:
    """Collapse monitoring while training (:class:`sspd.diagnostics.CollapseMonitor`).

    Attributes:
        enabled: run the probes.
        every_n_steps: check period in optimiser steps (between checks the batch only fills the buffer).
        warmup_fraction: checks in the first fraction of the run start no collapse streak: an untrained
            network has learned no pulse yet, which the in-band probes read as collapse.
        patience: consecutive collapsed checks of one probe that declare collapse.
        min_clips: clips the per-clip probes need (the buffer holds the recent batches).
        sensitivity: also run the input-sensitivity probes (three extra forward passes per check).
        stop: end the run when collapse is declared (stop reason "collapse").
        health: at every checkpoint and at the end, judge whether the run is learning the pulse
            (:mod:`sspd.diagnostics.health`: the online network on long clips of its own training data,
            without labels) and write RUN_DIR/health.json; the run's verdict (learning, not learning,
            collapsed) goes to collapse.json, the JSONL and TensorBoard as ``health/level`` (0, 1, 2).
        health_clips, health_seconds: the clips of that check and their length (10 s reads a rate to a
            few bpm; the check costs about one second per clip on two CPU cores).
    """

    enabled: bool = True
    every_n_steps: int = 8
    warmup_fraction: float = 0.25
    patience: int = 3
    min_clips: int = 16
    sensitivity: bool = False
    stop: bool = False
    health: bool = True
    health_clips: int = 12
    health_seconds: float = 10.0

    def __post_init__(self) -> None:
        _positive_int("collapse", every_n_steps=self.every_n_steps, patience=self.patience)
        if self.health and (self.health_clips < 2 or not self.health_seconds > 0):
            raise ValueError(f"collapse.health_clips must be >= 2 and collapse.health_seconds > 0, got "
                             f"{self.health_clips}, {self.health_seconds}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"collapse.warmup_fraction must be in [0, 1), got {self.warmup_fraction}")


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
        _positive_int("probe", steps_per_update=self.steps_per_update)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"probe.lr must be a finite number > 0, got {self.lr}")


@dataclass
class DistributedConfig:
    """Multi-process training under torchrun (gloo on CPU, NCCL on GPUs, chosen automatically).

    Attributes:
        sync_batchnorm: batch statistics over the global batch (torch supports it on CUDA only).
        backend: ``gloo``, ``nccl`` or null (choose by device).
        timeout_s: collective timeout.
    """

    sync_batchnorm: bool = False
    backend: str | None = None
    timeout_s: int = 1800


@dataclass
class RunConfig:
    """One pretraining run: every section, a seed and the run directory."""

    seed: int = 0
    run_dir: str = "runs/pretrain"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
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
    loop: LoopConfig = field(default_factory=LoopConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    collapse: CollapseConfig = field(default_factory=CollapseConfig)
    probe: OnlineProbeConfig = field(default_factory=OnlineProbeConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        if self.data.box_size < self.model.input_size:
            raise ValueError(f"data.box_size ({self.data.box_size}) must be >= model.input_size "
                             f"({self.model.input_size}): the online view is a crop of the box")
