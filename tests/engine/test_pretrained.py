"""load_pretrained rebuilds the trained network from a run directory or a .pt, and says what is missing."""
from __future__ import annotations

import pytest
import torch

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.engine import load_checkpoint, load_pretrained, save_checkpoint

TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=4",
        "loop.batch_size=4", "loop.max_steps=1", "collapse.enabled=false", "loop.channels_last=false"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("pretrained") / "run"
    pretrain(load_config(RunConfig, None, [*TINY, f"run_dir={path}"]))
    return path


@pytest.mark.parametrize("which", ["online", "target"])
def test_loads_the_saved_weights_in_eval_mode(run_dir, which):
    network, checkpoint = load_pretrained(run_dir, which=which)
    assert not network.training
    saved = load_checkpoint(run_dir / "checkpoints" / "last.pt")[which]
    for name, value in network.state_dict().items():
        assert torch.equal(value, saved[name]), name
    clips = torch.randn(2, 3, 48, 16, 16, generator=torch.Generator().manual_seed(0))
    assert network.predict(clips).shape == (2, 48)


def test_a_pt_file_and_best_file_load_too(run_dir):
    net_file, _ = load_pretrained(run_dir / "checkpoints" / "last.pt")
    net_best, ck = load_pretrained(run_dir, which_file="best")
    assert ck["step"] == 1
    for (name, a), (_, b) in zip(net_file.state_dict().items(), net_best.state_dict().items()):
        assert torch.equal(a, b), name


def test_errors_name_the_path_and_what_is_missing(run_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pretrained(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no checkpoints/last.pt"):
        load_pretrained(tmp_path)
    save_checkpoint(tmp_path / "other.pt", {"step": 1})
    with pytest.raises(ValueError, match="other.pt is not an sspd pretraining checkpoint"):
        load_pretrained(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="which must be"):
        load_pretrained(run_dir, which="student")
