"""The pretraining loop on a tiny PhysNet: exact resume, the NaN guard, the LR schedule it applies, and the
run directory it leaves (config, checkpoints, JSONL, TensorBoard, snapshots, collapse report, summary)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.engine import load_checkpoint
from sspd.engine.data import build_train_dataset

TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=8",
        "loop.batch_size=4", "loop.checkpoint_every=2", "collapse.every_n_steps=2", "collapse.min_clips=4",
        "logging.images_every_n_steps=2", "logging.histograms_every_n_steps=2", "loop.channels_last=false"]



def _config(run_dir: Path, *overrides: str) -> RunConfig:
    return load_config(RunConfig, None, [*TINY, f"run_dir={run_dir}", *overrides])


def _lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


class _NaNAt(torch.utils.data.Dataset):
    """A real dataset whose clips at ``bad`` indices hold a NaN (a corrupt cache entry)."""

    def __init__(self, base, bad: set[int]):
        self.base, self.bad = base, bad
        self.fps = base.fps   # the rate of the clips (a training dataset must say it)

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        item = dict(self.base[index])
        if index in self.bad:
            item["video"] = item["video"].clone()
            item["video"][0, 3, 2, 2] = math.nan
        return item


def test_resume_after_stop_matches_uninterrupted_run(tmp_path):
    full = pretrain(_config(tmp_path / "full", "loop.max_steps=4"))
    assert (full.steps, full.stop_reason) == (4, "completed")
    part = pretrain(_config(tmp_path / "part", "loop.max_steps=4", "loop.stop_after=2"))
    assert (part.steps, part.stop_reason) == (2, "interrupted")
    resumed = pretrain(_config(tmp_path / "part", "loop.max_steps=4"), resume=True)
    assert (resumed.steps, resumed.stop_reason) == (4, "completed")

    a, b = _lines(tmp_path / "full"), _lines(tmp_path / "part")
    assert [r["step"] for r in b] == [1, 2, 3, 4]  # the resumed JSONL reads as one run
    for name in ("total", "rpd", "pyr/l0", "sd/l2", "snr/l1", "momentum", "lr"):
        assert [r[name] for r in a] == [r[name] for r in b], name
    ck_a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    ck_b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for which in ("online", "target"):
        for key, value in ck_a[which].items():
            assert torch.equal(value, ck_b[which][key]), (which, key)


def test_run_directory_follows_the_contract(tmp_path):
    run_dir = tmp_path / "run"
    pretrain(_config(run_dir, "loop.max_steps=4"))
    assert load_config(RunConfig, run_dir / "config.yaml") == _config(run_dir, "loop.max_steps=4")
    names = {p.name for p in (run_dir / "checkpoints").iterdir()}
    assert {"last.pt", "best.pt", "step_0000004.pt"} <= names
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert checkpoint["format"] == "sspd-checkpoint-1" and checkpoint["step"] == 4
    assert checkpoint["data"] == {"epoch": 2, "position": 0}  # 8 clips / batch 4 = 2 steps per epoch
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    lines = _lines(run_dir)
    checked = [r for r in lines if "alarm/ssw_in_band" in r]
    assert [r["step"] for r in checked] == [2, 4]  # collapse.every_n_steps=2
    assert all(r["alarm/ssw_in_band"] in (0.0, 1.0, 2.0) for r in checked)
    report = json.loads((run_dir / "collapse.json").read_text())
    assert report["step"] == 4 and report["warmup_steps"] == 1  # ceil(0.25 * 4)
    snap = np.load(run_dir / "snapshots" / "step_0000004.npz")
    ssm_shapes = [snap[k].shape for k in snap.files if k.startswith("ssm")]
    # 48 frames through kernels 9, 7, 5: T' = 40, 34, 30 (different per level: one array per level)
    assert ssm_shapes == [(4, 40, 40), (4, 34, 34), (4, 30, 30)]
    assert snap["ssw_l0"].shape == (4, 40) and snap["pred"].shape == (4, 48)
    np.testing.assert_allclose(snap["ssw_l0"][:, 0], 1.0, atol=1e-5)  # SSW[0] is the diagonal of cosines
    assert snap["hr_true"].shape == (4,) and float(snap["fps"]) == 30.0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stop_reason"] == "completed" and summary["steps"] == 4
    assert summary["final"]["total"] == lines[-1]["total"]


def test_cosine_schedule_is_what_the_loop_applies(tmp_path):
    run_dir = tmp_path / "run"
    pretrain(_config(run_dir, "loop.max_steps=4", "schedule.name=cosine", "schedule.warmup_steps=1",
                            "optim.lr=2e-3", "collapse.enabled=false"))
    lrs = [r["lr"] for r in _lines(run_dir)]
    # warm-up step 0 at (0+1)/1 · base; then base · (1 + cos(π (s-1)/3)) / 2 for s = 1, 2, 3
    expected = [2e-3] + [2e-3 * (1 + math.cos(math.pi * (s - 1) / 3)) / 2 for s in (1, 2, 3)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_a_nan_batch_is_skipped_counted_and_the_run_goes_on(tmp_path):
    config = _config(tmp_path / "run", "loop.max_steps=2", "collapse.enabled=false")
    dataset = _NaNAt(build_train_dataset(config.data, seed=config.seed), bad={5})
    result = pretrain(config, dataset=dataset)
    assert (result.steps, result.stop_reason) == (2, "completed")
    lines = _lines(tmp_path / "run")
    stepped = [r["stepped"] for r in lines]
    assert sorted(stepped) == [0.0, 1.0]  # clip 5 is in exactly one of the epoch's two batches
    assert lines[-1]["skipped"] == 1.0
    bad = lines[stepped.index(0.0)]
    ck = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ck["guard"]["skipped_total"] == 1 and bad["step"] in (1, 2)


def test_nan_batches_in_a_row_stop_the_run_with_a_message(tmp_path):
    config = _config(tmp_path / "run", "loop.max_steps=4", "loop.max_nonfinite=2", "collapse.enabled=false")
    dataset = _NaNAt(build_train_dataset(config.data, seed=config.seed), bad=set(range(8)))
    result = pretrain(config, dataset=dataset)
    # the second bad step raises: one step counts as done, and last.pt lets a fixed run redo the other
    assert (result.steps, result.stop_reason) == (1, "non-finite")
    assert "2 optimiser steps in a row had non-finite values" in result.message
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stop_reason"] == "non-finite" and "in a row" in summary["message"]


def test_fresh_run_refuses_a_directory_with_checkpoints_and_resume_needs_one(tmp_path):
    pretrain(_config(tmp_path / "run", "loop.max_steps=1", "collapse.enabled=false"))
    with pytest.raises(ValueError, match="already holds the checkpoints"):
        pretrain(_config(tmp_path / "run", "loop.max_steps=1", "collapse.enabled=false"))
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        pretrain(_config(tmp_path / "empty", "loop.max_steps=1", "collapse.enabled=false"), resume=True)


def test_bad_precision_batch_split_and_short_clips_fail_loudly(tmp_path):
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU"):
        if torch.cuda.is_available():
            raise ValueError("fp16 needs a CUDA GPU (skipped on a GPU machine)")
        pretrain(_config(tmp_path / "a", "loop.precision=fp16", "loop.device=cpu"))
    with pytest.raises(ValueError, match="divisible by world_size"):
        pretrain(_config(tmp_path / "b", "optim.accumulation=3", "loop.max_steps=1"))
    with pytest.raises(ValueError, match="at least 40 frames"):
        pretrain(_config(tmp_path / "c", "data.frames=32", "loop.max_steps=1"))
