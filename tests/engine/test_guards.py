import logging
import math

import pytest
import torch
from torch import nn

from sspd.engine.guards import NonFiniteGuard, NonFiniteLossError, find_nonfinite_grads, find_nonfinite_terms

NAN, INF = float("nan"), float("inf")


def _terms(ssm: float = 0.5, ssw: float = 0.2) -> dict[str, torch.Tensor]:
    return {"loss": torch.tensor(ssm + ssw), "ssm": torch.tensor(ssm), "ssw": torch.tensor(ssw)}


def test_find_nonfinite_terms_names_each_bad_entry():
    assert find_nonfinite_terms(_terms()) == []
    assert find_nonfinite_terms(_terms(ssm=NAN)) == ["loss", "ssm"]
    assert find_nonfinite_terms({"a": 1.0, "b": -INF, "c": torch.tensor([1.0, NAN])}) == ["b", "c"]
    assert find_nonfinite_terms(torch.tensor(INF)) == ["loss"]
    assert find_nonfinite_terms(3) == []
    with pytest.raises(ValueError, match="'x' must be a tensor or a real number, got str"):
        find_nonfinite_terms({"x": "nan"})


def test_find_nonfinite_grads_matches_a_per_parameter_reference():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Linear(3, 1))
    model(torch.randn(5, 4)).sum().backward()
    model[0].bias.grad[2] = NAN
    model[2].weight.grad[1, 1] = -INF
    model[3].bias.grad = None  # no gradient: skipped
    reference = [n for n, p in model.named_parameters()
                 if p.grad is not None and not all(math.isfinite(v) for v in p.grad.flatten().tolist())]
    assert reference == ["0.bias", "2.weight"]
    assert find_nonfinite_grads(model) == reference
    model.zero_grad(set_to_none=True)
    assert find_nonfinite_grads(model) == []


def test_guard_counts_skips_and_resets_on_a_finite_step():
    guard = NonFiniteGuard(max_consecutive=3)
    outcomes = [guard.check(_terms(ssm=v), step=i) for i, v in enumerate([0.1, NAN, NAN, 0.3, INF, 0.2])]
    assert outcomes == [True, False, False, True, False, True]
    assert guard.skipped_total == 3 and guard.consecutive == 0


def test_guard_raises_on_the_kth_bad_step_in_a_row_naming_terms_and_steps():
    guard = NonFiniteGuard(max_consecutive=3)
    assert guard.check(_terms(), step=9)
    assert not guard.check(_terms(ssw=NAN), step=10)
    assert not guard.check(_terms(ssw=NAN), step=11)
    with pytest.raises(NonFiniteLossError) as info:
        guard.check(_terms(ssm=INF), step=12)
    message = str(info.value)
    assert "3 optimiser steps in a row" in message and "steps 10-12" in message
    assert "loss, ssm" in message and "ssw" not in message  # the last step's bad terms
    assert "3 step(s) were skipped in total" in message and "learning rate" in message


def test_guard_checks_gradients_when_given_a_module(caplog):
    model = nn.Linear(3, 1)
    model(torch.ones(2, 3)).sum().backward()
    guard = NonFiniteGuard(max_consecutive=1)
    assert guard.check(_terms(), step=0, grads_of=model)
    model.weight.grad[0, 0] = INF  # finite loss, inf gradient: what fp16 overflow looks like
    with caplog.at_level(logging.WARNING, logger="sspd.engine.guards"):
        with pytest.raises(NonFiniteLossError, match="grad of weight"):
            guard.check(_terms(), step=1, grads_of=model)
    assert "non-finite grad of weight at step 1" in caplog.text


def test_guard_state_round_trip_keeps_the_consecutive_count():
    guard = NonFiniteGuard(max_consecutive=3)
    guard.check(_terms(), step=0)
    guard.check(torch.tensor(NAN), step=1)
    guard.check(torch.tensor(NAN), step=2)
    resumed = NonFiniteGuard(max_consecutive=3)
    resumed.load_state_dict(guard.state_dict())
    assert (resumed.skipped_total, resumed.consecutive) == (2, 2)
    with pytest.raises(NonFiniteLossError, match="steps 1-3"):
        resumed.check(torch.tensor(NAN), step=3)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "5"])
def test_guard_rejects_bad_max_consecutive(bad):
    with pytest.raises(ValueError, match="max_consecutive must be an int >= 1"):
        NonFiniteGuard(max_consecutive=bad)


def test_guard_load_state_dict_rejects_incomplete_state():
    with pytest.raises(ValueError, match=r"lacks \['consecutive', 'first_bad_step'\]"):
        NonFiniteGuard().load_state_dict({"skipped_total": 1})
