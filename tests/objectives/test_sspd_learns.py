"""SSPD with the library's default recipe learns the pulse without labels: on held-out motion-free videos
over 50-132 bpm, one of them under 60 bpm, the predictor's HR error falls from the initial network's to a
few bpm on every video (slow: the CPU recipe's 600 steps, about 40 minutes on one core)."""
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

HRS = (51.0, 74.0, 98.0, 132.0)  # bpm, one resting pulse under 60


def held_out_videos(size: int) -> list:
    """One 20 s motion-free video per HR, from generator seeds no training clip uses."""
    return [synthetic_videos(1, seconds=20.0, size=size, seed=777_001 + i,
                             config=SyntheticConfig(framing="crop", hr_bpm=(hr, hr)).scale_nuisances(motion=0.0))[0]
            for i, hr in enumerate(HRS)]


def video_maes(network, videos, frames: int, size: int) -> list[float]:
    """Per-video windowed HR MAE (bpm) of the network's predictor, read as its signal says (SSPD: the pulse's
    difference, integrated), in the 40-180 bpm band."""
    signals = network_signals(network.eval().predict, videos, window=frames, input_size=size, view=network.view,
                              target=network.signal)
    result = evaluate_methods(signals, window_s=10.0, band=(40 / 60, 3.0))["model"]
    return [float(v["metrics"]["mae"]) for v in result["videos"].values()]


@pytest.mark.slow
def test_hr_error_on_motion_free_videos_falls_with_training_slow_pulse_included(tmp_path):
    config = load_config(RunConfig, None, [f"run_dir={tmp_path / 'run'}"])  # the shipped CPU recipe, seed 0
    videos = held_out_videos(config.data.box_size)
    torch.manual_seed(derive_seed(config.seed, "init"))
    before = video_maes(build_network(config.network_spec()), videos, config.data.frames, config.model.input_size)
    assert pretrain(config).stop_reason == "completed"
    after = video_maes(load_pretrained(tmp_path / "run")[0], videos, config.data.frames, config.model.input_size)
    assert sum(before) / len(before) > 10.0, before    # the initial network does not measure the pulse
    assert max(after) < 5.0, (before, after)            # every video, the 51 bpm one included
