import math

import numpy as np
import pytest

from sspd.eval.metrics import bland_altman, hr_metrics

PRED = [70.0, 80.0, 95.0, 60.0]
TRUE = [72.0, 78.0, 90.0, 65.0]  # errors -2, 2, 5, -5


def _sd(values):
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def test_hr_metrics_against_hand_computed_values():
    m = hr_metrics(PRED, TRUE)
    assert m.n == 4
    # |e| = 2, 2, 5, 5: mean 3.5, sample sd sqrt(3), SE sqrt(3) / 2
    assert m.mae == pytest.approx(3.5, abs=1e-12)
    assert m.mae_se == pytest.approx(math.sqrt(3) / 2, abs=1e-12)
    # e² = 4, 4, 25, 25: MSE 14.5, sd sqrt(147); SE(RMSE) = (sqrt(147) / 2) / (2 sqrt(14.5))
    assert m.rmse == pytest.approx(math.sqrt(14.5), abs=1e-12)
    assert m.rmse_se == pytest.approx(math.sqrt(147) / 2 / (2 * math.sqrt(14.5)), abs=1e-12)
    ape = [100 * 2 / 72, 100 * 2 / 78, 100 * 5 / 90, 100 * 5 / 65]
    assert m.mape == pytest.approx(sum(ape) / 4, abs=1e-12)
    assert m.mape_se == pytest.approx(_sd(ape) / 2, abs=1e-12)
    mp, mt = sum(PRED) / 4, sum(TRUE) / 4
    cov = sum((p - mp) * (t - mt) for p, t in zip(PRED, TRUE))
    r = cov / math.sqrt(sum((p - mp) ** 2 for p in PRED) * sum((t - mt) ** 2 for t in TRUE))
    assert m.pearson_r == pytest.approx(r, abs=1e-12)
    assert m.pearson_r_se == pytest.approx(math.sqrt((1 - r * r) / 2), abs=1e-12)
    assert m.notes == ()
    assert m.as_dict()["mae"] == m.mae


def test_hr_metrics_perfect_prediction_and_affine_r():
    true = np.array([55.0, 61.0, 74.0, 90.0, 120.0])
    m = hr_metrics(true, true)
    assert (m.mae, m.rmse, m.mape, m.mae_se, m.rmse_se) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert m.pearson_r == pytest.approx(1.0) and m.pearson_r_se == pytest.approx(0.0, abs=1e-7)
    assert hr_metrics(-0.5 * true + 200.0, true).pearson_r == pytest.approx(-1.0)


def test_hr_metrics_small_n_gives_nan_with_reasons():
    one = hr_metrics([70.0], [72.0])
    assert one.mae == 2.0 and one.rmse == 2.0
    assert all(math.isnan(v) for v in (one.mae_se, one.rmse_se, one.mape_se, one.pearson_r,
                                      one.pearson_r_se))
    assert any("at least 2 pairs, got 1" in note for note in one.notes)
    two = hr_metrics([70.0, 80.0], [72.0, 75.0])
    assert two.pearson_r == pytest.approx(1.0) and math.isnan(two.pearson_r_se)
    assert any("at least 3 pairs" in note for note in two.notes)
    flat = hr_metrics([70.0, 70.0, 70.0], [60.0, 65.0, 80.0])
    assert math.isnan(flat.pearson_r) and any("constant" in note for note in flat.notes)


def test_hr_metrics_errors():
    with pytest.raises(ValueError, match="pass one predicted HR per reference HR"):
        hr_metrics([70.0, 71.0], [70.0])
    with pytest.raises(ValueError, match="no HR pairs"):
        hr_metrics([], [])
    with pytest.raises(ValueError, match="NaN/inf"):
        hr_metrics([70.0, np.nan], [70.0, 71.0])
    with pytest.raises(ValueError, match="true_bpm must be > 0"):
        hr_metrics([70.0, 71.0], [70.0, 0.0])


def test_bland_altman_against_hand_computed_values():
    ba = bland_altman(PRED, TRUE)
    sd = math.sqrt((4 + 4 + 25 + 25) / 3)  # errors -2, 2, 5, -5 have mean 0
    assert ba.n == 4 and ba.bias == pytest.approx(0.0, abs=1e-12)
    assert ba.sd == pytest.approx(sd, abs=1e-12)
    assert ba.lower_limit == pytest.approx(-1.959964 * sd, abs=1e-5)
    assert ba.upper_limit == pytest.approx(1.959964 * sd, abs=1e-5)
    shifted = bland_altman(np.array(PRED) + 3.0, TRUE)
    assert shifted.bias == pytest.approx(3.0) and shifted.sd == pytest.approx(sd)
    single = bland_altman([70.0], [72.0])
    assert single.bias == -2.0 and math.isnan(single.sd) and math.isnan(single.upper_limit)
