"""Parameter counts computed layer by layer on paper (independently of the models), at any width."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from sspd.backbones import count_parameters, create_backbone
from sspd.backbones.layers import scale_width
from sspd.models.heads import SSPDPredictor


def conv(cin, cout, k, bias):
    return cin * cout * k + (cout if bias else 0)


def bn(c):
    return 2 * c


def se(c, r=4):
    hidden = max(1, c // r)
    return c * hidden + hidden + hidden * c + c


def physnet_count(width=1.0, use_se=False):
    c16, c32, c64 = (scale_width(c, width) for c in (16, 32, 64))
    n = conv(3, c16, 25, True) + bn(c16)
    n += conv(c16, c32, 27, True) + bn(c32) + conv(c32, c64, 27, True) + bn(c64)
    n += 6 * (conv(c64, c64, 27, True) + bn(c64))
    n += 2 * (conv(c64, c64, 4, True) + bn(c64))  # ConvTranspose3d k(4,1,1)
    n += conv(c64, 1, 1, True)
    if use_se:
        n += se(c16) + 4 * se(c64)
    return n


def sspdnet_count(width=1.0, use_se=False):
    widths = [scale_width(c, width) for c in (8, 16, 16, 32, 32, 64, 256)]
    kernels = [75, 27, 75, 27, 75, 27, 27]
    n, cin = bn(3), 3
    for cout, k in zip(widths, kernels):
        n += conv(cin, cout, k, False) + bn(cout)
        cin = cout
    if use_se:
        n += sum(se(widths[i]) for i in (1, 3, 5, 6))
    return n


def physformer_count(width=1.0, depth=12, heads=4):
    dim = scale_width(96, width, divisor=heads)
    c24, c48, hid = (scale_width(c, width) for c in (24, 48, 144))
    stem = conv(3, c24, 25, True) + bn(c24) + conv(c24, c48, 27, True) + bn(c48)
    stem += conv(c48, dim, 27, True) + bn(dim)
    embed = conv(dim, dim, 64, True)
    attention = 2 * (conv(dim, dim, 27, False) + bn(dim)) + conv(dim, dim, 1, False) + dim * dim + dim
    ffn = conv(dim, hid, 1, False) + bn(hid) + hid * 27 + bn(hid) + conv(hid, dim, 1, False) + bn(dim)
    block = 2 * 2 * dim + attention + ffn  # two LayerNorms
    up = conv(dim, dim, 3, True) + bn(dim) + conv(dim, c48, 3, True) + bn(c48)
    return stem + embed + depth * block + up + conv(c48, 1, 1, True)


def predictor_count(cin):
    return conv(cin, 64, 3, False) + bn(64) + conv(64, 64, 27, False) + bn(64) \
        + conv(64, 64, 3, False) + bn(64) + conv(64, 1, 1, True)


def test_paper_figures_equal_the_layer_by_layer_sums():
    assert physnet_count() == 768_577
    assert physformer_count() == 7_380_865
    assert sspdnet_count() == 613_598
    assert predictor_count(256) == 172_481
    assert sspdnet_count() + predictor_count(256) == 786_079


@pytest.mark.parametrize("width", [0.25, 0.5, 1.0, 1.5])
@pytest.mark.parametrize("use_se", [False, True])
def test_cnn_counts_match_the_paper_sums_at_any_width(width, use_se):
    assert count_parameters(create_backbone("physnet", width=width, se=use_se)) == physnet_count(width, use_se)
    assert count_parameters(create_backbone("sspdnet", width=width, se=use_se)) == sspdnet_count(width, use_se)


@pytest.mark.parametrize("width, depth, heads", [(0.5, 12, 4), (0.25, 3, 2), (1.0, 2, 4)])
def test_physformer_count_matches_the_paper_sum(width, depth, heads):
    model = create_backbone("physformer", width=width, depth=depth, num_heads=heads)
    assert count_parameters(model) == physformer_count(width, depth, heads)


@pytest.mark.parametrize("cin", [12, 48, 64, 256])
def test_predictor_count_for_any_backbone_width(cin):
    assert count_parameters(SSPDPredictor(cin)) == predictor_count(cin)


def test_sspd_inference_network_costs_about_84_gmac_per_300_frame_clip():
    # docs/method.md §2: "about 84 GMAC per 300-frame 128×128 clip at inference"; counted on the meta
    # device (shapes only, no arithmetic), convolutions only.
    with torch.device("meta"):
        backbone, predictor = create_backbone("sspdnet"), SSPDPredictor(256)
        clip = torch.empty(1, 3, 300, 128, 128)
    with FlopCounterMode(display=False) as counter:
        predictor(backbone.forward_features(clip))
    assert 83.5e9 < counter.get_total_flops() / 2 < 84.5e9
