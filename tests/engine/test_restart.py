"""A run whose health check finds it not learning starts over from new initial weights (collapse.restart_after):
as often as collapse.restarts allows (two by default), at the first check that many steps after the network
started, with the weights of a seed derived from the run seed and the step; health.json and the checkpoint
record it, a resumed run restarts exactly as an uninterrupted one, and a verdict that no restart can help (no
pulse in the clips) never restarts."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.diagnostics.report import judge_run, load_run
from sspd.diagnostics.watch import CollapseConfig, HealthWatch
from sspd.engine import load_checkpoint
from sspd.engine.adapt import initial_network, resolve_signal
from sspd.engine.seeding import derive_seed

# a tiny PhysNet checked every 2 steps on 2 health clips: it never learns in 6 steps
RESTART = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=8",
           "loop.batch_size=4", "loop.checkpoint_every=2", "loop.max_steps=6", "collapse.every_n_steps=2",
           "collapse.min_clips=4", "collapse.health_clips=2", "collapse.health_seconds=2.0", "probe.every_n_steps=0",
           "loop.channels_last=false", "collapse.restart_after=2"]


def _config(run_dir: Path, *overrides: str) -> RunConfig:
    return load_config(RunConfig, None, [*RESTART, f"run_dir={run_dir}", *overrides])


def _health(run_dir: Path) -> dict:
    return json.loads((run_dir / "health.json").read_text())


@pytest.fixture(scope="module")
def restarted(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("restart") / "run"
    assert pretrain(_config(run_dir)).stop_reason == "completed"
    return run_dir


def test_a_run_not_learning_restarts_as_often_as_the_default_allows_and_says_so(restarted):
    health = _health(restarted)
    # the tiny network is not learning at every check (6 steps); the default allows two restarts: at step 2,
    # then at step 4 (the new network's first check 2 steps after it started), never at step 6
    assert health["verdict"] != "learning" and health["step"] == 6
    assert [r["step"] for r in health["restarts"]] == [2, 4] and all(r["reason"] for r in health["restarts"])
    assert load_checkpoint(restarted / "checkpoints" / "last.pt")["health"]["restarts"] == health["restarts"]
    reasons = judge_run(load_run(restarted)).reasons   # sspd report and the demo say it too
    assert any(r.startswith("the network started over from new initial weights after step 2:") for r in reasons[:5])
    assert any(r.startswith("the network started over from new initial weights after step 4:") for r in reasons[:5])


def test_the_restart_takes_the_derived_seeds_weights_and_resumes_exactly(restarted, tmp_path, caplog):
    part = tmp_path / "part"
    with caplog.at_level(logging.WARNING, logger="sspd.engine.loop"):
        assert pretrain(_config(part, "loop.stop_after=2")).steps == 2
    assert any("starts over from new initial weights" in r.getMessage() for r in caplog.records)
    saved = load_checkpoint(part / "checkpoints" / "last.pt")
    config = _config(part)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(config.seed, "init", "restart", 2))
        model = resolve_signal(config.model, config.objective.build())
        fresh, _ = initial_network(model, frames=config.data.frames, view=config.views.inference_view())
    for name, value in fresh.state_dict().items():   # online and target both start from the new weights
        assert torch.equal(saved["online"][name], value), name
        assert torch.equal(saved["target"][name], value), name
    resumed = pretrain(config, resume=True)
    assert (resumed.steps, resumed.stop_reason) == (6, "completed")
    whole, again = (load_checkpoint(d / "checkpoints" / "last.pt") for d in (restarted, part))
    for name in whole["online"]:
        assert torch.equal(whole["online"][name], again["online"][name]), name
    assert _health(part)["restarts"] == _health(restarted)["restarts"]


def test_without_restart_after_the_run_never_restarts(tmp_path):
    run_dir = tmp_path / "plain"
    pretrain(_config(run_dir, "collapse.restart_after=0", "loop.max_steps=2"))
    health = _health(run_dir)
    assert health["verdict"] != "learning" and health["restarts"] == []


def _watch(restart_after: int = 200, restarts: int = 1) -> HealthWatch:
    collapse = CollapseConfig(restart_after=restart_after, restarts=restarts)
    return HealthWatch(collapse, SimpleNamespace(run_dir=None))


@pytest.mark.parametrize("verdict, probe, wants", [
    ("not learning", "chroma_agreement", True),      # POS sees a pulse, the network does not: start over
    ("collapsed", "cross_clip_corr", True),
    ("learning", "chroma_agreement", False),
    ("not learning", "pulse_evidence", False),       # no pulse in the clips: new weights cannot help
    ("not learning", "signal_clips", False),
])
def test_which_verdicts_restart(verdict, probe, wants):
    assert _watch()._wants_restart(SimpleNamespace(verdict=verdict, probe=probe), 200, 100) is wants


def test_only_the_first_check_after_restart_after_steps_restarts_and_only_as_often_as_allowed():
    bad = SimpleNamespace(verdict="not learning", probe="chroma_agreement")
    watch = _watch(restart_after=200, restarts=2)
    assert not watch._wants_restart(bad, 100, None)          # too young
    assert watch._wants_restart(bad, 200, 100)
    assert not watch._wants_restart(bad, 300, 200)           # a later check of the same network: not again
    watch.restarts = [{"step": 200, "reason": ""}]
    assert not watch._wants_restart(bad, 300, 200)           # the new network is 100 steps old
    assert watch._wants_restart(bad, 400, 300)
    watch.restarts.append({"step": 400, "reason": ""})
    assert not watch._wants_restart(bad, 600, 500)           # both restarts spent
    assert not _watch(restart_after=0)._wants_restart(bad, 200, 100)


def test_restart_settings_are_checked_and_no_health_check_means_no_restart(tmp_path):
    with pytest.raises(ValueError, match=">= 0"):
        CollapseConfig(restarts=-1)
    assert HealthWatch.factory(CollapseConfig(health=False)) is None   # nothing to ask for a restart
    run_dir = tmp_path / "unwatched"
    pretrain(_config(run_dir, "collapse.health=false", "loop.stop_after=2"))
    assert not (run_dir / "health.json").exists()
