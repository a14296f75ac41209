"""The SSPD network wrapper and the paper preset: structure, defaults from SSPD_METHOD.md §2/§5, errors."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from sspd.backbones import count_parameters
from sspd.engine import (PAPER_PRESET, SSPDRecipe, SSPDTrainStep, build_sspd_training,
                         create_sspd_network)



def test_paper_preset_is_the_release_recipe():
    p = PAPER_PRESET
    assert (p.backbone, p.frames, p.input_size, p.box_size) == ("sspdnet", 300, 128, 151)
    assert (p.batch_size, p.epochs, p.lr, p.weight_decay) == (12, 30, 1e-3, 0.0)
    assert (p.momentum_start, p.momentum_end, p.buffers, p.target_mode) == (0.9, 1.0, "none", "train")
    assert p.mixed_precision
    assert (p.views.keep_prob, p.views.p_horizontal, p.views.p_vertical, p.views.difference) == \
        (0.7, 0.5, 0.5, "raw")
    w = p.objective.weights
    assert (w.rpd, w.pyr, w.sd, w.snr) == (0.5, 0.5, 0.5, 0.2)
    assert p.objective.predictor_loss == "spectral-pearson" and p.objective.sd_length_divisor == 20.0
    assert p.total_steps(clips_per_epoch=30) == 90  # UBFC-rPPG: 30 training subjects
    assert p.total_steps(clips_per_epoch=24) == 60 and p.total_steps(clips_per_epoch=25) == 90


def test_sspd_network_at_the_paper_size_has_the_paper_parameter_counts():
    network = create_sspd_network("sspdnet", frames=300, input_size=128)
    assert count_parameters(network.backbone) == 613_598
    assert count_parameters(network.predictor) == 172_481
    # TS stack: per block Conv1d(256, 256, k) + LayerNorm + 4 Linear(256, 256)
    ts = sum(256 * 256 * k + 256 + 2 * 256 + 4 * (256 * 256 + 256) for k in (9, 7, 5))
    assert count_parameters(network.ts_stack) == ts
    assert network.min_frames == 19 and network.input_size == (128, 128)


def test_network_outputs_and_physformer_dropout_default():
    network = create_sspd_network("physformer", frames=32, input_size=32, width=0.25, depth=1)
    dropouts = [m.p for m in network.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and all(p == 0.0 for p in dropouts)
    assert all(m.dropout == 0.0 for m in network.modules() if hasattr(m, "sharpness"))
    explicit = create_sspd_network("physformer", frames=32, input_size=32, width=0.25, depth=1, dropout=0.2)
    assert {m.p for m in explicit.modules() if isinstance(m, torch.nn.Dropout)} == {0.2}
    outputs = network(torch.randn(2, 3, 32, 32, 32))
    assert [tuple(h.shape) for h in outputs.hs] == [(2, 24, 12), (2, 18, 12), (2, 14, 12)]
    assert outputs.rppg.shape == (2, 32) and network.predict(torch.randn(1, 3, 32, 32, 32)).shape == (1, 32)


def test_build_sspd_training_follows_the_recipe():
    recipe = dataclasses.replace(PAPER_PRESET, backbone="physnet", frames=32, input_size=16, box_size=20,
                                 lr=5e-4, weight_decay=1e-5, momentum_start=0.95,
                                 backbone_options={"width": 0.25})
    trainer = build_sspd_training(recipe, seed=1)
    assert isinstance(trainer, SSPDTrainStep)
    assert trainer.optimizer.param_groups[0]["lr"] == 5e-4
    assert trainer.optimizer.param_groups[0]["weight_decay"] == 1e-5
    assert trainer.momentum(0, 10) == pytest.approx(0.95)
    assert trainer.online_network.backbone.feature_dim == 16  # width 0.25 of 64
    assert trainer.objective.config is recipe.objective and trainer.views is recipe.views


def test_recipe_and_network_errors():
    with pytest.raises(ValueError, match="box_size"):
        SSPDRecipe(box_size=100)
    with pytest.raises(ValueError, match="batch_size"):
        SSPDRecipe(batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        SSPDRecipe(lr=0.0)
    with pytest.raises(ValueError, match="clips_per_epoch"):
        PAPER_PRESET.total_steps(0)
    with pytest.raises(ValueError, match="unknown backbone"):
        create_sspd_network("resnet")
    with pytest.raises(ValueError, match="Backbone"):
        from sspd.engine import SSPDNetwork
        SSPDNetwork(torch.nn.Linear(2, 2))
