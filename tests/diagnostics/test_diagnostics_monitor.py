import logging
import math

import pytest
import torch

from sspd.diagnostics import CollapseMonitor

FS = 30.0


def _pred(seed, offset=0.0, b=4):
    """(B, T) pulses at spread rates; a large offset makes them flat relative to their level."""
    g = torch.Generator().manual_seed(seed)
    bpm = 55 + 80 * torch.rand(b, generator=g)
    t = torch.arange(300) / FS
    pred = torch.sin(2 * math.pi * bpm[:, None] / 60 * t[None] + 6 * torch.rand(b, 1, generator=g))
    return pred + offset, bpm


def _run(monitor, plan, start=0):
    """One check per entry of plan: "h" healthy, "c" flat predictions (offset 500), "-" no predictions."""
    reports = []
    for i, kind in enumerate(plan, start):
        if kind == "-":
            pooled = torch.randn(4, 8, 300, generator=torch.Generator().manual_seed(i))
            reports.append(monitor.check(i * 10, pooled=pooled))
            continue
        pred, bpm = _pred(i, offset=500.0 if kind == "c" else 0.0)
        reports.append(monitor.check(i * 10, predictions=pred, labels_hr=bpm))
    return reports


def test_patience_declares_after_k_consecutive_collapsed_checks():
    monitor = CollapseMonitor(fs=FS, patience=3, capacity=8, min_clips=4)
    reports = _run(monitor, "hhcchccc")
    assert [r.collapse for r in reports] == [False] * 7 + [True]
    assert [r.verdicts["collapse/pred_temporal_std"].level for r in reports] == [
        "healthy", "healthy", "collapsed", "collapsed", "healthy", "collapsed", "collapsed", "collapsed"]
    assert reports[3].streaks == {"collapse/pred_temporal_std": 2} and reports[4].streaks == {}
    last = reports[-1]
    assert last.probe == "collapse/pred_temporal_std" and last.step == 70
    values = [reports[i].probes["collapse/pred_temporal_std"] for i in (5, 6, 7)]
    assert "collapse/pred_temporal_std has been collapsed (< 0.01) for 3 consecutive checks" in last.message
    for step, value in zip((50, 60, 70), values):
        assert f"step {step}: {value:.4g}" in last.message
    assert "flat" in last.message
    scalars = last.scalars()
    assert scalars["alarm/pred_temporal_std"] == 2.0 and scalars["collapse/pred_temporal_std"] == values[-1]


def test_absent_probe_neither_extends_nor_breaks_a_streak():
    reports = _run(CollapseMonitor(fs=FS, patience=3, capacity=8, min_clips=4), "cc-c")
    assert "collapse/pred_temporal_std" not in reports[2].probes
    assert [r.collapse for r in reports] == [False, False, False, True]


def test_checks_during_warmup_start_no_streak():
    monitor = CollapseMonitor(fs=FS, patience=2, capacity=8, min_clips=4, warmup_steps=30)
    reports = _run(monitor, "ccccc")                              # steps 0, 10, 20, 30, 40
    assert [r.verdicts["collapse/pred_temporal_std"].level for r in reports] == ["collapsed"] * 5
    assert [r.collapse for r in reports] == [False, False, False, False, True]
    assert "step 30" in reports[-1].message and "step 20" not in reports[-1].message


def test_patience_one_declares_at_once_and_logs_level_changes(caplog):
    monitor = CollapseMonitor(fs=FS, patience=1, capacity=8, min_clips=4)
    with caplog.at_level(logging.WARNING, logger="sspd.diagnostics.monitor"):
        reports = _run(monitor, "hc")
    assert not reports[0].collapse and reports[1].collapse
    assert any("pred_temporal_std" in rec.getMessage() and "was healthy" in rec.getMessage()
               for rec in caplog.records)


def test_state_dict_resume_gives_the_same_reports():
    plan = "hcc-cchc"
    straight = _run(CollapseMonitor(fs=FS, patience=3, capacity=8, min_clips=4), plan)
    first = CollapseMonitor(fs=FS, patience=3, capacity=8, min_clips=4)
    _run(first, plan[:4])
    resumed = CollapseMonitor(fs=FS, patience=3, capacity=8, min_clips=4)
    resumed.load_state_dict(first.state_dict())
    rest = _run(resumed, plan[4:], start=4)
    assert resumed.num_checks == 8
    for a, b in zip(straight[4:], rest):
        assert a.probes == pytest.approx(b.probes)
        assert (a.collapse, a.probe, a.message, a.streaks) == (b.collapse, b.probe, b.message, b.streaks)


def test_input_sensitivity_runs_through_the_monitor():
    monitor = CollapseMonitor(fs=FS, patience=2, capacity=8, min_clips=4, seed=3)
    pred, _ = _pred(0)
    clips = torch.rand(4, 3, 300, 2, 2)
    report = monitor.check(0, predictions=pred, model_fn=lambda c: pred.clone(), clips=clips)
    assert report.probes["collapse/shuffle_sensitivity"] == 0.0
    assert report.verdicts["collapse/swap_sensitivity"].level == "collapsed"


def test_monitor_errors():
    with pytest.raises(ValueError, match="patience"):
        CollapseMonitor(fs=FS, patience=0)
    with pytest.raises(ValueError, match="min_clips"):
        CollapseMonitor(fs=FS, capacity=8, min_clips=16)
    with pytest.raises(ValueError, match="fs must be"):
        CollapseMonitor(fs=-30.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        CollapseMonitor(fs=FS, warmup_steps=-1)
    with pytest.raises(ValueError, match="min_clips must be"):
        CollapseMonitor(fs=FS, min_clips=1)
    with pytest.raises(ValueError, match="missing keys"):
        CollapseMonitor(fs=FS).load_state_dict({"streaks": {}})
