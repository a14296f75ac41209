import hashlib
import os
import random

import numpy as np
import pytest
import torch

from sspd.engine.seeding import (derive_seed, deterministic_kernels, make_generator, rng_state, seed_everything,
                                 set_rng_state)


def _draws(generators: dict | None = None) -> list[float]:
    """One draw from every global generator and each named one."""
    values = [random.random(), float(np.random.rand()), float(torch.rand(()))]
    for generator in (generators or {}).values():
        if isinstance(generator, torch.Generator):
            values.append(float(torch.rand((), generator=generator)))
        else:
            values.append(float(generator.random()))
    return values


def test_derive_seed_is_a_stable_hash_of_seed_and_keys():
    # independent reference: BLAKE2b-64 of the repr of the key tuple, top 63 bits
    digest = hashlib.blake2b(repr((7, "augment", 2)).encode(), digest_size=8).digest()
    assert derive_seed(7, "augment", 2) == int.from_bytes(digest, "little") >> 1
    seeds = {derive_seed(7), derive_seed(7, 0), derive_seed(7, "0"), derive_seed(8, 0), derive_seed(7, 0, 0)}
    assert len(seeds) == 5  # every key and its type count
    assert all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(np.int64(7), np.int32(2)) == derive_seed(7, 2)


@pytest.mark.parametrize("seed,keys,match", [
    (-1, (), "seed must be a non-negative int"),
    (1.5, (), "seed must be a non-negative int"),
    (True, (), "seed must be a non-negative int"),
    (1, (1.5,), "keys must be ints or strings"),
    (1, (None,), "keys must be ints or strings"),
])
def test_derive_seed_errors(seed, keys, match):
    with pytest.raises(ValueError, match=match):
        derive_seed(seed, *keys)


def test_seed_everything_reproduces_every_global_stream_and_separates_ranks():
    derived = seed_everything(3, rank=1)
    assert derived == derive_seed(3, "rank", 1)
    first = _draws()
    seed_everything(3, rank=1)
    assert _draws() == first
    seed_everything(3, rank=0)
    assert all(a != b for a, b in zip(_draws(), first))
    torch.manual_seed(derived)
    expected = float(torch.rand(()))
    seed_everything(3, rank=1)
    random.random()  # draws from the other streams do not shift torch's
    np.random.rand()
    assert float(torch.rand(())) == expected  # torch is seeded with exactly the returned seed
    with pytest.raises(ValueError, match="rank must be a non-negative int"):
        seed_everything(3, rank=-1)


def test_make_generator_streams_are_per_purpose_and_deterministic():
    a1 = torch.rand(50, generator=make_generator(5, "augment", 0))
    a2 = torch.rand(50, generator=make_generator(5, "augment", 0))
    other = torch.rand(50, generator=make_generator(5, "augment", 1))
    reference = torch.rand(50, generator=torch.Generator().manual_seed(derive_seed(5, "augment", 0)))
    assert torch.equal(a1, a2) and torch.equal(a1, reference)
    assert not torch.equal(a1, other)
    torch.manual_seed(0)
    untouched = torch.rand(50, generator=make_generator(5, "augment", 0))
    assert torch.equal(untouched, a1)  # independent of the global seed


def test_rng_state_round_trip_restores_every_stream():
    seed_everything(11)
    generators = {"augment": make_generator(11, "augment"), "order": np.random.default_rng(4)}
    _draws(generators)
    state = rng_state(generators)
    expected = [_draws(generators) for _ in range(3)]
    set_rng_state(state, generators)
    assert [_draws(generators) for _ in range(3)] == expected


def test_rng_state_survives_a_safe_torch_round_trip(tmp_path):
    generators = {"augment": make_generator(1, "augment"), "order": np.random.default_rng(2)}
    state = rng_state(generators)
    torch.save(state, tmp_path / "rng.pt")
    loaded = torch.load(tmp_path / "rng.pt", weights_only=True)  # plain values and tensors only
    expected = _draws(generators)
    set_rng_state(loaded, generators)
    assert _draws(generators) == expected


def test_set_rng_state_errors():
    state = rng_state({"augment": make_generator(0, "augment")})
    with pytest.raises(ValueError, match=r"holds generators \['augment'\] but \[\] were passed"):
        set_rng_state(state)
    with pytest.raises(ValueError, match=r"lacks \['cuda', 'generators'\]"):
        set_rng_state({k: state[k] for k in ("python", "numpy", "torch")})
    with pytest.raises(ValueError, match="generator 'bad' must be a torch.Generator or numpy"):
        rng_state({"bad": random.Random(0)})


def _kernel_settings() -> tuple:
    return (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG"))


def test_deterministic_kernels_on_cuda_asks_for_repeatable_kernels_and_restores_the_settings(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.backends.cudnn.benchmark = True      # a user's autotuning, to be switched off and back on
    try:
        before = _kernel_settings()
        with deterministic_kernels(torch.device("cuda")):   # sets flags only: needs no GPU
            assert _kernel_settings() == (True, True, True, False, ":4096:8")
        assert _kernel_settings()[:4] == before[:4]
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")   # a user's own workspace is kept
        with deterministic_kernels("cuda:0"):
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
        with pytest.raises(RuntimeError, match="inside"), deterministic_kernels("cuda"):
            raise RuntimeError("inside")
        assert _kernel_settings()[:4] == before[:4]   # restored when the run fails too
    finally:
        torch.backends.cudnn.benchmark = False


@pytest.mark.parametrize("device,enabled", [("cpu", True), (torch.device("cpu"), True), ("cuda", False)])
def test_deterministic_kernels_change_nothing_on_cpu_or_when_disabled(device, enabled, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = _kernel_settings()
    with deterministic_kernels(device, enabled=enabled):
        assert _kernel_settings() == before
