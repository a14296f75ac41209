import math

import pytest
import torch

from sspd.ssm import TSBlock, TSStack


def _linear(layer, vec):
    w, b = layer.weight.double().tolist(), layer.bias.double().tolist()
    return [sum(wi * v for wi, v in zip(row, vec)) + bi for row, bi in zip(w, b)]


def _layer_norm(vec, norm):
    mean = sum(vec) / len(vec)
    var = sum((v - mean) ** 2 for v in vec) / len(vec)
    g, b = norm.weight.double().tolist(), norm.bias.double().tolist()
    return [(v - mean) / math.sqrt(var + norm.eps) * gi + bi for v, gi, bi in zip(vec, g, b)]


def _ts_block_loop(block, x):
    """Reference forward of one sample, x: list of D lists of T floats. Returns (out D×T', h T'×D)."""
    d, t, k = len(x), len(x[0]), block.kernel_size
    n = t - k + 1
    wc, bc = block.conv.weight.double().tolist(), block.conv.bias.double().tolist()
    tokens = []
    for i in range(n):  # valid convolution, then LayerNorm over the channels
        conv = [bc[o] + sum(wc[o][c][j] * x[c][i + j] for c in range(d) for j in range(k))
                for o in range(d)]
        tokens.append(_layer_norm(conv, block.norm))
    q = [_linear(block.query, tok) for tok in tokens]
    kk = [_linear(block.key, tok) for tok in tokens]
    v = [_linear(block.value, tok) for tok in tokens]
    hs = d // block.num_heads
    merged = [[0.0] * d for _ in range(n)]
    for head in range(block.num_heads):
        cols = range(head * hs, (head + 1) * hs)
        for i in range(n):
            scores = [sum(q[i][c] * kk[j][c] for c in cols) for j in range(n)]
            if block.attention == "softmax":
                scores = [s / math.sqrt(hs) for s in scores]
                top = max(scores)
                exps = [math.exp(s - top) for s in scores]
                scores = [e / sum(exps) for e in exps]
            else:
                scores = [s / n for s in scores]
            for c in cols:
                merged[i][c] = sum(scores[j] * v[j][c] for j in range(n))
    h = [[math.tanh(val) for val in _linear(block.proj, row)] for row in merged]
    if block.resample == "center":
        src = [i + (k - 1) // 2 for i in range(n)]
    else:  # nearest: output frame i reads input frame floor(i · T / T')
        src = [math.floor(i * t / n) for i in range(n)]
    out = [[x[c][src[i]] + h[i][c] for i in range(n)] for c in range(d)]
    return out, h


@pytest.mark.parametrize("attention", ["tokens", "softmax"])
@pytest.mark.parametrize("resample", ["nearest", "center"])
def test_ts_block_matches_loop_reference(attention, resample):
    torch.manual_seed(0)
    block = TSBlock(dim=4, kernel_size=3, num_heads=2, attention=attention, resample=resample)
    with torch.no_grad():  # non-trivial norm and biases, so the reference checks they are used
        for p in (block.norm.weight, block.norm.bias, block.conv.bias, block.query.bias, block.proj.bias):
            p.normal_(0.5, 0.3)
    x = torch.randn(2, 4, 11, generator=torch.Generator().manual_seed(1))
    out, h = block(x)
    assert out.shape == (2, 4, 9) and h.shape == (2, 9, 4)
    for b in range(2):
        ref_out, ref_h = _ts_block_loop(block, x[b].double().tolist())
        torch.testing.assert_close(out[b].detach(), torch.tensor(ref_out, dtype=torch.float32),
                                   atol=1e-5, rtol=0)
        torch.testing.assert_close(h[b].detach(), torch.tensor(ref_h, dtype=torch.float32),
                                   atol=1e-5, rtol=0)


def test_stack_token_lengths_and_backward_reaches_every_parameter():
    torch.manual_seed(0)
    stack = TSStack(dim=8)  # kernels (9, 7, 5), 2 heads
    x = torch.randn(2, 8, 40, requires_grad=True)
    hs, out = stack(x)
    assert [h.shape for h in hs] == [(2, 32, 8), (2, 26, 8), (2, 22, 8)]
    assert out.shape == (2, 8, 22) and stack.min_frames == 19
    (sum(h.square().sum() for h in hs) + out.sum()).backward()
    for name, p in stack.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0, name


def test_stack_chains_levels_on_residual_outputs():
    torch.manual_seed(1)
    stack = TSStack(dim=4, kernel_sizes=(3, 3), num_heads=1, resample="center")
    x = torch.randn(1, 4, 12)
    hs, out = stack(x)
    first_out, first_h = stack.blocks[0](x)
    second_out, second_h = stack.blocks[1](first_out)
    torch.testing.assert_close(hs[0], first_h)
    torch.testing.assert_close(hs[1], second_h)
    torch.testing.assert_close(out, second_out)


def test_paper_lengths_and_init():
    block = TSBlock(dim=16, kernel_size=9, num_heads=2)
    out, h = block(torch.randn(1, 16, 300))
    assert h.shape == (1, 292, 16) and out.shape == (1, 16, 292)
    for layer in (block.conv, block.query, block.key, block.value, block.proj):
        assert float(layer.bias.detach().abs().max()) == 0.0
    assert torch.equal(block.norm.weight, torch.ones(16)) and torch.equal(block.norm.bias, torch.zeros(16))
    # xavier-normal: std = sqrt(2 / (fan_in + fan_out)); 256 weights, so a loose bound
    std = float(block.query.weight.detach().std())
    assert abs(std - math.sqrt(2 / 32)) < 0.25 * math.sqrt(2 / 32)


def test_ts_block_errors():
    with pytest.raises(ValueError, match="divisible"):
        TSBlock(dim=6, kernel_size=3, num_heads=4)
    with pytest.raises(ValueError, match="attention"):
        TSBlock(dim=4, kernel_size=3, num_heads=2, attention="linear")
    with pytest.raises(ValueError, match="resample"):
        TSBlock(dim=4, kernel_size=3, num_heads=2, resample="linear")
    with pytest.raises(ValueError, match="> 0"):
        TSBlock(dim=4, kernel_size=0, num_heads=2)
    block = TSBlock(dim=4, kernel_size=5, num_heads=2)
    with pytest.raises(ValueError, match="D=4"):
        block(torch.randn(1, 3, 20))
    with pytest.raises(ValueError, match="at least 5 frames"):
        block(torch.randn(1, 4, 4))
    with pytest.raises(ValueError, match="at least one kernel"):
        TSStack(dim=4, kernel_sizes=())


def test_head_split_and_merge_keep_the_channel_order_of_a_reshape():
    # head j holds channels j·hs .. (j+1)·hs - 1, as x.view(B, T', nh, hs).transpose(1, 2) did
    block = TSBlock(12, 3, 3)
    x = torch.randn(2, 7, 12)
    heads = block._split_heads(x)
    assert torch.equal(heads, x.view(2, 7, 3, 4).transpose(1, 2))
    assert torch.equal(heads[:, 1], x[..., 4:8])
