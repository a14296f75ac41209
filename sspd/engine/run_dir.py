"""The run directory a pretraining run writes (rank 0 only), and what rebuilds a run from it.

    RUN_DIR/config.yaml          the resolved run config
    RUN_DIR/checkpoints/         last.pt, best.pt, step_XXXXXXX.pt (format "sspd-checkpoint-1")
    RUN_DIR/metrics.jsonl        one line per logged step: every named scalar, collapse probes and alarms,
                                 the online linear probe's probe/* scalars on its steps
    RUN_DIR/tb/                  TensorBoard: the same scalars, SSM/SSW images, parameter histograms
    RUN_DIR/snapshots/           step_XXXXXXX.npz at every checkpoint (see sspd.engine.snapshots)
    RUN_DIR/collapse.json        the latest collapse-monitor report
    RUN_DIR/summary.json         at the end: steps, wall time, final scalars, stop reason, output paths
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from sspd.augment import InferenceView
from sspd.engine.checkpoint import CheckpointManager, latest, load_checkpoint, load_latest
from sspd.engine.distributed import broadcast_object, get_world_size
from sspd.engine.network import SSPDNetwork, create_sspd_network
from sspd.engine.online_probe import LoopProbe
from sspd.engine.seeding import rng_state, set_rng_state
from sspd.engine.sinks import JSONLSink, MultiSink, Sink, TensorBoardSink, render_map_image, render_wave_image
from sspd.engine.snapshots import CapturedOutputs, level_maps, write_snapshot
from sspd.engine.step import SSPDTrainStep
from sspd.files import atomic_write_json

__all__ = ["CHECKPOINT_FORMAT", "network_spec", "build_network", "build_trainer", "RunWriter"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "sspd-checkpoint-1"


def network_spec(config: Any) -> dict[str, Any]:
    """What rebuilds the network with :func:`build_network`: backbone, its kwargs, the TS-stack kwargs."""
    model, data = config.model, config.data
    backbone_kwargs = {**model.backbone_options, "frames": data.frames, "input_size": model.input_size,
                       "width": model.width}
    stack = {"kernel_sizes": list(model.kernel_sizes), "num_heads": model.num_heads,
             "attention": model.attention, "resample": model.resample,
             "predictor_hidden": model.predictor_hidden}
    view = dataclasses.asdict(config.views.inference_view())
    return {"backbone": model.backbone, "backbone_kwargs": backbone_kwargs, "stack": stack, "view": view}


def build_network(spec: dict[str, Any]) -> SSPDNetwork:
    """An :class:`SSPDNetwork` from a checkpoint's ``"network"`` entry (or :func:`network_spec`).

    The spec's ``"view"`` (the inference view the network was trained on) becomes ``network.view``;
    checkpoints without one had SSPD's raw difference view.
    """
    missing = {"backbone", "backbone_kwargs", "stack"} - set(spec)
    if missing:
        raise ValueError(f"network spec lacks {sorted(missing)}; it needs backbone, backbone_kwargs and stack")
    network = create_sspd_network(spec["backbone"], **spec["stack"], **spec["backbone_kwargs"])
    network.view = InferenceView.from_dict(spec.get("view"))
    return network


def build_trainer(network: SSPDNetwork, config: Any) -> SSPDTrainStep:
    """The optimiser (Adam/AdamW over the online parameters) and the SSPDTrainStep of a run config."""
    optim, ema = config.optim, config.ema
    kind = torch.optim.AdamW if optim.name == "adamw" else torch.optim.Adam
    optimizer = kind(network.parameters(), lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)
    return SSPDTrainStep(network, optimizer, objective=config.objective.build(), views=config.views,
                         momentum_start=ema.momentum_start, momentum_end=ema.momentum_end, buffers=ema.buffers,
                         target_mode=ema.target_mode, seed=config.seed, channels_last=config.loop.channels_last)


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_json(path, obj, fsync=False, indent=2, default=float)


class RunWriter:
    """Rank 0's side of a run: config, sinks, checkpoints, snapshots, the collapse monitor, the summary.

    On other ranks it writes nothing; it still takes part in the collapse decision (broadcast from
    rank 0) so every rank stops at the same step.
    """

    def __init__(self, config: Any, *, fps: float, total_steps: int, steps_per_epoch: int, rank: int,
                 probe: LoopProbe | None = None, dataset: Any = None) -> None:
        self.config, self.fps, self.total_steps, self.rank = config, fps, total_steps, rank
        self.probe = probe
        self.dataset = dataset          # the training data, for the health check's clips
        self._health_clips: Any = None
        self.health: dict[str, Any] | None = None   # the latest health.json
        self.collapse_report: dict[str, Any] | None = None   # the monitor's latest report, as JSON
        self.steps_per_epoch = steps_per_epoch
        self.saved_step: int | None = None
        self.run_dir = Path(config.run_dir)
        self.sink: Sink = Sink()
        self.last_scalars: dict[str, float] = {}
        self._best_window: list[float] = []
        self.monitor = self._make_monitor() if rank == 0 and config.collapse.enabled else None
        self.manager = None
        if rank == 0:
            loop = config.loop
            self.manager = CheckpointManager(self.run_dir / "checkpoints", loop.checkpoint_every,
                                             keep_last=loop.keep_last, metric="best/" + loop.best_metric)

    def _make_monitor(self):
        from sspd.diagnostics import CollapseMonitor

        collapse = self.config.collapse
        warmup = int(math.ceil(collapse.warmup_fraction * self.total_steps))
        monitor = CollapseMonitor(fs=self.fps, patience=collapse.patience, min_clips=collapse.min_clips,
                               capacity=max(64, collapse.min_clips), seed=self.config.seed, warmup_steps=warmup)
        shortest = math.ceil(self.fps / monitor.band[0])  # the probes need one period of the band's low edge
        if self.config.data.frames < shortest:
            raise ValueError(f"collapse monitoring needs clips of at least {shortest} frames (one period of "
                             f"{monitor.band[0]} Hz at {self.fps:g} fps), data.frames is {self.config.data.frames}: "
                             "use longer clips or set collapse.enabled=false")
        return monitor

    def check_fresh(self) -> None:
        """Refuse to start a new run over a run directory that already holds checkpoints."""
        directory = self.run_dir / "checkpoints"
        if self.rank == 0 and directory.is_dir() and latest(directory) is not None:
            raise ValueError(f"{self.run_dir} already holds the checkpoints of a run: continue it with --resume "
                             f"{self.run_dir}, or choose another run_dir (--set run_dir=...)")

    def open_sinks(self, resume_step: int | None) -> None:
        """config.yaml, metrics.jsonl and tb/ (continuing after ``resume_step`` when resuming)."""
        if self.rank == 0:
            from sspd.configuration import save_config

            save_config(self.config, self.run_dir / "config.yaml")
        every = self.config.logging.histograms_every_n_steps
        self.sink = MultiSink([JSONLSink(self.run_dir / "metrics.jsonl", resume_step=resume_step, rank=self.rank),
                               TensorBoardSink(self.run_dir / "tb", histogram_every_n_steps=every,
                                               resume_step=resume_step, rank=self.rank)])

    # ----------------------------------------------------------------------------- checkpoints
    def checkpoint_state(self, step: int, trainer: SSPDTrainStep, guard: Any, scaler: Any) -> dict[str, Any]:
        """The checkpoint dict of the run-directory contract (format ``sspd-checkpoint-1``)."""
        from sspd.configuration import config_to_dict

        per_epoch = self.steps_per_epoch
        return {"format": CHECKPOINT_FORMAT, "step": step, "epoch": step // per_epoch,
                "config": config_to_dict(self.config), "network": network_spec(self.config),
                "online": trainer.online_network.state_dict(),
                "target": None if trainer.target_network is None else trainer.target_network.state_dict(),
                "train_step": trainer.state_dict(), "rng": rng_state(), "guard": guard.state_dict(),
                "monitor": self.monitor.state_dict() if self.monitor is not None else None,
                "probe": self.probe.state_dict() if self.probe is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "data": {"epoch": step // per_epoch, "position": step % per_epoch}}

    def restore(self, trainer: SSPDTrainStep, guard: Any, scaler: Any, path: Path | None = None) -> int:
        """Load ``path``, default the newest readable checkpoint of ``checkpoints/`` (``last.pt``, else a
        step file, with a warning), into the run (every rank); returns the step to continue from."""
        directory = self.run_dir / "checkpoints"
        if path is not None:
            path, state = Path(path), load_checkpoint(path)
        else:
            found = load_latest(directory) if directory.is_dir() else None
            if found is None:
                raise FileNotFoundError(f"cannot resume: {directory} holds no checkpoint (last.pt or "
                                        "step_XXXXXXX.pt); start a fresh run without --resume")
            path, state = found
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not an sspd pretraining checkpoint (format {state.get('format')!r}, "
                             f"expected {CHECKPOINT_FORMAT!r})")
        trainer.load_state_dict(state["train_step"])
        guard.load_state_dict(state["guard"])
        if scaler is not None and state.get("scaler") is not None:
            scaler.load_state_dict(state["scaler"])
        if self.monitor is not None and state.get("monitor") is not None:
            self.monitor.load_state_dict(state["monitor"])
        self._restore_probe(path, state.get("probe"))
        if self.manager is not None:
            self.manager.load_state_dict(state["checkpoint_manager"])
        set_rng_state(state["rng"])
        health = self.run_dir / "health.json"
        if self.rank == 0 and health.is_file():   # the verdict of collapse.json until the next health check
            self.health = json.loads(health.read_text())
        log.info("resumed from %s at step %d", path, state["step"])
        return int(state["step"])

    def _restore_probe(self, path: Path, state: dict[str, Any] | None) -> None:
        if self.probe is None:
            return
        if state is None:
            log.info("%s holds no online-probe state (the probe was off): the probe starts afresh", path)
            return
        try:
            self.probe.load_state_dict(state)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err

    # ----------------------------------------------------------------------------- every step
    def after_step(self, done: int, scalars: dict[str, float], seen: CapturedOutputs | None,
                   labels_hr: torch.Tensor | None, trainer: SSPDTrainStep, *,
                   ppg: torch.Tensor | None = None) -> str:
        """Log, monitor, probe; returns a collapse message when the run must stop.

        ``ppg`` (B, T+1): the labels of the batch ``seen`` saw, for the online probe (None: unlabelled).
        """
        self.last_scalars = dict(scalars)
        self._best_window.append(scalars.get(self.config.loop.best_metric, math.nan))
        logged = dict(scalars)
        message = ""
        if self.monitor is not None and seen is not None and seen.online is not None:
            report_scalars, message = self._monitor(done, seen, labels_hr, trainer)
            logged.update(report_scalars)
        probed = self.probe.step(done, seen.pooled if seen is not None else None, ppg) if self.probe else {}
        logged.update(probed)
        health = self._safe_health(done, trainer) if self._health_due(done) else {}
        logged.update(health)
        if self.rank == 0 and (done % self.config.logging.every_n_steps == 0 or probed or health):
            self.sink.log_scalars(done, logged)
            self._log_pictures(done, seen, trainer)
        if self.config.collapse.enabled and get_world_size() > 1:
            message = broadcast_object(message)
        return message

    def _monitor(self, done: int, seen: CapturedOutputs, labels_hr: torch.Tensor | None,
                 trainer: SSPDTrainStep) -> tuple[dict[str, float], str]:
        collapse = self.config.collapse
        predictions = seen.online.rppg
        labels = labels_hr if labels_hr is not None and labels_hr.shape[0] == predictions.shape[0] else None
        if done % collapse.every_n_steps:
            self.monitor.observe(pooled=seen.pooled, predictions=predictions, labels_hr=labels)
            return {}, ""
        ssm, ssw = level_maps(seen.online.hs[:1])[0] if seen.online.hs else (None, None)
        report = self.monitor.check(done, pooled=seen.pooled, predictions=predictions,
                                    target_predictions=seen.target.rppg if seen.target else None,
                                    ssm=ssm, ssw=ssw, labels_hr=labels)
        self.collapse_report = _report_json(report, self.monitor.warmup_steps)
        self._write_collapse_json()
        stop = report.collapse and collapse.stop
        return report.scalars(), (report.message if stop else "")

    def _log_pictures(self, done: int, seen: CapturedOutputs | None, trainer: SSPDTrainStep) -> None:
        logging_cfg = self.config.logging
        if (seen is not None and seen.online is not None and seen.online.hs
                and done % logging_cfg.images_every_n_steps == 0):
            ssm, ssw = level_maps(seen.online.hs[:1])[0]
            if bool(torch.isfinite(ssm[0]).all()):
                self.sink.log_images(done, {"ssm/online_l0": render_map_image(ssm),
                                            "ssw/online_l0": render_wave_image(ssw, fs=self.fps)})
        if done % logging_cfg.histograms_every_n_steps == 0:
            self.sink.log_histograms(done, {f"online/{n}": p for n, p in trainer.online_network.named_parameters()})

    def save(self, done: int, trainer: SSPDTrainStep, guard: Any, scaler: Any, seen: CapturedOutputs | None,
             labels_hr: torch.Tensor | None, final: bool = False) -> None:
        """Checkpoints (and a snapshot) when due at ``done`` steps, or at the end with ``final``."""
        if self.manager is None or self.saved_step == done or not (final or self.manager.is_due(done)):
            return
        self.saved_step = done
        window = [v for v in self._best_window if math.isfinite(v)]
        metrics = {"best/" + self.config.loop.best_metric: sum(window) / len(window)} if window else None
        self._best_window = []
        self.manager.save(done, self.checkpoint_state(done, trainer, guard, scaler), metrics=metrics, final=final)
        if seen is not None and seen.online is not None:
            write_snapshot(self.run_dir / "snapshots" / f"step_{done:07d}.npz", seen, fs=self.fps,
                           clips=self.config.logging.snapshot_clips, labels_hr=labels_hr)

    def _health_due(self, done: int) -> bool:
        """A health check at every checkpoint step and at the last step (rank 0, with the monitor on)."""
        collapse = self.config.collapse
        if self.manager is None or not (collapse.enabled and collapse.health) or self.dataset is None:
            return False
        return self.manager.is_due(done) or done == self.total_steps

    def _safe_health(self, done: int, trainer: SSPDTrainStep) -> dict[str, float]:
        """check_health, but a failure of the check is logged with its traceback and never ends the run."""
        try:
            return self.check_health(done, trainer)
        except Exception:  # a diagnostic must not stop days of training; the verdict stays as it was
            log.exception("step %d: the health check failed (the run goes on; its verdict is not updated); "
                          "set collapse.health=false to skip it", done)
            return {}

    def check_health(self, done: int, trainer: SSPDTrainStep) -> dict[str, float]:
        """Judge whether the online network is learning the pulse: health.json and collapse.json; returns
        the ``health/*`` scalars for this step's log line."""
        collapse = self.config.collapse
        from sspd.diagnostics.health import health_json, health_scalars
        from sspd.diagnostics.health_run import HealthClips, run_health

        if self._health_clips is None:
            self._health_clips = HealthClips.from_dataset(self.dataset, seed=self.config.seed,
                                                          n_clips=collapse.health_clips,
                                                          seconds=collapse.health_seconds,
                                                          min_frames=self.config.data.frames)
        health = run_health(trainer.online_network, self._health_clips, window=self.config.data.frames,
                            input_size=self.config.model.input_size)
        self.health = health_json(health, step=done)
        _write_json(self.run_dir / "health.json", self.health)
        self._write_collapse_json()
        emit = log.info if health.verdict == "learning" else log.warning
        emit("step %d: %s", done, health.headline())
        return health_scalars(health)

    def _write_collapse_json(self) -> None:
        """collapse.json: the monitor's last report and the run's verdict (collapsed, learning, not learning)."""
        from sspd.diagnostics.health import run_verdict

        report = dict(self.collapse_report or {})
        report.update(run_verdict(report, self.health))
        _write_json(self.run_dir / "collapse.json", report)

    def finish(self, done: int, reason: str, message: str, trainer: SSPDTrainStep, *, wall_time_s: float) -> None:
        """summary.json (rank 0)."""
        if self.rank != 0:
            return
        outputs = {name: str(self.run_dir / name) for name in
                   ("config.yaml", "checkpoints", "metrics.jsonl", "tb", "snapshots", "collapse.json",
                    "health.json")}
        _write_json(self.run_dir / "summary.json", {
            "steps": done, "total_steps": self.total_steps, "wall_time_s": wall_time_s, "stop_reason": reason,
            "message": message, "final": self.last_scalars, "finished_at": time.time(), "outputs": outputs})

    def close(self) -> None:
        self.sink.close()


def _report_json(report: Any, warmup_steps: int) -> dict[str, Any]:
    """A :class:`sspd.diagnostics.MonitorReport` as JSON: verdicts with values, bands and reasons."""
    verdicts = {}
    for name, verdict in report.verdicts.items():
        fields = getattr(verdict, "__dataclass_fields__", None)
        verdicts[name] = ({k: getattr(verdict, k) for k in fields} if fields else
                          verdict._asdict() if hasattr(verdict, "_asdict") else str(verdict))
    return {"step": report.step, "warmup_steps": warmup_steps, "probes": report.probes, "verdicts": verdicts,
            "collapse": report.collapse, "probe": report.probe, "message": report.message,
            "streaks": report.streaks}
