import math

import numpy as np
import pytest
import torch

from sspd.engine.schedules import SCHEDULES, constant_lr, cosine_lr, lr_at, onecycle_lr, set_lr


def _torch_lrs(make_scheduler, steps: int, lr: float) -> list[float]:
    """Learning rates torch's own scheduler gives for steps 0 … steps-1 (the independent reference)."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make_scheduler(optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_constant_with_and_without_warmup():
    assert [constant_lr(s, 10, 0.5) for s in range(11)] == [0.5] * 11
    warm = [constant_lr(s, 10, 0.5, warmup_steps=4) for s in range(11)]
    assert warm[:4] == pytest.approx([0.5 * (s + 1) / 4 for s in range(4)], abs=1e-15)
    assert warm[3:] == [0.5] * 8  # warm-up reaches base_lr on its last step and stays there
    assert np.all(np.diff(warm[:4]) > 0)


def test_cosine_endpoints_midpoint_and_warmup():
    base, low = 1e-3, 1e-5
    assert cosine_lr(0, 100, base, min_lr=low) == pytest.approx(base, rel=1e-12)
    assert cosine_lr(100, 100, base, min_lr=low) == pytest.approx(low, rel=1e-12)
    assert cosine_lr(50, 100, base, min_lr=low) == pytest.approx((base + low) / 2, rel=1e-12)
    # with 20 warm-up steps the cosine runs over the remaining 80: midpoint at 20 + 40
    assert cosine_lr(60, 100, base, warmup_steps=20, min_lr=low) == pytest.approx((base + low) / 2, rel=1e-12)
    assert cosine_lr(20, 100, base, warmup_steps=20) == pytest.approx(base, rel=1e-12)
    warm = [cosine_lr(s, 100, base, warmup_steps=20) for s in range(20)]
    assert warm == pytest.approx([base * (s + 1) / 20 for s in range(20)], rel=1e-12)
    after = [cosine_lr(s, 100, base, warmup_steps=20) for s in range(20, 101)]
    assert np.all(np.diff(after) < 0)


def test_cosine_matches_torch_cosine_annealing():
    steps, base, low = 37, 0.2, 0.01
    reference = _torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=steps, eta_min=low),
                           steps, base)
    ours = [cosine_lr(s, steps, base, min_lr=low) for s in range(steps)]
    assert ours == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("total,pct", [(50, 0.3), (17, 0.25), (100, 0.5)])
def test_onecycle_matches_torch_onecycle(total, pct):
    # torch's phase ends are pct'·N' - 1 and N' - 1; ours are pct·N and N. They coincide for
    # N' = N + 1 and pct' = (pct·N + 1) / (N + 1).
    base = 0.1
    torch_pct = (pct * total + 1) / (total + 1)
    reference = _torch_lrs(lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=base, total_steps=total + 1, pct_start=torch_pct, anneal_strategy="cos",
        cycle_momentum=False, div_factor=25.0, final_div_factor=1e4), total + 1, base)
    ours = [onecycle_lr(s, total, base, pct_start=pct) for s in range(total + 1)]
    assert ours == pytest.approx(reference, rel=1e-7)


def test_onecycle_peak_at_the_chosen_fraction_and_endpoints():
    lrs = [onecycle_lr(s, 40, 1.0, pct_start=0.25, div_factor=10.0, final_div_factor=100.0) for s in range(41)]
    assert int(np.argmax(lrs)) == 10 and lrs[10] == pytest.approx(1.0, rel=1e-12)
    assert lrs[0] == pytest.approx(0.1, rel=1e-12)
    assert lrs[40] == pytest.approx(0.1 / 100.0, rel=1e-12)
    assert lrs[5] == pytest.approx((0.1 + 1.0) / 2, rel=1e-12)  # cosine midpoint of the rise
    assert lrs[25] == pytest.approx((1.0 + 0.001) / 2, rel=1e-12)  # and of the fall


def test_lr_at_dispatches_to_each_schedule():
    for step in (0, 3, 9, 20):
        assert lr_at(step, 20, 0.1) == constant_lr(step, 20, 0.1)
        assert lr_at(step, 20, 0.1, "cosine", warmup_steps=2, min_lr=0.01) == \
            cosine_lr(step, 20, 0.1, warmup_steps=2, min_lr=0.01)
        assert lr_at(step, 20, 0.1, "onecycle", pct_start=0.4) == onecycle_lr(step, 20, 0.1, pct_start=0.4)
    assert SCHEDULES == ("constant", "cosine", "onecycle")


@pytest.mark.parametrize("call,match", [
    (lambda: constant_lr(-1, 10, 0.1), "step"),
    (lambda: constant_lr(11, 10, 0.1), "step"),
    (lambda: constant_lr(1.0, 10, 0.1), "step"),
    (lambda: constant_lr(0, 0, 0.1), "total_steps"),
    (lambda: constant_lr(0, True, 0.1), "total_steps"),
    (lambda: constant_lr(0, 10, 0.0), "base_lr"),
    (lambda: constant_lr(0, 10, math.nan), "base_lr"),
    (lambda: constant_lr(0, 10, 0.1, warmup_steps=10), "warmup_steps"),
    (lambda: cosine_lr(0, 10, 0.1, warmup_steps=-1), "warmup_steps"),
    (lambda: cosine_lr(0, 10, 0.1, min_lr=0.2), "min_lr"),
    (lambda: cosine_lr(0, 10, 0.1, min_lr=-0.01), "min_lr"),
    (lambda: onecycle_lr(0, 10, 0.1, pct_start=0.0), "pct_start"),
    (lambda: onecycle_lr(0, 10, 0.1, pct_start=1.0), "pct_start"),
    (lambda: onecycle_lr(0, 10, 0.1, div_factor=0.5), "div_factor"),
    (lambda: onecycle_lr(0, 10, 0.1, final_div_factor=0.0), "final_div_factor"),
    (lambda: lr_at(0, 10, 0.1, "step"), "unknown schedule 'step'; valid: constant, cosine, onecycle"),
    (lambda: lr_at(0, 10, 0.1, "onecycle", warmup_steps=2), "pct_start"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_set_lr_applies_group_multipliers():
    backbone, head = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam([{"params": backbone.parameters(), "lr_scale": 0.1},
                                  {"params": head.parameters()}], lr=1.0)
    assert set_lr(optimizer, 0.02) == pytest.approx([0.002, 0.02], rel=1e-12)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.002, 0.02], rel=1e-12)
    set_lr(optimizer, lr_at(5, 10, 0.04, "cosine"))  # a schedule value drives every group
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.02, rel=1e-12)


def test_set_lr_errors():
    optimizer = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr_scale": -1.0}], lr=0.1)
    with pytest.raises(ValueError, match="param group 0 has lr_scale -1.0"):
        set_lr(optimizer, 0.1)
    assert optimizer.param_groups[0]["lr"] == 0.1  # nothing changed
    with pytest.raises(ValueError, match="lr must be"):
        set_lr(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), math.inf)
