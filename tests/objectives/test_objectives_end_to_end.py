"""Every registered objective through the real loop on a tiny PhysNet: finite losses, the networks it
builds, a run directory the report reads, and a resume that equals the uninterrupted run bit for bit."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.engine import load_checkpoint

TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=8",
        "loop.batch_size=4", "loop.checkpoint_every=2", "collapse.every_n_steps=2", "collapse.min_clips=4",
        "logging.images_every_n_steps=2", "logging.histograms_every_n_steps=2", "loop.channels_last=false",
        "probe.every_n_steps=2"]
TERMS = {"sspd": ("rpd", "pyr/l0", "sd/l2", "snr/l1"), "sinc": ("bandwidth", "sparsity", "variance"),
         "supervised": ("np",), "contrast-phys": ("positive", "negative", "ipr")}
EXTRA = {"contrast-phys": ("model.head=st_rppg",)}  # Contrast-Phys on its ST-rPPG head


def _config(run_dir: Path, name: str, *overrides: str) -> RunConfig:
    return load_config(RunConfig, None, [*TINY, f"objective.name={name}", *EXTRA.get(name, ()), f"run_dir={run_dir}",
                                         *overrides])


def _lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", ["sspd", "sinc", "supervised", "contrast-phys"])
def test_objective_runs_and_resumes_bitwise(tmp_path, name):
    full = pretrain(_config(tmp_path / "full", name, "loop.max_steps=4"))
    assert (full.steps, full.stop_reason) == (4, "completed")
    pretrain(_config(tmp_path / "part", name, "loop.max_steps=4", "loop.stop_after=2"))
    resumed = pretrain(_config(tmp_path / "part", name, "loop.max_steps=4"), resume=True)
    assert (resumed.steps, resumed.stop_reason) == (4, "completed")
    a, b = _lines(tmp_path / "full"), _lines(tmp_path / "part")
    for term in ("total", *TERMS[name]):
        values = [r[term] for r in a]
        assert all(torch.isfinite(torch.tensor(values))), term
        assert values == [r[term] for r in b], term
    assert any("probe/hr_mae_bpm" in r for r in a)  # the online probe ran for this objective too
    state = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    assert (state["target"] is None) == (name != "sspd")  # no EMA copy for objectives without a target
    assert state["config"]["objective"]["name"] == name
    for key, value in state["online"].items():
        torch.testing.assert_close(load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")["online"][key],
                                   value, rtol=0, atol=0, msg=key)


def test_single_view_objectives_train_the_backbone_through_the_predictor(tmp_path):
    from sspd.engine import build_network

    from sspd.data.synthetic import SyntheticClipDataset

    for name in ("sinc", "supervised"):
        config = _config(tmp_path / name, name)
        torch.manual_seed(0)
        trainer = config.build_trainer(build_network(config.network_spec()))
        assert trainer.target_network is None and trainer.pair is None
        clips = SyntheticClipDataset(4, frames=49, size=20, seed=3)
        batch = {"video": torch.stack([clips[i]["video"] for i in range(4)]),
                 "ppg": torch.stack([clips[i]["ppg"] for i in range(4)]), "fps": 30.0}
        trainer.optimizer.zero_grad()
        trainer.forward(batch)[0].backward()
        grads = {n: p.grad for n, p in trainer.online_network.named_parameters()}
        first = next(n for n in grads if n.startswith("backbone."))
        assert grads[first] is not None and float(grads[first].abs().sum()) > 0, name
        assert all(g is None for n, g in grads.items() if n.startswith("ts_stack.")), name


def test_supervised_needs_labels_and_sinc_refuses_batch_one(tmp_path):
    from sspd.engine import build_network

    config = _config(tmp_path / "s", "supervised")
    trainer = config.build_trainer(build_network(config.network_spec()))
    with pytest.raises(ValueError, match="needs labels.*'ppg'"):
        trainer.forward({"video": torch.rand(2, 3, 49, 20, 20) * 255, "fps": 30.0})
    with pytest.raises(ValueError, match="at least 2 clips"):
        pretrain(_config(tmp_path / "b1", "sinc", "loop.batch_size=1", "loop.max_steps=1"))


def test_speed_augmentation_resamples_the_label_with_the_clip_and_hands_the_factors_on(tmp_path):
    from sspd.engine import build_network

    config = _config(tmp_path / "v", "supervised", "views.speed_range=[1.25, 1.25]")
    trainer = config.build_trainer(build_network(config.network_spec()))
    t = torch.arange(61, dtype=torch.float32)
    label = torch.stack([torch.sin(2 * torch.pi * 1.0 * t / 30), torch.cos(2 * torch.pi * 1.5 * t / 30)])  # (2, 61)
    video = (100 + 10 * label)[:, None, :, None, None].expand(2, 3, 61, 20, 20).contiguous()
    clip, new_label, speeds = trainer._speed(video, label)
    assert clip.shape[2] == 49 and new_label.shape == (2, 49)  # (61 - 1) / 1.25 + 1 frames
    torch.testing.assert_close(clip[:, 0, :, 0, 0], 100 + 10 * new_label)  # the label moved with the frames
    expected = torch.stack([torch.sin(2 * torch.pi * 1.25 * t[:49] / 30), torch.cos(2 * torch.pi * 1.875 * t[:49] / 30)])
    torch.testing.assert_close(new_label, expected, atol=2e-2, rtol=0)  # the rate is 1.25 times higher
    torch.testing.assert_close(speeds, torch.full((2,), 1.25))
