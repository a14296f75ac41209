"""The paper preset is one run config, experiments/ubfc_sspdnet_paper.yaml: every field it pins is checked
against docs/method.md (§5 optimisation and EMA, with the §1 views, §2 network and §4 loss it trains),
and a run built from it steps the way the release does."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from sspd.cli.config import RunConfig
from sspd.configuration import load_config
from sspd.engine import run_length
from sspd.models.network import build_network

PRESET = Path(__file__).resolve().parents[1] / "experiments" / "ubfc_sspdnet_paper.yaml"
UBFC_TRAINING_SUBJECTS = 30   # SSPD_METHOD §6: the paper's UBFC-rPPG training split


@pytest.fixture(scope="module")
def preset() -> RunConfig:
    return load_config(RunConfig, PRESET)


def test_section_5_optimisation(preset):
    # Adam, lr 1e-3 constant, weight decay 0, batch 12, 30 epochs, mixed precision
    assert (preset.optim.name, preset.optim.lr, preset.optim.weight_decay) == ("adam", 1e-3, 0.0)
    assert preset.optim.betas == (0.9, 0.999) and preset.optim.grad_clip is None
    assert preset.optim.accumulation == 1
    assert (preset.schedule.name, preset.schedule.warmup_steps) == ("constant", 0)
    assert (preset.loop.batch_size, preset.loop.epochs, preset.loop.max_steps) == (12, 30, None)
    assert preset.loop.precision in ("bf16", "fp16")


def test_section_5_only_90_optimiser_steps_on_the_30_training_subjects(preset):
    # one 300-frame window per training video per epoch, the short last batch kept as the release's loader
    assert preset.data.windows_per_video == 1 and preset.loop.drop_last is False
    assert run_length(preset.loop, UBFC_TRAINING_SUBJECTS, slots=1) == (90, 3)   # (total, per epoch)
    assert run_length(preset.loop, UBFC_TRAINING_SUBJECTS, slots=4) == (60, 2)   # 6 clips do not split in 4


def test_section_5_ema(preset):
    # m(i) = 1 − 0.05·(1 + cos(π·i/N)) from 0.9 to 1.0, buffers not averaged, target in train mode
    assert (preset.ema.momentum_start, preset.ema.momentum_end) == (0.9, 1.0)
    assert (preset.ema.buffers, preset.ema.target_mode) == ("none", "train")
    trainer = _tiny_trainer(preset)
    n = 90
    for i in (0, 30, 45, 89):
        assert trainer.momentum(i, n) == pytest.approx(1 - 0.05 * (1 + math.cos(math.pi * i / n)), abs=1e-12)


def test_section_1_views_and_clips(preset):
    # 300 difference frames (301 raw) of 128×128 views from 151×151 boxes at 30 fps
    assert (preset.data.frames, preset.model.input_size, preset.data.box_size, preset.data.fps) == (
        300, 128, 151, 30.0)
    views = preset.views
    assert (views.difference, views.luminance, views.motion_px) == ("raw", "keep", 0.0)
    assert (views.p_horizontal, views.p_vertical, views.keep_prob) == (0.5, 0.5, 0.7)
    assert views.crop == "random"      # really random, not the release's corner bug
    assert views.speed_range is None and views.gain_range is None and views.noise_std == 0.0


def test_section_2_network(preset):
    model = preset.model
    assert (model.backbone, model.width, model.backbone_options) == ("sspdnet", 1.0, {})
    assert (model.kernel_sizes, model.num_heads, model.attention, model.resample) == (
        [9, 7, 5], 2, "tokens", "nearest")
    assert model.predictor_hidden == 64
    network = build_network(preset.network_spec())
    backbone = sum(p.numel() for p in network.backbone.parameters())
    predictor = sum(p.numel() for p in network.predictor.parameters())
    assert (backbone, predictor) == (613_598, 172_481)


def test_section_4_loss(preset):
    assert preset.objective.name == "sspd"
    sspd = preset.objective.sspd
    weights = sspd.weights
    assert (weights.rpd, weights.pyr, weights.sd, weights.snr) == (0.5, 0.5, 0.5, 0.2)
    assert (sspd.predictor_loss, sspd.predictor_max_freq, sspd.band) == ("spectral-pearson", 15.0, (0.5, 3.0))
    assert sspd.sd_length_divisor == 20.0 and sspd.detach_predictor is True and sspd.predictor_priors == 0.0


def test_the_preset_reads_a_cache(preset):
    assert preset.data.source == "cache" and preset.data.cache_dir
    assert "eproduces" in PRESET.read_text().splitlines()[0]  # the file says what it reproduces


def _tiny_trainer(preset: RunConfig):
    """The preset's trainer on a small PhysNet (same optimiser, EMA and objective sections)."""
    from sspd.engine import create_sspd_network

    torch.manual_seed(0)
    network = create_sspd_network("physnet", frames=32, input_size=16)
    return preset.build_trainer(network)
