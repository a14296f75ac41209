import copy

import pytest
import torch
from torch import nn

from sspd.ema import update_ema


def _net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3), nn.Flatten(), nn.Linear(3 * 6, 2))


def _pair_with_different_weights_and_buffers():
    online, target = _net(0), _net(1)
    online.train()
    for _ in range(3):  # give the online BatchNorm its own running statistics and counter
        online(torch.randn(4, 2, 8))
    return online, target


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_momentum_one_changes_nothing_and_zero_copies_exactly():
    online, target = _pair_with_different_weights_and_buffers()
    before = _state(target)
    update_ema(online, target, momentum=1.0, buffers="ema")
    for name, value in target.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue  # integer counters are copied whatever the momentum
        assert torch.equal(value, before[name]), name
    update_ema(online, target, momentum=0.0, buffers="ema")
    for name, value in target.state_dict().items():
        assert torch.equal(value, online.state_dict()[name]), name


@pytest.mark.parametrize("momentum", [0.9, 0.37, 0.996])
def test_one_step_equals_the_formula(momentum):
    online, target = _pair_with_different_weights_and_buffers()
    old = dict(target.named_parameters())
    old = {k: v.detach().clone() for k, v in old.items()}
    update_ema(online, target, momentum)
    for name, p in target.named_parameters():
        expected = momentum * old[name] + (1 - momentum) * dict(online.named_parameters())[name].detach()
        torch.testing.assert_close(p.detach(), expected, atol=1e-7, rtol=1e-6)


def test_one_step_in_float64_is_exact_to_rounding():
    online, target = _net(0).double(), _net(1).double()
    old = _state(target)
    update_ema(online, target, 0.75)
    for name, p in target.named_parameters():
        expected = 0.75 * old[name] + 0.25 * online.state_dict()[name]
        torch.testing.assert_close(p.detach(), expected, atol=1e-15, rtol=0)


def test_buffer_policies():
    m = 0.5
    online, target = _pair_with_different_weights_and_buffers()
    old = _state(target)

    none_target = copy.deepcopy(target)
    update_ema(online, none_target, m, buffers="none")
    for name, buf in none_target.named_buffers():
        assert torch.equal(buf, old[name]), name

    copy_target = copy.deepcopy(target)
    update_ema(online, copy_target, m, buffers="copy")
    for name, buf in copy_target.named_buffers():
        assert torch.equal(buf, dict(online.named_buffers())[name]), name

    ema_target = copy.deepcopy(target)
    update_ema(online, ema_target, m, buffers="ema")
    online_bufs = dict(online.named_buffers())
    for stat in ("running_mean", "running_var"):
        expected = m * old[f"1.{stat}"] + (1 - m) * online_bufs[f"1.{stat}"]
        torch.testing.assert_close(getattr(ema_target[1], stat), expected)
    # the integer counter is copied, never averaged (averaging 3 and 0 would give 1 after truncation)
    assert ema_target[1].num_batches_tracked.dtype == torch.int64
    assert int(ema_target[1].num_batches_tracked) == 3 == int(online[1].num_batches_tracked)


def test_update_does_not_track_gradients():
    online, target = _net(0), _net(1)
    update_ema(online, target, 0.9)
    assert all(p.grad_fn is None for p in target.parameters())


def test_errors():
    online, target = _net(0), _net(1)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            update_ema(online, target, bad)
    with pytest.raises(ValueError, match="buffers"):
        update_ema(online, target, 0.9, buffers="average")
    other = nn.Sequential(nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3), nn.Flatten(), nn.Linear(3 * 6, 4))
    with pytest.raises(ValueError, match="'3.weight'"):
        update_ema(online, other, 0.9)
    renamed = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 6, 2))
    with pytest.raises(ValueError, match="differ"):
        update_ema(online, renamed, 0.9)
    with pytest.raises(ValueError, match="dtype"):
        update_ema(online, _net(1).double(), 0.9)
