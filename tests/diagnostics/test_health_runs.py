"""Acceptance runs of the health check: real pretraining runs judged by the loop itself (health.json).

Each trains the CPU recipe's network on synthetic clips for a few minutes on 2 cores, hence ``slow``.
The full calibration and validation sets are experiments/health_study.py's.
"""
import json

import pytest

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config

pytestmark = pytest.mark.slow

PAPER_VIEWS = ["views.difference=raw", "views.luminance=keep", "views.motion_px=0"]


def _train(tmp_path, steps, overrides):
    config = load_config(RunConfig, None, [f"run_dir={tmp_path / 'run'}", f"loop.max_steps={steps}",
                                           f"loop.checkpoint_every={steps}", *overrides])
    result = pretrain(config)
    assert result.stop_reason == "completed"
    health = json.loads((tmp_path / "run" / "health.json").read_text())
    collapse = json.loads((tmp_path / "run" / "collapse.json").read_text())
    # collapse.json's verdict is the health check's, unless the collapse monitor declared a collapse
    assert collapse["verdict"] == ("collapsed" if collapse.get("collapse") else health["verdict"])
    assert health["step"] == steps
    return health


def test_a_run_that_learns_with_the_colour_prior_is_learning(tmp_path):
    health = _train(tmp_path, 200, ["objective.name=sinc", "views.motion_px=0"])
    assert health["verdict"] == "learning", health["reason"]
    assert health["labels"]["mae_bpm"] < 10.0          # the labels agree (shown, never used)


def test_clips_without_a_pulse_are_not_learning(tmp_path):
    health = _train(tmp_path, 64, ["data.synthetic.no_pulse=true"])
    assert health["verdict"] in ("not learning", "collapsed") and health["probe"] in (
        "pulse_evidence", "pred_temporal_std", "cross_clip_corr")


def test_a_flicker_is_named_as_what_the_release_views_follow(tmp_path):
    health = _train(tmp_path, 200, ["data.synthetic.no_pulse=true", "data.synthetic.flicker_hz=1.3",
                                    "data.synthetic.flicker_amplitude=0.02", *PAPER_VIEWS])
    assert health["verdict"] != "learning" and "light" in (health["follows"] or "")
