import argparse
import os
import pickle

import pytest
import torch
from torch import nn

from sspd.engine.runfiles import checkpoint as checkpoint_module
from sspd.engine.runfiles.checkpoint import (MANAGER_KEY, CheckpointManager, latest, load_checkpoint, load_latest,
                                             save_checkpoint)
from sspd.engine.guards import NonFiniteGuard
from sspd.engine.seeding import make_generator, rng_state, seed_everything, set_rng_state

_DATA = torch.linspace(-1, 1, 64 * 6).reshape(64, 6)  # (N, 6) fixed inputs


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, generators: dict, steps: int) -> list[float]:
    """Steps drawing from every random source: data order (named), augmentation (named), dropout (global)."""
    losses = []
    for _ in range(steps):
        batch = _DATA[torch.randperm(64, generator=generators["order"])[:8]]                  # (8, 6)
        batch = batch + 0.1 * torch.randn(batch.shape, generator=generators["augment"])
        loss = (model(batch).squeeze(1) - batch.sum(1)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _setup(seed: int) -> tuple[nn.Module, torch.optim.Optimizer, dict]:
    seed_everything(seed)
    model = _model()
    generators = {"order": make_generator(seed, "order"), "augment": make_generator(seed, "augment")}
    return model, torch.optim.Adam(model.parameters(), lr=1e-2), generators


def _snapshot(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    params = {k: v.clone() for k, v in model.state_dict().items()}
    adam = {i: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
            for i, s in optimizer.state_dict()["state"].items()}
    return params, adam


def test_save_mutate_load_restores_model_and_adam_state(tmp_path):
    model, optimizer, generators = _setup(0)
    _train(model, optimizer, generators, 3)
    saved_params, saved_adam = _snapshot(model, optimizer)
    path = save_checkpoint(tmp_path / "run" / "ck.pt", {"model": model.state_dict(),
                                                         "optimizer": optimizer.state_dict(), "step": 3})
    _train(model, optimizer, generators, 2)  # mutate
    assert not torch.equal(model.state_dict()["0.weight"], saved_params["0.weight"])
    state = load_checkpoint(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    params, adam = _snapshot(model, optimizer)
    assert state["step"] == 3
    assert all(torch.equal(params[k], saved_params[k]) for k in saved_params)
    for index, entry in saved_adam.items():
        assert torch.equal(adam[index]["exp_avg"], entry["exp_avg"])
        assert torch.equal(adam[index]["exp_avg_sq"], entry["exp_avg_sq"])
        assert float(adam[index]["step"]) == float(entry["step"]) == 3.0


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    model, optimizer, generators = _setup(7)
    uninterrupted = _train(model, optimizer, generators, 8)

    model, optimizer, generators = _setup(7)
    first_half = _train(model, optimizer, generators, 4)
    guard = NonFiniteGuard()
    save_checkpoint(tmp_path / "ck.pt", {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                         "rng": rng_state(generators), "guard": guard.state_dict(),
                                         "config": {"lr": 1e-2, "sizes": [6, 16]}, "step": 4})
    model, optimizer, generators = _setup(99)  # a fresh process: other weights, other random state
    state = load_checkpoint(tmp_path / "ck.pt")  # weights_only: the whole state is plain data
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"], generators)
    second_half = _train(model, optimizer, generators, 4)
    assert first_half + second_half == uninterrupted  # exactly, on CPU


def test_an_interrupted_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", {"step": 1, "w": torch.ones(3)})

    def crash(src, dst):  # the process dies after the temporary file is written, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]  # the temporary file was cleaned up


def test_a_temporary_file_left_by_a_killed_process_is_ignored_and_removed(tmp_path):
    manager = CheckpointManager(tmp_path, every_n_steps=1)
    manager.save(1, {"step": 1})
    (tmp_path / ".last.pt.x1y2.tmp").write_bytes(b"half a checkpoint")  # what a SIGKILL mid-write leaves
    assert latest(tmp_path) == tmp_path / "last.pt"
    assert load_checkpoint(latest(tmp_path))["step"] == 1
    CheckpointManager(tmp_path, every_n_steps=1)
    assert sorted(os.listdir(tmp_path)) == ["last.pt", "step_0000001.pt"]


def test_load_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt does not exist"):
        load_checkpoint(missing)
    good = save_checkpoint(tmp_path / "good.pt", {"w": torch.arange(1000.0)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.pt cannot be read.*truncated or corrupt"):
        load_checkpoint(truncated)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="text.pt cannot be read"):
        load_checkpoint(tmp_path / "text.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="list.pt holds a list, not a dict"):
        load_checkpoint(tmp_path / "list.pt")
    with pytest.raises(ValueError, match="must be a dict"):
        save_checkpoint(tmp_path / "x.pt", [1, 2])


def test_manager_writes_periodic_last_and_pruned_step_files(tmp_path):
    manager = CheckpointManager(tmp_path / "ck", every_n_steps=2, keep_last=2)
    written = {step: manager.save(step, {"step": step}) for step in range(8)}
    assert written[1] == [] and written[0] == []
    assert [p.name for p in written[6]] == ["last.pt", "step_0000006.pt"]
    assert [p.name for p in manager.save(7, {"step": 7}, final=True)] == ["last.pt", "step_0000007.pt"]
    assert sorted(os.listdir(tmp_path / "ck")) == ["last.pt", "step_0000006.pt", "step_0000007.pt"]
    assert load_checkpoint(tmp_path / "ck" / "last.pt")["step"] == 7
    assert load_checkpoint(tmp_path / "ck" / "step_0000006.pt")["step"] == 6


def test_manager_keep_last_none_keeps_all_and_zero_keeps_only_last(tmp_path):
    every = CheckpointManager(tmp_path / "all", every_n_steps=1, keep_last=None)
    for step in range(1, 5):
        every.save(step, {"step": step})
    assert len(list((tmp_path / "all").glob("step_*.pt"))) == 4
    only_last = CheckpointManager(tmp_path / "last", every_n_steps=1, keep_last=0)
    for step in range(1, 5):
        only_last.save(step, {"step": step})
    assert sorted(os.listdir(tmp_path / "last")) == ["last.pt"]


@pytest.mark.parametrize("mode,values,best_step", [
    ("min", [3.0, 2.0, 2.5, 1.0, float("nan"), 1.5], 3),
    ("max", [0.1, 0.4, 0.3, 0.2, float("nan"), 0.35], 1),
])
def test_manager_best_by_metric(tmp_path, mode, values, best_step):
    manager = CheckpointManager(tmp_path, every_n_steps=100, metric="val/mae", mode=mode)
    for step, value in enumerate(values):
        manager.save(step, {"step": step}, metrics={"val/mae": value, "other": 0.0})
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["step"] == best_step
    assert best[MANAGER_KEY]["best_value"] == values[best_step] == manager.best_value
    assert sorted(os.listdir(tmp_path)) == ["best.pt"]  # no step was due


def test_manager_state_round_trip_keeps_the_best_value(tmp_path):
    manager = CheckpointManager(tmp_path, every_n_steps=1, metric="loss")
    manager.save(1, {"step": 1}, metrics={"loss": 0.5})
    resumed = CheckpointManager(tmp_path, every_n_steps=1, metric="loss")
    resumed.load_state_dict(load_checkpoint(latest(tmp_path))[MANAGER_KEY])
    assert [p.name for p in resumed.save(2, {"step": 2}, metrics={"loss": 0.7})] == ["last.pt", "step_0000002.pt"]
    assert load_checkpoint(tmp_path / "best.pt")["step"] == 1
    other = CheckpointManager(tmp_path, every_n_steps=1, metric="acc", mode="max")
    other.load_state_dict(load_checkpoint(tmp_path / "best.pt")[MANAGER_KEY])  # another metric: reset
    assert other.best_value is None


def test_latest_prefers_last_then_the_highest_step(tmp_path):
    assert latest(tmp_path) is None
    save_checkpoint(tmp_path / "step_0000010.pt", {"step": 10})
    save_checkpoint(tmp_path / "step_0000002.pt", {"step": 2})
    save_checkpoint(tmp_path / "step_10000000.pt", {"step": 10_000_000})
    assert latest(tmp_path).name == "step_10000000.pt"
    save_checkpoint(tmp_path / "last.pt", {"step": 11})
    assert latest(tmp_path).name == "last.pt"
    with pytest.raises(FileNotFoundError, match="missing does not exist"):
        latest(tmp_path / "missing")


@pytest.mark.parametrize("kwargs,match", [
    ({"every_n_steps": 0}, "every_n_steps must be an int >= 1"),
    ({"every_n_steps": 1.5}, "every_n_steps must be an int >= 1"),
    ({"every_n_steps": 1, "keep_last": -1}, "keep_last must be an int >= 0 or None"),
    ({"every_n_steps": 1, "mode": "avg"}, "mode must be 'min' or 'max'"),
])
def test_manager_argument_errors(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        CheckpointManager(tmp_path, **kwargs)


def test_manager_save_errors(tmp_path):
    manager = CheckpointManager(tmp_path, every_n_steps=1, metric="val/mae")
    with pytest.raises(ValueError, match=r"metrics lack 'val/mae'.*\['loss'\]"):
        manager.save(1, {}, metrics={"loss": 1.0})
    with pytest.raises(ValueError, match="step must be an int >= 0"):
        manager.save(-1, {})
    with pytest.raises(ValueError, match=r"lacks \['best_step', 'best_value'\]"):
        manager.load_state_dict({"metric": "val/mae", "mode": "min"})


def test_files_that_are_not_sspd_checkpoints_say_so(tmp_path):
    (tmp_path / "notes.pt").write_text("hello")  # once a KeyError from torch.load
    pickle.dump({"w": [1.0]}, open(tmp_path / "pickled.pt", "wb"))  # a plain pickle, not torch.save
    torch.save({"args": argparse.Namespace(lr=1.0)}, tmp_path / "objects.pt")  # Python objects: not weights-only
    torch.save(torch.zeros(2), tmp_path / "tensor.pt")
    for name in ("notes.pt", "pickled.pt", "objects.pt", "tensor.pt"):
        with pytest.raises(ValueError, match=rf"{name}.*it is not an sspd checkpoint"):
            load_checkpoint(tmp_path / name)


def test_load_latest_falls_back_to_the_newest_readable_step_file(tmp_path, caplog):
    manager = CheckpointManager(tmp_path, every_n_steps=1, keep_last=None)
    for step in (1, 2, 3):
        manager.save(step, {"step": step, "w": torch.arange(500.0)})
    for name in ("last.pt", "step_0000003.pt"):  # a full disk truncated the newest two
        path = tmp_path / name
        path.write_bytes(path.read_bytes()[:100])
    path, state = load_latest(tmp_path)
    assert path.name == "step_0000002.pt" and state["step"] == 2
    assert "last.pt cannot be read" in caplog.text and "resuming from" in caplog.text
    for name in ("step_0000001.pt", "step_0000002.pt"):
        (tmp_path / name).write_bytes(b"PK\x03\x04broken")
    with pytest.raises(ValueError, match="no readable checkpoint in .*step_0000001.pt cannot be read"):
        load_latest(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_latest(empty) is None
