import math

import numpy as np
import pytest

from sspd.ema import cosine_momentum


def test_endpoints_and_midpoint():
    assert math.isclose(cosine_momentum(0, 90), 0.9, abs_tol=1e-12)
    assert cosine_momentum(90, 90) == 1.0
    assert math.isclose(cosine_momentum(45, 90), 0.95, abs_tol=1e-12)
    assert math.isclose(cosine_momentum(0, 10, start=0.5, end=0.99), 0.5, abs_tol=1e-12)
    assert math.isclose(cosine_momentum(10, 10, start=0.5, end=0.99), 0.99, abs_tol=1e-12)


def test_release_formula_and_monotone_increase():
    n = 37
    values = [cosine_momentum(i, n) for i in range(n + 1)]
    for i, m in enumerate(values):
        assert math.isclose(m, 1 - 0.05 * (1 + math.cos(math.pi * i / n)), abs_tol=1e-12)
    assert all(b > a for a, b in zip(values, values[1:]))


def test_accepts_numpy_integers():
    assert math.isclose(cosine_momentum(np.int64(3), np.int64(6)), 0.95, abs_tol=1e-12)


@pytest.mark.parametrize("step,total,start,end,match", [
    (-1, 10, 0.9, 1.0, "step"),
    (11, 10, 0.9, 1.0, "step"),
    (1.5, 10, 0.9, 1.0, "step"),
    (0, 0, 0.9, 1.0, "total_steps"),
    (0, -5, 0.9, 1.0, "total_steps"),
    (0, 10.0, 0.9, 1.0, "total_steps"),
    (0, 10, -0.1, 1.0, "start"),
    (0, 10, 0.9, 1.01, "end"),
])
def test_errors(step, total, start, end, match):
    with pytest.raises(ValueError, match=match):
        cosine_momentum(step, total, start=start, end=end)


def test_cosine_interpolate_is_the_half_cosine_of_both_schedules():
    import random

    from sspd.ema.schedules import cosine_interpolate
    from sspd.engine.schedules import cosine_lr

    assert cosine_interpolate(0.9, 1.0, 0.0) == 0.9 and cosine_interpolate(0.9, 1.0, 1.0) == 1.0
    assert cosine_interpolate(2.0, 4.0, 0.5) == pytest.approx(3.0, abs=1e-15)
    assert cosine_interpolate(1.0, 0.0, 0.25) == pytest.approx((1 + math.cos(math.pi / 4)) / 2, abs=1e-15)
    rng = random.Random(0)
    for _ in range(200):  # the engine's former formula end + (start - end)·c gives the very same floats
        start, end, fraction = rng.random(), rng.random(), rng.random()
        former = end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2
        assert cosine_interpolate(start, end, fraction) == former
    assert cosine_lr(30, 100, 1e-3, warmup_steps=10, min_lr=1e-5) == cosine_interpolate(1e-3, 1e-5, 20 / 90)
    with pytest.raises(ValueError, match="fraction must lie in"):
        cosine_interpolate(0.0, 1.0, 1.5)
