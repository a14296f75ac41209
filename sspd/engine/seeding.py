"""Seeds for everything, and the random state a checkpoint needs for an exact resume.

One run seed drives every source of randomness. Each purpose gets its own generator, derived from the
run seed and a name, so adding draws to one (say, a new augmentation) never shifts another (the data
order):

    seed_everything(config.seed, rank=get_rank())              # python, numpy, torch global state
    augment_gen = make_generator(config.seed, "augment", rank)  # torch.Generator for the views
    state = rng_state({"augment": augment_gen})                 # → checkpoint
    set_rng_state(state, {"augment": augment_gen})              # ← on resume
    with deterministic_kernels(device):                         # CUDA kernels that repeat themselves

Derived seeds come from a stable hash (BLAKE2b of the seed and the keys), not from Python's salted
``hash``, so they are the same in every process, run and platform.
"""
from __future__ import annotations

import hashlib
import logging
import os
import random
from contextlib import contextmanager
from numbers import Integral
from typing import Any, Iterator, Mapping, Union

import numpy as np
import torch

__all__ = ["derive_seed", "seed_everything", "make_generator", "rng_state", "set_rng_state",
           "deterministic_kernels"]

log = logging.getLogger(__name__)

#: A named generator whose state a checkpoint keeps: torch's or numpy's.
Generator = Union[torch.Generator, np.random.Generator]

_SEED_BITS = 63  # fits every consumer: torch (uint64), numpy SeedSequence, Python's random


def _check_seed(seed: int, name: str = "seed") -> None:
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"{name} must be a non-negative int, got {seed!r}")


def derive_seed(seed: int, *keys: int | str) -> int:
    """A seed in [0, 2**63) derived deterministically from ``seed`` and ``keys``.

    Different keys give independent-looking seeds: ``derive_seed(s, "augment", 1)`` and
    ``derive_seed(s, "data_order")`` share nothing but the run seed. Keys are ints or strings, and
    their type counts (``1`` and ``"1"`` differ).
    """
    _check_seed(seed)
    for key in keys:
        if isinstance(key, bool) or not isinstance(key, (Integral, str)):
            raise ValueError(f"derive_seed: keys must be ints or strings, got {key!r} ({type(key).__name__})")
    text = repr((int(seed),) + tuple(k if isinstance(k, str) else int(k) for k in keys))
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> (64 - _SEED_BITS)


def seed_everything(seed: int, rank: int = 0) -> int:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and every CUDA device).

    Each rank gets its own derived seed (``derive_seed(seed, "rank", rank)``), so ranks draw different
    dropout masks and augmentations while the run as a whole stays reproducible. Model initialisation
    that must match on every rank should come from one rank (DDP broadcasts rank 0's weights).

    Returns:
        The derived seed (numpy's legacy global generator gets it modulo 2**32).
    """
    _check_seed(rank, "rank")
    derived = derive_seed(seed, "rank", rank)
    random.seed(derived)
    np.random.seed(derived % 2**32)
    torch.manual_seed(derived)  # also seeds every CUDA device
    log.debug("seeded python, numpy and torch with %d (run seed %d, rank %d)", derived, seed, rank)
    return derived


def make_generator(seed: int, *keys: int | str, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator seeded with ``derive_seed(seed, *keys)``, e.g. keys ``("augment", rank)``.

    Args:
        seed: the run seed.
        keys: what the generator is for (ints or strings), e.g. a purpose name and the rank.
        device: the generator's device ("cuda" to draw augmentation randomness on the GPU).
    """
    return torch.Generator(device=device).manual_seed(derive_seed(seed, *keys))


def rng_state(generators: Mapping[str, Generator] | None = None) -> dict[str, Any]:
    """Every random state of the process, for a checkpoint: restore it with :func:`set_rng_state`.

    Captures Python's ``random``, numpy's global generator, torch's CPU generator, every CUDA
    device's generator (when CUDA is available) and the named ``generators`` (torch or numpy).
    The result holds only tensors, ints, floats, strings, lists and dicts, so it loads with
    ``torch.load(weights_only=True)``.
    """
    version, words, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(words), gauss],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {},
    }
    for name, generator in (generators or {}).items():
        state["generators"][name] = _generator_state(name, generator)
    return state


def _generator_state(name: str, generator: Generator) -> Any:
    if isinstance(generator, torch.Generator):
        return generator.get_state()
    if isinstance(generator, np.random.Generator):
        return generator.bit_generator.state
    raise ValueError(f"rng_state: generator {name!r} must be a torch.Generator or numpy.random.Generator, "
                     f"got {type(generator).__name__}")


def set_rng_state(state: Mapping[str, Any], generators: Mapping[str, Generator] | None = None) -> None:
    """Restore what :func:`rng_state` captured, into the global generators and the named ``generators``.

    The named generators must be exactly those that were captured. CUDA states are restored for the
    devices present; a CPU-only resume of a GPU run logs a warning (the GPU draws cannot repeat).
    """
    missing = {"python", "numpy", "torch", "cuda", "generators"} - set(state)
    if missing:
        raise ValueError(f"set_rng_state: state lacks {sorted(missing)}; pass the dict rng_state() returned")
    _check_generator_names(state["generators"], generators or {})
    version, words, gauss = state["python"]
    random.setstate((version, tuple(words), gauss))
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32),
                         numpy_state["pos"], numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    _set_cuda_states(state["cuda"])
    for name, generator in (generators or {}).items():
        if isinstance(generator, torch.Generator):
            generator.set_state(state["generators"][name])
        else:
            generator.bit_generator.state = state["generators"][name]


def _check_generator_names(saved: Mapping[str, Any], given: Mapping[str, Generator]) -> None:
    if set(saved) != set(given):
        raise ValueError(f"set_rng_state: the state holds generators {sorted(saved)} but {sorted(given)} were "
                         "passed; pass the same named generators that rng_state() captured")


def _set_cuda_states(states: list[torch.Tensor]) -> None:
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if len(states) > available:
        log.warning("checkpoint has random states of %d CUDA device(s) but %d are available: GPU random "
                    "draws after resuming will differ from the original run", len(states), available)
    for device, cuda_state in enumerate(states[:available]):
        torch.cuda.set_rng_state(cuda_state, device)


@contextmanager
def deterministic_kernels(device: torch.device | str, enabled: bool = True) -> Iterator[None]:
    """Within the block, CUDA kernels that give the same result in every run, as the CPU's already do.

    Seeds alone do not make a CUDA run repeat itself: some kernels (cuDNN's autotuned convolution
    algorithms, atomic-add reductions in backward passes) sum in a different order each time, so two runs
    of the same config drift apart from the first steps and a resumed run no longer equals the
    uninterrupted one. On a CUDA ``device`` this asks torch for deterministic algorithms (``warn_only``:
    an op without one warns and runs anyway, so no run is refused), cuDNN's deterministic algorithms
    without autotuning, and a fixed cuBLAS workspace (``CUBLAS_WORKSPACE_CONFIG=:4096:8`` unless already
    set); the previous settings come back on exit. On CPU, or with ``enabled`` false, it changes nothing.
    """
    if not enabled or torch.device(device).type != "cuda":
        yield
        return
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]
