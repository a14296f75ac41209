"""The engine: one training step for any objective (sspd.objectives), the one
optimiser step (guard, clipping, accumulation, DDP, EMA), the loop, checkpoints and the run directory.

    network = create_sspd_network("sspdnet", frames=300, input_size=128)
    trainer = TrainStep(network, torch.optim.Adam(network.parameters(), lr=1e-3), objective=build_objective("sspd"))
    stepper = OptimiserStep(trainer, total_steps=n)          # the only way from a batch to new weights
    scalars, seen = stepper.step([{"video": clips, "fps": 30.0}], i)

``scalars`` is a dict of float named scalars (total, rpd, pyr/l0 … snr/l2, grad_norm, momentum, lr);
:func:`run_pretraining` runs the same optimiser step (:class:`OptimiserStep`) epoch after epoch. The
paper's recipe is a run config, ``experiments/ubfc_sspdnet_paper.yaml``. Each section of a run config is
defined here beside the code that uses it; ``sspd.cli.config.RunConfig`` composes them.
"""
# the network lives in sspd.models; re-exported here, where it was first documented
from sspd.models import (SSPD_BACKBONE_DEFAULTS, InputSpec, ModelConfig, SSPDNetwork, SSPDOutputs, build_network,
                         create_sspd_network, network_signal, network_spec)
from sspd.objectives.sspd import (PredictorLossTerms, SSPDLossWeights, SSPDObjectiveConfig, frame_rates,
                                   predictor_loss, predictor_loss_terms, sspd_objective)
from sspd.engine.step import TrainStep, check_batch
from sspd.engine.optimiser import (PRECISIONS, OptimConfig, OptimiserStep, ScheduleConfig, build_optimizer,
                                   build_trainer, lr_schedule)
# the training-loop infrastructure
from sspd.engine.runfiles.checkpoint import MANAGER_KEY, CheckpointManager, latest, load_checkpoint, save_checkpoint
from sspd.engine.data import DataConfig, build_train_dataset
from sspd.engine.facts import RunFacts, TrainDataset, check_train_dataset
from sspd.engine.distributed import (DistributedConfig, all_ranks_true, all_reduce_mean, barrier, broadcast_object,
                                     get_rank, get_world_size, init_distributed_from_env, is_main_process,
                                     maybe_convert_sync_batchnorm, shard_indices)
from sspd.engine.guards import NonFiniteGuard, NonFiniteLossError, find_nonfinite_grads, find_nonfinite_terms
from sspd.engine.online_probe import OnlineProbeConfig
from sspd.engine.schedules import SCHEDULES, constant_lr, cosine_lr, lr_at, onecycle_lr, set_lr
from sspd.engine.seeding import (derive_seed, deterministic_kernels, make_generator, rng_state, seed_everything,
                                 set_rng_state)
from sspd.engine.runfiles.sinks import (JSONLSink, LoggingConfig, MultiSink, Sink, TensorBoardSink, render_map_image,
                                        render_wave_image, scalars_to_floats)
# the training loop and the run directory
from sspd.engine.loop import STOP_REASONS, LoopConfig, LoopResult, resolve_device, run_length, run_pretraining
from sspd.engine.pretrained import load_model, load_pretrained, load_toolbox_checkpoint
from sspd.engine.runfiles.run_dir import CHECKPOINT_FORMAT, RunRecord, Snapshot, load_run
from sspd.engine.observers import RunContext, RunObserver
from sspd.engine.runfiles.run_writer import RunWriter

__all__ = [
    "SSPDNetwork",
    "SSPDOutputs",
    "create_sspd_network",
    "SSPD_BACKBONE_DEFAULTS",
    "SSPDLossWeights",
    "SSPDObjectiveConfig",
    "PredictorLossTerms",
    "predictor_loss_terms",
    "predictor_loss",
    "frame_rates",
    "sspd_objective",
    "TrainStep",
    "check_batch",
    # the optimiser step
    "OptimiserStep", "PRECISIONS", "build_optimizer", "build_trainer", "lr_schedule",
    # the sections of a run config
    "DataConfig", "ModelConfig", "OptimConfig", "ScheduleConfig", "LoopConfig", "LoggingConfig",
    "OnlineProbeConfig", "DistributedConfig",
    # checkpoint
    "save_checkpoint", "load_checkpoint", "CheckpointManager", "latest", "MANAGER_KEY",
    # sinks
    "Sink", "JSONLSink", "TensorBoardSink", "MultiSink", "scalars_to_floats", "render_map_image",
    "render_wave_image",
    # schedules
    "SCHEDULES", "constant_lr", "cosine_lr", "onecycle_lr", "lr_at", "set_lr",
    # guards
    "NonFiniteLossError", "NonFiniteGuard", "find_nonfinite_grads", "find_nonfinite_terms",
    # seeding
    "derive_seed", "deterministic_kernels", "seed_everything", "make_generator", "rng_state", "set_rng_state",
    # distributed
    "get_rank", "get_world_size", "is_main_process", "init_distributed_from_env", "barrier",
    "all_reduce_mean", "all_ranks_true", "broadcast_object", "maybe_convert_sync_batchnorm", "shard_indices",
    # the loop and the run directory
    "run_pretraining", "run_length", "LoopResult", "STOP_REASONS", "resolve_device", "load_pretrained",
    "load_model", "load_toolbox_checkpoint", "InputSpec",
    "CHECKPOINT_FORMAT",
    "build_network", "network_spec", "network_signal", "build_train_dataset", "RunWriter", "RunObserver", "RunContext",
    "load_run", "RunRecord", "Snapshot",
    # the run's facts and the training data's protocol
    "RunFacts", "TrainDataset", "check_train_dataset",
]
