"""Clips that carry no signal (a faceless, constant video) get a definite health verdict, "not learning"
decided by ``signal_clips``, written at every checkpoint with no traceback, and shown by the report."""
import json
import logging

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.data.synthetic.clips import SyntheticClipDataset
from sspd.diagnostics.health import assess_health, clip_traces, health_json, run_verdict
from sspd.diagnostics.report import judge_run
from sspd.diagnostics.watch import CollapseConfig, HealthWatch
from sspd.engine import TrainStep, create_sspd_network
from sspd.engine.runfiles.run_dir import load_run
from sspd.engine.facts import RunFacts
from sspd.engine.observers import RunContext

TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=4",
        "loop.batch_size=4", "loop.channels_last=false", "loop.checkpoint_every=1", "probe.every_n_steps=0",
        "loop.max_steps=3"]


class ConstantClips(Dataset):
    """Synthetic clips with every pixel set to one grey: no face, no pulse, no change."""

    fps = 30.0

    def __init__(self):
        self.base = SyntheticClipDataset(4, frames=49, size=20, fps=30.0, seed=0)

    def __len__(self):
        return 8

    def __getitem__(self, index):
        item = dict(self.base[index % 4])
        item["video"] = torch.full_like(item["video"], 0.5 if item["video"].is_floating_point() else 128)
        return item


def _assert_no_signal_verdict(health: dict) -> None:
    """health.json (or its run_verdict keys) of clips without any signal."""
    verdict = health.get("verdict"), health.get("probe", health.get("verdict_probe"))
    reason = health.get("reason", health.get("verdict_reason"))
    assert verdict == ("not learning", "signal_clips")
    assert "carries a signal" in reason and "constant video" in reason


def test_constant_clips_are_not_learning_because_they_carry_no_signal():
    rng = np.random.default_rng(0)
    traces = [clip_traces(np.full((300, 16, 16, 3), grey, np.uint8)) for grey in (40, 128, 128, 200)]
    for preds in (rng.standard_normal((4, 300)), np.zeros((4, 300))):  # a live output, a flat one: not "collapsed"
        health = assess_health(preds, traces, 30.0)
        assert (health.verdict, health.probe, health.value) == ("not learning", "signal_clips", 0.0)
        assert health.follows == "nothing (the clips carry no signal)" and "none of the 4 clips" in health.reason
        written = json.loads(json.dumps(health_json(health, step=5)))
        _assert_no_signal_verdict(written)
        _assert_no_signal_verdict(run_verdict(None, written))


def test_a_few_constant_clips_among_pulsing_ones_are_judged_by_the_others():
    rng = np.random.default_rng(1)
    t = np.arange(300) / 30.0
    hrs = [62.0, 75, 88, 101, 114, 127]
    clips = []
    for hr in hrs:  # a skin tone whose green channel carries the pulse, with sensor noise
        wave = 1 + np.array([0.3, 1.0, 0.6]) * 0.01 * np.sin(2 * np.pi * hr / 60 * t)[:, None]
        colour = np.array([170.0, 120.0, 95.0]) * (wave + rng.normal(0, 0.001, (300, 3)))
        clips.append(np.broadcast_to(colour[:, None, None, :], (300, 16, 16, 3)))
    clips += [np.full((300, 16, 16, 3), 128.0)] * 2
    preds = np.stack([np.sin(2 * np.pi * hr / 60 * t + rng.uniform(0, 6)) for hr in hrs]
                     + [rng.standard_normal(300) for _ in range(2)])
    health = assess_health(preds, [clip_traces(c) for c in clips], 30.0)
    assert health.probes["signal_clips"] == pytest.approx(6 / 8)
    assert (health.verdict, health.probe) == ("learning", "chroma_agreement")
    assert np.isnan(health.clips["pos_hr"][-1]) and health.clips["pos_snr"][-1] == -np.inf


def test_the_watch_writes_the_verdict_at_every_checkpoint_without_a_traceback(tmp_path, caplog):
    torch.manual_seed(0)
    network = create_sspd_network("physnet", frames=48, width=0.25, input_size=16)
    trainer = TrainStep(network, torch.optim.Adam(network.parameters(), lr=1e-3), seed=0)
    context = RunContext(run_dir=tmp_path, facts=RunFacts(fps=30.0, frames=48, input_size=16, box_size=20),
                         total_steps=4, seed=0, dataset=ConstantClips())
    watch = HealthWatch(CollapseConfig(health_clips=3, health_seconds=1.6), context)
    with caplog.at_level(logging.WARNING, logger="sspd.diagnostics"):
        for step in (2, 4):
            scalars = watch.at_checkpoint(step, trainer)
            assert scalars["health/level"] == 1.0 and scalars["health/signal_clips"] == 0.0
            health = json.loads((tmp_path / "health.json").read_text())
            assert health["step"] == step
            _assert_no_signal_verdict(health)
            _assert_no_signal_verdict(json.loads((tmp_path / "collapse.json").read_text()))
    assert caplog.records and all(r.exc_info is None for r in caplog.records)
    assert sum("not learning (signal_clips = 0)" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.slow
def test_unjudgeable_clips_get_a_verdict_at_every_checkpoint_and_in_the_report(tmp_path, caplog):
    config = load_config(RunConfig, None, [*TINY, f"run_dir={tmp_path / 'run'}"])
    with caplog.at_level(logging.WARNING, logger="sspd.diagnostics.watch"):
        result = pretrain(config, dataset=ConstantClips())
    assert result.stop_reason == "completed"
    records = [r for r in caplog.records if r.name == "sspd.diagnostics.watch"]
    assert records and all(r.exc_info is None for r in records)
    assert all("not learning (signal_clips = 0)" in r.getMessage() for r in records)
    health = json.loads((tmp_path / "run" / "health.json").read_text())
    assert health["step"] == 3
    _assert_no_signal_verdict(health)
    verdict = judge_run(load_run(tmp_path / "run"))
    assert (verdict.level, verdict.decided_by) == ("not learning", "signal_clips")
    assert "carries a signal" in verdict.reasons[0] and verdict.follows == "nothing (the clips carry no signal)"
