"""Shared layers: width scaling, temporal-difference conv, squeeze-excitation, SSPD init, PhysFormer attention."""
import math

import pytest
import torch
import torch.nn.functional as F

from sspd.backbones import count_parameters, create_backbone
from sspd.backbones.layers import SqueezeExcitation, TemporalDifferenceConv3d, init_xavier_, scale_width
from sspd.backbones.physformer import TDCAttention
from sspd.models.heads import SSPDPredictor


@pytest.mark.parametrize("width, mult, divisor, expected", [
    (96, 1.0, 4, 96), (144, 1.0, 4, 144), (8, 0.25, 4, 4), (96, 0.3, 4, 28), (96, 0.25, 4, 24),
    (256, 0.5, 4, 128), (96, 0.01, 3, 3), (16, 1.5, 4, 24),
])
def test_scale_width_rounds_to_the_divisor_with_a_floor(width, mult, divisor, expected):
    assert scale_width(width, mult, divisor) == expected


@pytest.mark.parametrize("mult", [0.0, -0.5, float("nan")])
def test_scale_width_rejects_non_positive_multipliers(mult):
    with pytest.raises(ValueError, match="width multiplier must be > 0"):
        scale_width(16, mult)


@pytest.mark.parametrize("theta", [0.0, 0.7, 1.0])
def test_tdc_equals_conv_minus_theta_times_the_summed_kernel_conv(theta):
    torch.manual_seed(0)
    layer = TemporalDifferenceConv3d(5, 6, theta=theta)
    x = torch.randn(2, 5, 7, 6, 5)
    w = layer.weight.detach()
    # The paper's two-conv form: ordinary conv, minus theta times a 1×1×1 conv whose kernel is the first
    # and last temporal slices of w summed over space and over the two slices.
    kernel_diff = w[:, :, 0].sum(dim=(2, 3)) + w[:, :, 2].sum(dim=(2, 3))  # (out, in)
    expected = F.conv3d(x, w, padding=1) - theta * F.conv3d(x, kernel_diff[:, :, None, None, None])
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)


def test_tdc_rejects_even_or_short_kernels():
    with pytest.raises(ValueError, match="odd kernel"):
        TemporalDifferenceConv3d(2, 2, kernel_size=(2, 3, 3))
    with pytest.raises(ValueError, match="odd kernel"):
        TemporalDifferenceConv3d(2, 2, kernel_size=(1, 3, 3))


def test_squeeze_excitation_matches_its_formula():
    torch.manual_seed(1)
    block = SqueezeExcitation(8, reduction=4)
    x = torch.randn(3, 8, 4, 5, 6)
    s = x.mean(dim=(2, 3, 4))
    hidden = torch.relu(s @ block.fc1.weight.T + block.fc1.bias)
    gate = torch.sigmoid(hidden @ block.fc2.weight.T + block.fc2.bias)  # (B, C)
    out = block(x)
    torch.testing.assert_close(out, x * gate[:, :, None, None, None])
    assert block.fc1.out_features == 2 and SqueezeExcitation(3, reduction=16).fc1.out_features == 1
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation(8, reduction=0)


@pytest.mark.parametrize("module", [create_backbone("sspdnet"), SSPDPredictor(256)])
def test_sspd_init_is_xavier_normal_with_unit_norms(module):
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv3d)]
    largest = max(convs, key=lambda m: m.weight.numel())
    fan_in, fan_out = largest.weight[0].numel(), largest.weight[:, 0].numel()
    std = math.sqrt(2.0 / (fan_in + fan_out))
    assert abs(largest.weight.std().item() / std - 1) < 0.02
    assert abs(largest.weight.mean().item()) < 0.05 * std
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            assert torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any()
        if isinstance(m, torch.nn.Conv3d) and m.bias is not None:
            assert not m.bias.any()


def test_init_xavier_resets_a_linear_and_a_tdc():
    torch.manual_seed(2)
    lin, tdc = torch.nn.Linear(400, 300), TemporalDifferenceConv3d(30, 40)
    init_xavier_(torch.nn.ModuleList([lin, tdc]))
    assert not lin.bias.any()
    assert abs(lin.weight.std().item() / math.sqrt(2 / 700) - 1) < 0.03
    assert abs(tdc.weight.std().item() / math.sqrt(2 / (30 * 27 + 40 * 27)) - 1) < 0.03


def test_count_parameters_can_skip_frozen_ones():
    model = create_backbone("physnet")
    model.head.requires_grad_(False)
    assert count_parameters(model) == 768_577
    assert count_parameters(model, trainable_only=True) == 768_577 - 65


def test_tdc_attention_equals_a_per_head_loop_reference():
    torch.manual_seed(3)
    dim, heads, grid = 12, 3, (2, 3, 2)
    attn = TDCAttention(dim, num_heads=heads, sharpness=2.0, dropout=0.0).eval()
    tokens = torch.randn(2, 12, dim)
    volume = tokens.transpose(1, 2).reshape(2, dim, *grid)
    q, k, v = (f(volume).flatten(2).transpose(1, 2) for f in (attn.q, attn.k, attn.v))  # (B, N, D)
    hs = dim // heads
    per_head = []
    for h in range(heads):
        cols = slice(h * hs, (h + 1) * hs)
        scores = torch.softmax(q[:, :, cols] @ k[:, :, cols].transpose(1, 2) / 2.0, dim=-1)
        per_head.append(scores @ v[:, :, cols])
    expected = attn.proj(torch.cat(per_head, dim=-1))
    torch.testing.assert_close(attn(tokens, grid), expected, atol=1e-5, rtol=1e-5)


def test_tdc_attention_rejects_bad_heads_and_sharpness():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        TDCAttention(10, num_heads=4)
    with pytest.raises(ValueError, match="sharpness"):
        TDCAttention(8, num_heads=4, sharpness=0.0)


def test_physformer_tokens_and_heads_keep_the_order_of_a_reshape():
    # tokens are t-major (N = t·h·w) and head j holds channels j·hs .. (j+1)·hs - 1
    from sspd.backbones.physformer import _to_grid, _to_tokens

    volume = torch.randn(2, 8, 3, 2, 4)  # (B, D, t, h, w)
    tokens = _to_tokens(volume)
    assert torch.equal(tokens, volume.flatten(2).transpose(1, 2))
    assert torch.equal(tokens[:, 1 * 8 + 1 * 4 + 3], volume[:, :, 1, 1, 3])  # token ti·(h·w) + yi·w + xi
    assert torch.equal(_to_grid(tokens, (3, 2, 4)), volume)
    heads = TDCAttention(8, num_heads=2)._split_heads(volume)  # (B, nh, N, hs)
    assert torch.equal(heads, tokens.unflatten(2, (2, -1)).transpose(1, 2))
