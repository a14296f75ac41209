import pytest
import torch
from torch import nn

from sspd.ema import OnlineTargetPair


def _online(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 1))


def _params(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def test_target_is_an_eager_frozen_deep_copy():
    online = _online()
    pair = OnlineTargetPair(online)
    assert pair.online is online and pair.target is not online
    for (name, p), q in zip(online.named_parameters(), pair.target.parameters()):
        assert torch.equal(p, q) and p.data_ptr() != q.data_ptr(), name
        assert q.requires_grad is False and p.requires_grad is True
    with torch.no_grad():
        online[0].weight.add_(1.0)
    assert not torch.equal(online[0].weight, pair.target[0].weight)


def test_parameters_are_online_only_and_the_target_gets_no_gradient():
    pair = OnlineTargetPair(_online())
    assert [id(p) for p in pair.parameters()] == [id(p) for p in pair.online.parameters()]
    x = torch.randn(6, 4)
    (pair.online(x) - pair.target(x)).square().mean().backward()
    assert all(p.grad is None for p in pair.target.parameters())
    assert all(p.grad is not None for p in pair.online.parameters())


def _loss(module, x):
    return module(x).square().mean()


def test_step_after_gradient_accumulation_applies_the_formula_once():
    pair = OnlineTargetPair(_online())
    optimizer = torch.optim.SGD(pair.parameters(), lr=0.1)
    target_before = _params(pair.target)
    batches = torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(0))
    for micro in batches:  # two micro-batches, one optimiser step
        (_loss(pair.online, micro) / 2).backward()
    assert pair.step(optimizer, momentum=0.8) is True
    assert pair.num_updates == 1
    online_after = _params(pair.online)
    for name, p in pair.target.named_parameters():
        expected = 0.8 * target_before[name] + 0.2 * online_after[name]
        torch.testing.assert_close(p, expected, atol=1e-7, rtol=1e-6)


def test_step_skipped_by_the_grad_scaler_moves_neither_network():
    pair = OnlineTargetPair(_online())
    optimizer = torch.optim.SGD(pair.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0)
    scaler.scale(_loss(pair.online, torch.randn(6, 4))).backward()
    pair.online[0].weight.grad[0, 0] = float("inf")
    online_before, target_before = _params(pair.online), _params(pair.target)
    assert pair.step(optimizer, momentum=0.5, scaler=scaler) is False
    assert pair.num_updates == 0
    target_params = dict(pair.target.named_parameters())
    for name, p in pair.online.named_parameters():
        assert torch.equal(p, online_before[name]) and torch.equal(target_params[name], target_before[name])
    optimizer.zero_grad()
    scaler.scale(_loss(pair.online, torch.randn(6, 4))).backward()
    assert pair.step(optimizer, momentum=0.5, scaler=scaler) is True and pair.num_updates == 1
    assert not torch.equal(pair.target[0].weight, target_before["0.weight"])


def test_target_mode_follows_online_or_stays_in_eval():
    follow = OnlineTargetPair(_online())
    assert follow.online.training and follow.target.training
    follow.eval()
    assert not follow.online.training and not follow.target.training
    frozen = OnlineTargetPair(_online(), target_mode="eval").train()
    assert frozen.online.training and not frozen.target.training
    assert not any(m.training for m in frozen.target.modules())


def test_update_uses_the_buffer_policy_and_state_dict_round_trips():
    pair = OnlineTargetPair(_online(), buffers="copy")
    pair.online(torch.randn(6, 4))  # moves the online BatchNorm statistics
    pair.update(0.9)
    torch.testing.assert_close(pair.target[1].running_mean, pair.online[1].running_mean, atol=0, rtol=0)
    restored = OnlineTargetPair(_online(seed=5))
    restored.load_state_dict(pair.state_dict())
    assert restored.num_updates == 1
    for name, value in pair.target.state_dict().items():
        assert torch.equal(restored.target.state_dict()[name], value), name
    with pytest.raises(ValueError, match="lacks"):
        restored.load_state_dict({"online": {}})


def test_pair_errors():
    with pytest.raises(ValueError, match="buffers"):
        OnlineTargetPair(_online(), buffers="average")
    with pytest.raises(ValueError, match="target_mode"):
        OnlineTargetPair(_online(), target_mode="frozen")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        OnlineTargetPair(_online()).update(1.2)
