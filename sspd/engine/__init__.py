"""The engine: the network, one training step for any objective (sspd.objectives), the paper preset.

    trainer = build_sspd_training(PAPER_PRESET, seed=0)
    scalars = trainer.train_step({"video": clips, "fps": 30.0}, step=i, total_steps=n)

``scalars`` is a dict of detached named scalars (total, rpd, pyr/l0 … snr/l2, momentum, lr); the
training loop (checkpoints, sinks, schedules, guards, seeding, DDP) builds on it.
"""
from sspd.engine.network import SSPD_BACKBONE_DEFAULTS, SSPDNetwork, SSPDOutputs, create_sspd_network
from sspd.objectives.sspd import (PredictorLossTerms, SSPDLossWeights, SSPDObjectiveConfig, frame_rates,
                                   predictor_loss, predictor_loss_terms, sspd_objective)
from sspd.engine.presets import PAPER_PRESET, SSPDRecipe, build_sspd_training
from sspd.engine.step import SSPDTrainStep, TrainStep, check_batch
# the training-loop infrastructure
from sspd.engine.checkpoint import MANAGER_KEY, CheckpointManager, latest, load_checkpoint, save_checkpoint
from sspd.engine.distributed import (all_ranks_true, all_reduce_mean, barrier, broadcast_object, get_rank,
                                     get_world_size, init_distributed_from_env, is_main_process,
                                     maybe_convert_sync_batchnorm, shard_indices)
from sspd.engine.guards import NonFiniteGuard, NonFiniteLossError, find_nonfinite_grads, find_nonfinite_terms
from sspd.engine.schedules import SCHEDULES, constant_lr, cosine_lr, lr_at, onecycle_lr, set_lr
from sspd.engine.seeding import derive_seed, make_generator, rng_state, seed_everything, set_rng_state
from sspd.engine.sinks import (JSONLSink, MultiSink, Sink, TensorBoardSink, render_map_image,
                               render_wave_image, scalars_to_floats)
# the training loop and what reads its run directory
from sspd.engine.loop import STOP_REASONS, LoopResult, resolve_device, run_pretraining
from sspd.engine.pretrained import load_pretrained
from sspd.engine.run_dir import CHECKPOINT_FORMAT, build_network, network_spec

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
    "SSPDTrainStep",
    "TrainStep",
    "check_batch",
    "SSPDRecipe",
    "PAPER_PRESET",
    "build_sspd_training",
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
    "derive_seed", "seed_everything", "make_generator", "rng_state", "set_rng_state",
    # distributed
    "get_rank", "get_world_size", "is_main_process", "init_distributed_from_env", "barrier",
    "all_reduce_mean", "all_ranks_true", "broadcast_object", "maybe_convert_sync_batchnorm", "shard_indices",
    # the loop
    "run_pretraining", "LoopResult", "STOP_REASONS", "resolve_device", "load_pretrained", "CHECKPOINT_FORMAT",
    "build_network", "network_spec",
]
