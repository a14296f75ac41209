"""Every watcher of a run is an observer with its own checkpoint key: the collapse monitor ("monitor"), the
health check ("health"), the online probe ("probe"); each resumes exactly from its key, checkpoints written
before the health check had its key (the old layout, "monitor" and "probe" only) still resume exactly, and
the run writer refuses observers whose keys clash."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.diagnostics.watch import CollapseConfig, HealthWatch
from sspd.engine import LoggingConfig, LoopConfig, RunContext, RunObserver, load_checkpoint, save_checkpoint
from sspd.engine.facts import RunFacts
from sspd.engine.runfiles.run_writer import RunWriter

TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=8",
        "loop.batch_size=4", "loop.checkpoint_every=2", "loop.max_steps=4", "collapse.every_n_steps=2",
        "collapse.min_clips=4", "collapse.health_clips=2", "collapse.health_seconds=2.0", "probe.every_n_steps=2",
        "logging.images_every_n_steps=2", "logging.histograms_every_n_steps=2", "loop.channels_last=false"]


def _config(run_dir: Path, *overrides: str) -> RunConfig:
    return load_config(RunConfig, None, [*TINY, f"run_dir={run_dir}", *overrides])


def _lines(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "time"}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _assert_same_tensors(a, b, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            _assert_same_tensors(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tensors(x, y, f"{where}/{i}")
    else:
        assert a == b or (a != a and b != b), where   # NaN == NaN here


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("full") / "run"
    assert pretrain(_config(run_dir)).stop_reason == "completed"
    return run_dir


def test_each_watcher_saves_under_its_own_key(full_run):
    checkpoint = load_checkpoint(full_run / "checkpoints" / "last.pt")
    assert {"monitor", "health", "probe"} <= set(checkpoint)
    assert checkpoint["probe"]["target"] == "diff" and "head" in checkpoint["probe"]
    assert checkpoint["health"] == json.loads((full_run / "health.json").read_text())
    assert checkpoint["health"]["step"] == 4
    lines = _lines(full_run)
    assert [r["step"] for r in lines if "probe/r" in r] == [2, 4] and [r["step"] for r in lines
                                                                         if "health/level" in r] == [2, 4]


@pytest.mark.parametrize("layout", [pytest.param("now", marks=pytest.mark.slow), "old"])
def test_resume_is_exact_from_now_and_from_the_old_checkpoint_layout(full_run, tmp_path, layout):
    run_dir = tmp_path / "part"
    assert pretrain(_config(run_dir, "loop.stop_after=2")).steps == 2
    if layout == "old":  # as written before each watcher had its key: "monitor" and "probe", no "health"
        for path in (run_dir / "checkpoints").glob("*.pt"):
            state = load_checkpoint(path)
            assert state["monitor"] is not None and state["probe"] is not None
            save_checkpoint(path, {k: v for k, v in state.items() if k != "health"})
    resumed = pretrain(_config(run_dir), resume=True)
    assert (resumed.steps, resumed.stop_reason) == (4, "completed")
    assert _lines(run_dir) == _lines(full_run)   # losses, probe, collapse and health scalars, all steps
    full = load_checkpoint(full_run / "checkpoints" / "last.pt")
    ours = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    for key in ("online", "target", "train_step", "rng", "guard", "monitor", "probe", "health"):
        _assert_same_tensors(full[key], ours[key], key)
    verdict = json.loads((run_dir / "collapse.json").read_text())
    assert verdict == json.loads((full_run / "collapse.json").read_text())


def test_a_checkpoint_whose_watchers_were_off_resumes_them_afresh(tmp_path, caplog):
    run_dir = tmp_path / "run"
    pretrain(_config(run_dir, "loop.stop_after=2", "probe.every_n_steps=0", "collapse.health=false"))
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert "probe" not in state and "health" not in state and state["monitor"] is not None
    save_checkpoint(run_dir / "checkpoints" / "last.pt", {**state, "probe": None})   # the old layout's None
    with caplog.at_level(logging.INFO, logger="sspd.engine.runfiles.run_writer"):
        pretrain(_config(run_dir, "loop.stop_after=3"), resume=True)
    notes = [r.getMessage() for r in caplog.records if "starts afresh" in r.getMessage()]
    assert len(notes) == 2 and any("'probe'" in n for n in notes) and any("'health'" in n for n in notes)
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == 3


def test_the_health_watch_restores_its_verdict_from_its_key_else_from_health_json(tmp_path):
    context = RunContext(run_dir=tmp_path, facts=RunFacts(fps=30.0, frames=48, input_size=16, box_size=20),
                         total_steps=4, seed=0)
    (tmp_path / "health.json").write_text(json.dumps({"step": 2, "verdict": "learning"}))
    old = HealthWatch(CollapseConfig(), context)
    old.on_resume()   # a checkpoint without "health"
    assert old.health == {"step": 2, "verdict": "learning"}
    new = HealthWatch(CollapseConfig(), context)
    new.load_state_dict({"step": 4, "verdict": "not learning", "value": None})
    new.on_resume()
    assert new.state_dict() == {"step": 4, "verdict": "not learning", "value": None}
    assert HealthWatch.factory(CollapseConfig(health=False)) is None
    assert HealthWatch(CollapseConfig(), context).state_dict() is None   # before the first check


def test_the_writer_refuses_observers_with_clashing_keys(tmp_path):
    class Keyed(RunObserver):
        def __init__(self, key):
            self.state_key = key

    def writer(*keys):
        return RunWriter(tmp_path, record={}, network={}, loop=LoopConfig(), logging=LoggingConfig(), fps=30.0,
                         total_steps=4, steps_per_epoch=2, rank=1, observers=[Keyed(k) for k in keys])

    assert [o.state_key for o in writer("probe", "monitor", None, None).observers] == ["probe", "monitor",
                                                                                       None, None]
    with pytest.raises(ValueError, match=r"\['probe'\] clash"):
        writer("probe", "probe")
    with pytest.raises(ValueError, match=r"\['online'\] clash"):
        writer("online")
