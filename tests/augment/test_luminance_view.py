"""The colour-prior view: a light change that scales every channel alike vanishes, the pulse stays; the view a
network was trained on travels with its checkpoint to inference."""
from __future__ import annotations

import math

import pytest
import torch

from sspd.augment import InferenceView, ViewOptions, make_single_view, make_views, prepare_view

FS = 30.0


def _clip(light: torch.Tensor, pulse: torch.Tensor) -> torch.Tensor:
    """(1, 3, T, 8, 8) skin of one tone under a light level (T,) with a pulse (T,) along u_p."""
    tone = torch.tensor([190.0, 140.0, 108.0])[:, None]           # (3, 1)
    u_p = torch.tensor([0.33, 0.77, 0.53])[:, None]
    rgb = light[None] * tone * (1 + u_p * pulse[None])           # (3, T)
    return rgb[None, :, :, None, None].expand(1, 3, -1, 8, 8).contiguous()


def test_normalised_difference_without_luminance_removes_a_light_change_and_keeps_the_pulse():
    t = torch.arange(121) / FS
    flicker = 1 + 0.05 * torch.sin(2 * math.pi * 1.3 * t)       # a 5 % in-band light flicker
    pulse = 0.004 * torch.sin(2 * math.pi * 1.1 * t)             # a 0.4 % pulse
    view = InferenceView(difference="normalized", luminance="remove")
    light_only = prepare_view(_clip(flicker, torch.zeros_like(t)), 8, view)
    with_pulse = prepare_view(_clip(flicker, pulse), 8, view)
    assert float(light_only.abs().max()) < 1e-6                  # the flicker is gone
    assert float(with_pulse.abs().max()) > 1e-4                  # the pulse is not
    # without the prior the flicker dominates the input: more than 5x the pulse in both difference forms
    for kept in (InferenceView(), InferenceView(difference="normalized")):
        flicker_part = prepare_view(_clip(flicker, torch.zeros_like(t)), 8, kept).abs().max()
        pulse_part = prepare_view(_clip(torch.ones_like(t), pulse), 8, kept).abs().max()
        assert float(flicker_part) > 5 * float(pulse_part)


def test_training_views_apply_the_same_prior_as_inference():
    t = torch.arange(33) / FS
    clip = _clip(1 + 0.05 * torch.sin(2 * math.pi * 1.3 * t), torch.zeros_like(t)).expand(2, -1, -1, -1, -1)
    options = ViewOptions(difference="normalized", luminance="remove", keep_prob=1.0)
    online, target = make_views(clip.contiguous(), 6, torch.Generator().manual_seed(0), options)
    single = make_single_view(clip.contiguous(), 6, torch.Generator().manual_seed(0), options)
    for view in (online, target, single):
        assert view.shape == (2, 3, 32, 6, 6) and float(view.abs().max()) < 1e-5
    assert options.inference_view() == InferenceView(difference="normalized", luminance="remove")
    with pytest.raises(ValueError, match="luminance must be one of"):
        ViewOptions(luminance="drop")


def test_the_trained_view_is_part_of_the_network_spec(tmp_path):
    from sspd.cli.config import RunConfig
    from sspd.configuration import load_config
    from sspd.engine import build_network

    for overrides, expected in (([], InferenceView("normalized", 1e-7, "remove")),
                                (["views.difference=raw", "views.luminance=keep"], InferenceView())):
        config = load_config(RunConfig, None, ["model.backbone=physnet", "model.input_size=16", "data.box_size=20",
                                               "data.frames=48", *overrides])
        spec = config.network_spec()
        assert build_network(spec).view == expected
    spec.pop("view")  # a checkpoint written before views were recorded had the release's raw view
    assert build_network(spec).view == InferenceView()
