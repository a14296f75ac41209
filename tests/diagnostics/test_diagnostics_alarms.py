import math

from sspd.diagnostics import DEFAULT_THRESHOLDS, Rule, Thresholds, assess, verdict_scalars


def test_assess_levels_reasons_and_bands():
    probes = {"collapse/cross_clip_corr": 0.97, "collapse/pred_in_band": 0.4,
              "collapse/feature_std_time": 0.8, "collapse/agreement": 0.99, "loss/total": 3.0}
    verdicts = assess(probes)
    assert list(verdicts) == ["collapse/cross_clip_corr", "collapse/pred_in_band",
                              "collapse/feature_std_time"]
    corr = verdicts["collapse/cross_clip_corr"]
    assert corr.level == "collapsed" and corr.value == 0.97 and corr.band == (-math.inf, 0.75)
    assert "collapse/cross_clip_corr = 0.97 > 0.9 (collapsed)" in corr.reason
    assert "same output" in corr.reason
    band = verdicts["collapse/pred_in_band"]
    assert band.level == "warning" and band.band == (0.5, math.inf) and "< 0.5 (warning)" in band.reason
    assert verdicts["collapse/feature_std_time"].level == "healthy"


def test_assess_label_aware_pileup_supersedes_the_label_free_one():
    alone = assess({"collapse/hr_pileup": 0.95})
    assert alone["collapse/hr_pileup"].level == "collapsed"
    with_labels = assess({"collapse/hr_pileup": 0.95, "collapse/hr_pileup_excess": 0.02})
    assert "collapse/hr_pileup" not in with_labels
    assert with_labels["collapse/hr_pileup_excess"].level == "healthy"


def test_assess_non_finite_value_is_collapsed_and_custom_thresholds_apply():
    verdict = assess({"collapse/harmonic_ratio": math.nan})["collapse/harmonic_ratio"]
    assert verdict.level == "collapsed" and "not finite" in verdict.reason
    custom = Thresholds(cross_clip_corr=Rule(0.98, 0.99, "above", "x"))
    assert assess({"collapse/cross_clip_corr": 0.97}, custom)["collapse/cross_clip_corr"].level == "healthy"
    assert DEFAULT_THRESHOLDS.cross_clip_corr.collapsed == 0.9


def test_verdict_scalars():
    verdicts = assess({"collapse/cross_clip_corr": 0.97, "collapse/pred_in_band": 0.4,
                       "collapse/feature_std_time": 0.8})
    assert verdict_scalars(verdicts) == {"alarm/cross_clip_corr": 2.0, "alarm/pred_in_band": 1.0,
                                         "alarm/feature_std_time": 0.0}
