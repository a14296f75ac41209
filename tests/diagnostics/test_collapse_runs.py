"""Acceptance runs of the collapse monitor: small real pretraining runs (about 1-2 min each on one CPU
thread), hence ``slow``. The scenarios are those of experiments/collapse_study.py."""
import importlib.util
import json
from pathlib import Path

import pytest

_STUDY = Path(__file__).resolve().parents[2] / "experiments" / "collapse_study.py"
pytestmark = pytest.mark.slow


def _study():
    spec = importlib.util.spec_from_file_location("collapse_study", _STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_recipe_raises_no_collapse(tmp_path, seed):
    row = _study().run_scenario("default", seed=seed, steps=64, out=tmp_path)
    assert row["stop"] == "completed" and row["steps"] == 64
    assert row["verdict"] != "collapsed"
    summary = json.loads((tmp_path / f"default_s{seed}" / "summary.json").read_text())
    assert summary["stop_reason"] == "completed"


def test_band_ratio_off_with_high_sd_weight_is_flagged_during_the_run(tmp_path):
    row = _study().run_scenario("no_band_ratio", seed=0, steps=64, out=tmp_path)
    assert row["stop"] == "collapse" and row["steps"] < 64          # stopped by the monitor, not the end
    assert row["verdict"] == "collapsed" and row["probe"] != "-"
    assert (tmp_path / "no_band_ratio_s0" / "report" / "report.html").is_file()


def test_flicker_only_clips_pile_up_at_the_flicker_frequency(tmp_path):
    row = _study().run_scenario("flicker", seed=0, steps=64, out=tmp_path, flicker_hz=1.5)
    assert row["stop"] == "collapse" and row["verdict"] == "collapsed"
    assert row["probe"] == "hr_pileup" and row["pileup"] > 0.8
    assert abs(row["hr_mode"] - 90.0) <= 3.0                        # 1.5 Hz flicker = 90 bpm
