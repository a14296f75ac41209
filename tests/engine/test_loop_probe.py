"""The online linear probe in the pretraining loop: its scores against a reference computed by hand, the
clips it keeps, exact resume, no effect on training, unlabelled data, and its error paths."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from sspd.cli.config import OnlineProbeConfig, RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.engine import load_checkpoint
from sspd.engine.data import build_train_dataset
from sspd.engine.online_probe import LoopProbe, batch_labels

TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=8",
        "loop.batch_size=4", "loop.checkpoint_every=2", "collapse.enabled=false", "loop.channels_last=false",
        "logging.images_every_n_steps=64", "logging.histograms_every_n_steps=64", "loop.max_steps=4"]
FS, T, D = 30.0, 48, 6


def _config(run_dir: Path, *overrides: str) -> RunConfig:
    return load_config(RunConfig, None, [*TINY, f"run_dir={run_dir}", *overrides])


def _lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _pulse_batch(b: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Labels (b, T+1) of sines at known HRs (bpm) and features (b, D, T) of noise, except channel 0 (the
    labels' difference, the "diff" target) and channel 1 (labels[1:], the "pulse" target)."""
    rng = np.random.default_rng(seed)
    hr_bpm = rng.uniform(60, 120, size=b)
    t = np.arange(T + 1) / FS
    ppg = np.sin(2 * np.pi * hr_bpm[:, None] / 60 * t + rng.uniform(0, 6, size=(b, 1)))  # (b, T+1)
    features = rng.normal(size=(b, D, T)) * 0.3
    features[:, 0] = np.diff(ppg, axis=1)  # (b, T)
    features[:, 1] = ppg[:, 1:]  # (b, T)
    return torch.tensor(features, dtype=torch.float32), torch.tensor(ppg, dtype=torch.float32), hr_bpm


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over rows of Pearson's r, the textbook formula (the slow reference)."""
    return float(np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(x, y)]))


def _probe(**overrides) -> LoopProbe:
    return LoopProbe(OnlineProbeConfig(**{"every_n_steps": 2, **overrides}), feature_dim=D, fs=FS, frames=T,
                     seed=0)


def test_probe_scores_the_untrained_head_then_trains():
    probe = _probe()
    features, ppg, _ = _pulse_batch()
    weight = probe.online_probe.head.linear.weight.detach().numpy()[0, :, 0].astype(np.float64)  # (D,)
    bias = float(probe.online_probe.head.linear.bias.detach())
    pred = np.einsum("d,bdt->bt", weight, features.double().numpy()) + bias  # (B, T) the untrained head
    target = np.diff(ppg.double().numpy(), axis=1)  # (B, T) the "diff" target
    first = probe.step(2, features, ppg)
    assert first["probe/r"] == pytest.approx(_pearson(pred, target), abs=1e-5)  # scored, then trained
    assert first["probe/loss"] == pytest.approx(1 - first["probe/r"], abs=1e-6)
    assert first["probe/batches"] == 1.0 and first["probe/clips"] == 4.0
    assert probe.step(3, features, ppg) == {}  # not a probe step: nothing is scored or trained


@pytest.mark.parametrize("target", ["diff", "pulse"])
def test_probe_learns_the_pulse_on_unseen_batches(target):
    probe = _probe(target=target, lr=5e-2)
    for step in range(2, 62, 2):
        scores = probe.step(step, *_pulse_batch(seed=step)[:2])  # each batch scored before it is trained on
    assert scores["probe/r"] > 0.95
    if target == "pulse":  # the "diff" HR integrates the output, where a head bias ramps
        assert scores["probe/hr_mae_bpm"] < 3.0  # the labels' own spectral-peak error is <= 2 bpm here


def test_probe_keeps_only_finite_clips_with_a_varying_label():
    features, ppg, _ = _pulse_batch()
    ppg[1] = 0.0  # a no-pulse synthetic clip: zero label, no HR
    features[2, 3, 5] = float("nan")
    assert _probe().step(2, features, ppg)["probe/clips"] == 2.0
    ppg[[0, 2, 3]] = 0.0
    assert _probe().step(2, features, ppg) == {}  # no clip left: skipped


def test_probe_draws_nothing_from_the_global_rng():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    probe = _probe()
    probe.step(2, *_pulse_batch()[:2])
    assert torch.equal(torch.get_rng_state(), before)


def test_batch_labels_reads_synthetic_and_cached_keys():
    ppg = torch.zeros(2, T + 1)
    assert batch_labels({"ppg": ppg}) is ppg and batch_labels({"label": ppg}) is ppg
    assert batch_labels({"video": torch.zeros(2, 3, T + 1, 4, 4), "hr": torch.ones(2)}) is None


def test_probe_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least 40 frames"):
        LoopProbe(OnlineProbeConfig(every_n_steps=2), feature_dim=D, fs=FS, frames=39, seed=0)
    features, ppg, _ = _pulse_batch()
    with pytest.raises(ValueError, match="do not match its pooled features"):
        _probe().step(2, features[:, :, :-2], ppg)  # a backbone that shortens T
    state = _probe().state_dict()
    with pytest.raises(ValueError, match="keep probe.target"):
        _probe(target="pulse").load_state_dict(state)
    with pytest.raises(ValueError, match="lacks"):
        _probe().load_state_dict({"head": state["head"]})
    for bad, match in ((["probe.every_n_steps=-1"], "every_n_steps"), (["probe.lr=0"], "probe.lr"),
                       (["probe.steps_per_update=0"], "steps_per_update"), (["probe.target=ppg"], "target")):
        with pytest.raises(ValueError, match=match):
            load_config(RunConfig, None, bad)


def test_resumed_probe_continues_exactly_and_leaves_training_unchanged(tmp_path):
    on = ["probe.every_n_steps=2", "logging.every_n_steps=3"]  # step 2 is a probe step, not a logging step
    pretrain(_config(tmp_path / "full", *on))
    pretrain(_config(tmp_path / "part", *on, "loop.stop_after=2"))
    pretrain(_config(tmp_path / "part", *on), resume=True)
    pretrain(_config(tmp_path / "off", "probe.every_n_steps=0", "logging.every_n_steps=1"))

    full, part, off = (_lines(tmp_path / name) for name in ("full", "part", "off"))
    assert [r["step"] for r in full] == [2, 3, 4]  # logged at 3 (logging) and at 2, 4 (probe)
    assert [r["step"] for r in full if "probe/r" in r] == [2, 4]
    assert part == [{**r, "time": p["time"]} for r, p in zip(full, part)] and len(part) == len(full)
    assert not any(k.startswith("probe/") for r in off for k in r)
    off_total = {r["step"]: r["total"] for r in off}
    assert all(r["total"] == off_total[r["step"]] for r in full)  # the probe does not touch training
    ck_full = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    ck_part = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for key, value in ck_full["probe"]["head"].items():
        assert torch.equal(value, ck_part["probe"]["head"][key]), key
    assert ck_full["probe"]["optimizer"]["state"][0]["step"] == 2 * 5  # two probe steps × 5 Adam steps
    assert "probe" not in load_checkpoint(tmp_path / "off" / "checkpoints" / "last.pt")  # no observer, no key


class _Unlabelled(torch.utils.data.Dataset):
    """Real synthetic clips without their labels (an unlabelled dataset)."""

    def __init__(self, base):
        self.base = base
        self.fps = base.fps   # the rate of the clips (a training dataset must say it)

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        return {k: v for k, v in self.base[index].items() if k not in ("ppg", "hr")}


def test_unlabelled_data_skips_the_probe_with_one_note(tmp_path, caplog):
    config = _config(tmp_path / "run", "probe.every_n_steps=1")
    with caplog.at_level(logging.INFO, logger="sspd.engine.online_probe"):
        result = pretrain(config, dataset=_Unlabelled(build_train_dataset(config.data, seed=config.seed)))
    assert result.stop_reason == "completed"
    notes = [r for r in caplog.records if "carry no labels" in r.getMessage()]
    assert len(notes) == 1
    assert not any(k.startswith("probe/") for r in _lines(tmp_path / "run") for k in r)


def test_resume_switching_the_probe_on_starts_it_afresh_and_a_changed_target_fails(tmp_path, caplog):
    run_dir = tmp_path / "run"
    pretrain(_config(run_dir, "probe.every_n_steps=0", "loop.stop_after=2"))
    with caplog.at_level(logging.INFO, logger="sspd.engine.runfiles.run_writer"):
        pretrain(_config(run_dir, "probe.every_n_steps=2", "loop.stop_after=3"), resume=True)
    assert any("holds no 'probe' state" in r.getMessage() for r in caplog.records)
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert checkpoint["step"] == 3 and checkpoint["probe"]["target"] == "diff"
    with pytest.raises(ValueError, match=r"last\.pt.*keep probe.target"):
        pretrain(_config(run_dir, "probe.every_n_steps=2", "probe.target=pulse"), resume=True)
