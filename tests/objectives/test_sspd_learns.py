"""SSPD with the library's default views learns the pulse without labels: on held-out motion-free videos the
predictor's HR error falls from the initial network's to a few bpm (slow: about 4 minutes on 2 cores)."""
from __future__ import annotations

import pytest
import torch

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.data.synthetic import SyntheticConfig
from sspd.engine import build_network, derive_seed, load_pretrained
from sspd.eval.baseline_eval import evaluate_methods
from sspd.eval.model_eval import network_signals, synthetic_videos


def _maes(network, videos, frames: int, size: int) -> list[float]:
    """Per-video windowed HR MAE (bpm) of the network's predictor."""
    signals = network_signals(network.eval().predict, videos, window=frames, input_size=size, view=network.view)
    result = evaluate_methods(signals, window_s=10.0)["model"]
    return [float(v["metrics"]["mae"]) for v in result["videos"].values()]


@pytest.mark.slow
def test_hr_error_on_motion_free_videos_falls_with_training(tmp_path):
    config = load_config(RunConfig, None, [f"run_dir={tmp_path / 'run'}"])  # the shipped CPU recipe
    videos = synthetic_videos(4, seconds=20.0, size=config.data.box_size, seed=777_001,
                              config=SyntheticConfig(framing="crop").scale_nuisances(motion=0.0))
    torch.manual_seed(derive_seed(config.seed, "init"))
    before = _maes(build_network(config.network_spec()), videos, config.data.frames, config.model.input_size)
    assert pretrain(config).stop_reason == "completed"
    after = _maes(load_pretrained(tmp_path / "run")[0], videos, config.data.frames, config.model.input_size)
    assert sum(before) / 4 > 10.0, before    # the initial network does not measure the pulse
    # seed 0 still reads the 54 bpm video at its second harmonic in 10 s windows (its whole-video HR is
    # right), a known weakness at low heart rates; on the other three the error falls to a few bpm or less
    # (measured with the suite's one torch thread: 49.7, 0.04, 20.8, 0.95 -> 53.2, 0.23, 2.9, 0.26)
    assert sum(e < 5.0 for e in after) > sum(e < 5.0 for e in before), (before, after)
    assert sorted(after)[2] < 5.0 and sum(sorted(after)[:3]) < sum(sorted(before)[:3]) / 4, (before, after)
