"""A run whose clips the health check cannot judge (a faceless, constant video) logs one warning line
once, not a traceback at every checkpoint."""
import logging

import pytest
import torch
from torch.utils.data import Dataset

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.data.synthetic.clips import SyntheticClipDataset

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


@pytest.mark.slow
def test_unjudgeable_clips_are_one_warning_line_once(tmp_path, caplog):
    config = load_config(RunConfig, None, [*TINY, f"run_dir={tmp_path / 'run'}"])
    with caplog.at_level(logging.WARNING, logger="sspd.diagnostics.watch"):
        result = pretrain(config, dataset=ConstantClips())
    assert result.stop_reason == "completed"
    records = [r for r in caplog.records if r.name == "sspd.diagnostics.watch"]
    assert len(records) == 1 and records[0].exc_info is None
    assert "cannot judge this run's clips" in records[0].getMessage() and "constant" in records[0].getMessage()
