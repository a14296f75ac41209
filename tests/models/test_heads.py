"""The SSPD predictor and the linear-probe head."""
import pytest
import torch
import torch.nn.functional as F

from sspd.backbones import count_parameters, create_backbone
from sspd.models.heads import LinearProbeHead, SSPDPredictor, halve_mean, pad_to_min_size


def test_predictor_and_sspdnet_reference_counts():
    predictor = SSPDPredictor(in_channels=256)
    assert count_parameters(predictor) == 172_481
    assert count_parameters(create_backbone("sspdnet")) + count_parameters(predictor) == 786_079


def test_predictor_equals_the_fixed_release_form_on_an_8x8_map():
    torch.manual_seed(0)
    predictor = SSPDPredictor(in_channels=16).eval()
    features = torch.randn(2, 16, 12, 8, 8)
    # The release's fixed layers for a 128×128 input: AvgPool(2,2,2), valid 3×3, nearest ×2 in time,
    # AvgPool(1,2,2) on the 2×2 map, 1×1 conv.
    x = F.avg_pool3d(predictor.reduce(features), 2)
    x = F.interpolate(predictor.mix(x), scale_factor=(2, 1, 1), mode="nearest")
    x = F.avg_pool3d(predictor.refine(x), (1, 2, 2))  # (B, 64, T, 1, 1)
    expected = predictor.out(x).flatten(1)
    torch.testing.assert_close(predictor(features), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("frames", [1, 2, 5, 7, 16])
@pytest.mark.parametrize("side", [1, 2, 3, 4, 5, 9])
def test_predictor_takes_any_length_and_map_size(frames, side):
    torch.manual_seed(1)
    out = SSPDPredictor(in_channels=12)(torch.randn(2, 12, frames, side, side + 1))
    assert out.shape == (2, frames) and torch.isfinite(out).all()


def test_predictor_on_every_backbone_and_input_is_not_detached():
    torch.manual_seed(2)
    for name, size in [("physnet", 32), ("physformer", 32), ("sspdnet", 66)]:
        backbone = create_backbone(name, width=0.25, frames=8, input_size=size)
        predictor = SSPDPredictor(in_channels=backbone.feature_dim)
        features = backbone.forward_features(torch.randn(2, 3, 8, size, size))
        predictor(features).square().sum().backward()
        first = next(backbone.parameters())  # the first layer's weight: upstream of everything
        assert first.grad is not None and first.grad.abs().sum() > 0, name


def test_halve_mean_keeps_an_odd_last_frame_alone():
    x = torch.randn(1, 2, 5, 3, 1)
    out = halve_mean(x)
    assert out.shape == (1, 2, 3, 2, 1)
    for t, ts in enumerate([(0, 1), (2, 3), (4,)]):
        for y, ys in enumerate([(0, 1), (2,)]):
            window = x[:, :, list(ts)][:, :, :, list(ys)]
            torch.testing.assert_close(out[:, :, t, y, 0], window.mean(dim=(2, 3, 4)))


def test_pad_to_min_size_pads_symmetrically_with_zeros_only_when_needed():
    x = torch.randn(1, 1, 2, 2, 1)
    out = pad_to_min_size(x, 3)
    assert out.shape == (1, 1, 2, 4, 3)
    torch.testing.assert_close(out[..., 1:3, 1:2], x)
    border = out.clone()
    border[..., 1:3, 1:2] = 0
    assert not border.any()
    same = torch.randn(1, 1, 2, 3, 4)
    assert pad_to_min_size(same, 3) is same


def test_predictor_rejects_the_wrong_width_or_rank():
    predictor = SSPDPredictor(in_channels=256)
    with pytest.raises(ValueError, match=r"\(B, 256, T, h, w\).*in_channels=backbone.feature_dim"):
        predictor(torch.zeros(1, 64, 8, 4, 4))
    with pytest.raises(ValueError, match=r"\(B, 256, T, h, w\)"):
        predictor(torch.zeros(1, 256, 8))
    with pytest.raises(ValueError, match="in_channels"):
        SSPDPredictor(in_channels=0)


def test_linear_probe_is_a_per_frame_linear_map():
    torch.manual_seed(3)
    head = LinearProbeHead(in_channels=6)
    assert count_parameters(head) == 7
    pooled = torch.randn(2, 6, 10)
    expected = torch.einsum("bdt,d->bt", pooled, head.linear.weight[0, :, 0]) + head.linear.bias
    torch.testing.assert_close(head(pooled), expected)
    feature_map = torch.randn(2, 6, 10, 3, 4)
    torch.testing.assert_close(head(feature_map), head(feature_map.mean(dim=(3, 4))))


def test_linear_probe_rejects_bad_input():
    head = LinearProbeHead(in_channels=6)
    with pytest.raises(ValueError, match=r"\(B, 6, T\)"):
        head(torch.zeros(2, 5, 10))
    with pytest.raises(ValueError, match=r"\(B, 6, T\)"):
        head(torch.zeros(6, 10))
    with pytest.raises(ValueError, match="in_channels"):
        LinearProbeHead(in_channels=0)


def test_st_rppg_head_pools_each_quadrant_to_one_signal_and_predicts_their_mean():
    from sspd.models.heads import STRPPGHead

    head = STRPPGHead(in_channels=3)
    assert count_parameters(head) == 3 + 1
    with torch.no_grad():
        head.out.weight.copy_(torch.tensor([1.0, 2.0, 0.0]).view(1, 3, 1, 1, 1))
        head.out.bias.fill_(0.5)
    features = torch.randn(2, 3, 5, 6, 4)                          # (B, D, T, h, w): quadrants of 3×2 pixels
    spatial = head.spatial(features)
    assert spatial.shape == (2, 4, 5)
    quadrants = [features[..., :3, :2], features[..., :3, 2:], features[..., 3:, :2], features[..., 3:, 2:]]
    for cell, quadrant in enumerate(quadrants):                   # row-major: top-left, top-right, ...
        mean = quadrant.mean(dim=(3, 4))                           # (B, D, T)
        torch.testing.assert_close(spatial[:, cell], mean[:, 0] + 2 * mean[:, 1] + 0.5)
    torch.testing.assert_close(head(features), spatial.mean(dim=1))
    with pytest.raises(ValueError, match=r"feature map \(B, 3, T, h, w\)"):
        head(torch.randn(2, 4, 5, 6, 4))


def test_networks_carry_the_head_their_spec_names():
    from sspd.engine import ModelConfig, build_network, network_spec
    from sspd.augment.inference import InferenceView
    from sspd.models.heads import STRPPGHead

    spec = network_spec(ModelConfig(backbone="physnet", input_size=16, head="st_rppg"), frames=16,
                        view=InferenceView())
    network = build_network(spec).eval()
    assert isinstance(network.predictor, STRPPGHead)
    outputs = network(torch.rand(2, 3, 16, 16, 16), with_ts=False, detach_predictor=False)
    assert outputs.spatial.shape == (2, 4, 16)
    torch.testing.assert_close(outputs.rppg, outputs.spatial.mean(dim=1))
    torch.testing.assert_close(network.predict(torch.ones(1, 3, 16, 16, 16)),
                               network(torch.ones(1, 3, 16, 16, 16), with_ts=False).rppg)
    old = {**spec, "stack": {k: v for k, v in spec["stack"].items() if k not in ("head", "head_grid")}}
    assert isinstance(build_network(old).predictor, SSPDPredictor)   # checkpoints from before the option
    with pytest.raises(ValueError, match="model.head must be one of sspd, st_rppg"):
        ModelConfig(head="st-rppg")
