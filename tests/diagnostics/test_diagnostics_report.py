import base64
import io
import json
import math
import struct
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
import yaml
from matplotlib.image import imread

from sspd.diagnostics import DEFAULT_THRESHOLDS, CollapseMonitor, Rule
from sspd.diagnostics.report import judge_run, load_run, read_snapshot, write_report
from sspd.diagnostics.report_figures import _band_spans, figure_png, plot_probe, snapshot_hrs

FS = 30.0
STEPS = list(range(0, 100, 10))
# pred_in_band (rule: warns < 0.5, collapsed < 0.25) falls through both thresholds; cross_clip_corr
# (warns > 0.75, collapsed > 0.9) stays healthy; agreement has no rule (info only).
IN_BAND = [0.9, 0.85, 0.8, 0.6, 0.45, 0.4, 0.2, 0.15, 0.12, 0.1]
CORR = [0.2, 0.25, 0.2, 0.3, 0.2, 0.25, 0.3, 0.2, 0.25, 0.3]


def _level(value, rule):
    """Independent reading of a rule, for the expected alarm levels."""
    if rule.worse == "below":
        return 2 if rule.collapsed is not None and value < rule.collapsed else int(value < rule.warning)
    return 2 if rule.collapsed is not None and value > rule.collapsed else int(value > rule.warning)


def _metrics_lines(in_band=IN_BAND):
    rules = DEFAULT_THRESHOLDS
    lines = []
    for i, step in enumerate(STEPS):
        row = {"step": step, "time": 1000.0 + step, "total": 2.0 - 0.01 * step, "rpd": 0.5, "pyr/l0": 0.3,
               "pyr/l1": 0.2, "sd/l0": -0.1, "lr": 1e-3, "momentum": 0.9 + 0.001 * step,
               "collapse/pred_in_band": in_band[i], "collapse/cross_clip_corr": CORR[i],
               "collapse/agreement": 0.5, "collapse/hr_mode_bpm": 72.0,
               "alarm/pred_in_band": float(_level(in_band[i], rules.pred_in_band)),
               "alarm/cross_clip_corr": float(_level(CORR[i], rules.cross_clip_corr))}
        lines.append(json.dumps(row))
    return lines


def _snapshot(path, step, *, separate_levels=False, hr=True):
    rng = np.random.default_rng(step)
    t = np.arange(120) / FS
    bpm = np.array([60.0, 84.0])
    pred = np.sin(2 * np.pi * bpm[:, None] / 60 * t[None]).astype(np.float32)          # (B', T)
    ssm = rng.random((3, 2, 100, 100)).astype(np.float32)                                # (L, B', T', T')
    arrays = {"pred": pred, "fps": np.float32(FS), "ssw_l0": rng.random((2, 100)).astype(np.float32)}
    if separate_levels:
        arrays.update(ssm_l0=ssm[0], ssm_l1=ssm[1, :, :50, :50])
    else:
        arrays["ssm"] = ssm
    if hr:
        arrays.update(hr_pred=bpm + 1.0, hr_true=bpm)
    np.savez(path / f"step_{step:07d}.npz", **arrays)


def _make_run(root, *, collapse=None, summary="completed", snapshots=(30, 60, 90), lines=None):
    root.mkdir(parents=True, exist_ok=True)
    (root / "metrics.jsonl").write_text("\n".join(_metrics_lines() if lines is None else lines) + "\n")
    (root / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "recipe": {"backbone": "sspdnet", "lr": 1e-3}}))
    if collapse is not None:
        (root / "collapse.json").write_text(json.dumps(collapse))
    if summary is not None:
        (root / "summary.json").write_text(json.dumps({"steps": 90, "wall_time_s": 12.5, "stop_reason": summary}))
    if snapshots:
        (root / "snapshots").mkdir()
        for step in snapshots:
            _snapshot(root / "snapshots", step)
    return root


def _monitor_report(flat: bool):
    """A real CollapseMonitor report: flat predictions (offset 500) collapse pred_temporal_std."""
    monitor = CollapseMonitor(fs=FS, patience=2, capacity=8, min_clips=4)
    g = torch.Generator().manual_seed(0)
    for step in (10, 20, 30):
        bpm = 55 + 80 * torch.rand(4, generator=g)
        pred = torch.sin(2 * math.pi * bpm[:, None] / 60 * torch.arange(300)[None] / FS + torch.rand(4, 1, generator=g) * 6)
        report = monitor.check(step, predictions=pred + (500.0 if flat else 0.0), labels_hr=bpm)
    return report


def collapse_report_to_dict(report):
    """collapse.json as the pretraining loop writes it (rundir contract): the MonitorReport's fields,
    each verdict as {level, value, band, reason}."""
    verdicts = {name: {"level": v.level, "value": v.value, "band": list(v.band), "reason": v.reason}
                for name, v in report.verdicts.items()}
    return {"step": report.step, "warmup_steps": 0, "probes": report.probes, "verdicts": verdicts,
            "collapse": report.collapse, "probe": report.probe, "message": report.message,
            "streaks": report.streaks}


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.links = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.sources.append(attrs.get("src", ""))
        self.links += [v for k, v in attrs.items() if k in ("href", "src") and v and not v.startswith("data:")]


def _png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])                     # IHDR width, height


def test_html_embeds_every_figure_as_a_valid_png_and_references_nothing_outside(tmp_path):
    run = _make_run(tmp_path / "run", collapse=collapse_report_to_dict(_monitor_report(flat=True)),
                    summary="collapse")
    files = write_report(run)
    page = files.html.read_text()
    parser = _Images()
    parser.feed(page)
    # 4 logged probes (2 judged, 2 info) + losses + SSM maps + SSW waves + HR
    assert len(parser.sources) == len(files.figures) == 8
    assert parser.links == [] and "http" not in page and "<script" not in page and "<link" not in page
    for source in parser.sources:
        assert source.startswith("data:image/png;base64,")
        width, height = _png_size(base64.b64decode(source.split(",", 1)[1]))
        assert 300 <= width <= 2000 and 150 <= height <= 2000
    assert sorted(p.name for p in files.figures) == sorted(p.name for p in (run / "report" / "figures").iterdir())


def test_markdown_lists_each_judged_probe_with_value_band_and_alarm_counts(tmp_path):
    run = _make_run(tmp_path / "run", collapse=None, summary="completed")
    files = write_report(run, out_dir=tmp_path / "out")
    text = files.markdown.read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in text.splitlines()
            if line.startswith("| collapse/")}
    assert set(rows) == {"collapse/pred_in_band", "collapse/cross_clip_corr"}     # agreement: info only
    levels = [_level(v, DEFAULT_THRESHOLDS.pred_in_band) for v in IN_BAND]
    in_band = rows["collapse/pred_in_band"]
    assert in_band[1:5] == ["collapsed", "0.1", ">= 0.5", f"{levels.count(1)} / {levels.count(2)}"]
    assert rows["collapse/cross_clip_corr"][1:4] == ["healthy", "0.3", "<= 0.75"]
    # the alarms come from metrics.jsonl: collapsed at the last check, not declared -> warning; without a
    # health check the answer to "is it learning?" is unknown
    assert "**Verdict: unknown**" in text and "- collapse probes: warning" in text
    for figure in files.figures:
        assert f"](figures/{figure.name})" in text and imread(figure).std() > 0.01


def test_verdict_follows_the_monitors_declaration(tmp_path):
    report = _monitor_report(flat=True)
    assert report.collapse                                   # the real monitor declared it
    run = _make_run(tmp_path / "run", collapse=collapse_report_to_dict(report), summary="collapse")
    verdict = judge_run(load_run(run))
    assert (verdict.level, verdict.declared, verdict.probe) == ("collapsed", True, report.probe)
    assert verdict.source == "collapse.json" and verdict.step == report.step
    assert verdict.reasons[0] == report.message and "the run stopped early: collapse" in verdict.reasons
    row = next(r for r in verdict.rows if r.probe == report.probe)
    assert row.value == pytest.approx(report.verdicts[report.probe].value)
    assert row.band == report.verdicts[report.probe].band                 # infinite end survives JSON


def test_healthy_monitor_report_gives_a_healthy_verdict(tmp_path):
    report = _monitor_report(flat=False)
    assert not report.collapse and all(v.level == "healthy" for v in report.verdicts.values())
    run = _make_run(tmp_path / "run", collapse=collapse_report_to_dict(report))
    verdict = judge_run(load_run(run))
    assert verdict.alarm_level == "healthy" and not verdict.declared and len(verdict.rows) == len(report.verdicts)
    assert verdict.level == "unknown"      # live probes alone do not say the run follows the pulse
    assert any("in its band" in r for r in verdict.reasons)


def _health(verdict, probe, follows=None, labels=True):
    return {"step": 90, "verdict": verdict, "probe": probe, "value": 0.2, "follows": follows,
            "reason": f"because of {probe}",
            "labels": {"mae_bpm": 31.5, "r": 0.04, "pos_mae_bpm": 1.2, "n_clips": 12} if labels else None}


@pytest.mark.parametrize("verdict, follows", [("learning", None), ("not learning", "the light (mean brightness)")])
def test_health_check_answers_whether_the_run_learns_with_the_labels_line_first(tmp_path, verdict, follows):
    report = _monitor_report(flat=False)
    run = _make_run(tmp_path / "run", collapse=collapse_report_to_dict(report))
    (run / "health.json").write_text(json.dumps(_health(verdict, "chroma_agreement", follows)))
    files = write_report(run, out_dir=tmp_path / "out")
    assert (files.verdict.level, files.verdict.decided_by, files.verdict.alarm_level) == (
        verdict, "chroma_agreement", "healthy")
    assert files.verdict.reasons[0] == "because of chroma_agreement (health check at step 90)"
    text = files.markdown.read_text().splitlines()
    assert text[2].startswith("predictor HR MAE 31.5 bpm, r 0.04 against the labels; POS 1.2 bpm")
    assert text[4].startswith(f"**Verdict: {verdict} (decided by chroma_agreement)")
    assert (follows in text[4]) if follows else ("follow" not in text[4])


def test_declared_collapse_outranks_the_health_check(tmp_path):
    report = _monitor_report(flat=True)
    run = _make_run(tmp_path / "run", collapse=collapse_report_to_dict(report), summary="collapse")
    (run / "health.json").write_text(json.dumps(_health("learning", "chroma_agreement", labels=False)))
    verdict = judge_run(load_run(run))
    assert (verdict.level, verdict.decided_by, verdict.labels) == ("collapsed", report.probe, None)


def test_collapsed_probe_without_declaration_is_a_warning_and_stop_reason_declares(tmp_path):
    run = _make_run(tmp_path / "a", collapse=None, summary="completed")
    assert judge_run(load_run(run)).alarm_level == "warning"
    run = _make_run(tmp_path / "b", collapse=None, summary="collapse")
    verdict = judge_run(load_run(run))
    assert verdict.level == "collapsed" and verdict.probe == "collapse/pred_in_band"   # the collapsed one


def test_thresholds_passed_in_change_the_rebuilt_verdict(tmp_path):
    run = _make_run(tmp_path / "run", collapse=None)
    lenient = DEFAULT_THRESHOLDS.__class__(pred_in_band=Rule(0.05, 0.01, "below", "x"))
    assert judge_run(load_run(run), lenient).alarm_level == "healthy"
    assert judge_run(load_run(run)).alarm_level == "warning"


def test_run_without_snapshots_summary_or_monitor_is_reported_as_missing(tmp_path):
    run = _make_run(tmp_path / "run", collapse=None, summary=None, snapshots=())
    files = write_report(run)
    text = files.markdown.read_text()
    missing = text.split("## Missing", 1)[1]
    assert "no snapshots" in missing and "summary.json is missing" in missing and "collapse.json is missing" in missing
    assert [p.name for p in files.figures if not p.name.startswith("probe_")] == ["losses.png"]
    assert "stop reason: unknown" in text


def test_run_with_only_a_summary_has_unknown_verdict(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"steps": 0, "stop_reason": "interrupted"}))
    files = write_report(tmp_path)
    assert files.verdict.level == "unknown" and files.figures == []
    assert "metrics.jsonl is missing" in files.html.read_text()


def test_torn_last_line_is_skipped_and_a_corrupt_line_raises(tmp_path):
    lines = _metrics_lines()
    run = _make_run(tmp_path / "a", lines=lines + ['{"step": 100, "total": 1.'])
    record = load_run(run)
    assert [r["step"] for r in record.metrics] == STEPS and "incomplete" in record.missing[0]
    bad = _make_run(tmp_path / "b", lines=lines[:3] + ["not json"] + lines[3:])
    with pytest.raises(ValueError, match=r"metrics\.jsonl:4 is not a metrics line"):
        load_run(bad)


def test_errors_name_the_folder_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_run(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a run directory"):
        load_run(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty is not a run directory: none of metrics\.jsonl"):
        write_report(tmp_path / "empty")
    with pytest.raises(ValueError, match="max_snapshots"):
        write_report(_make_run(tmp_path / "run"), max_snapshots=0)


def test_snapshot_levels_stacked_or_separate(tmp_path):
    _snapshot(tmp_path, 5, separate_levels=True)
    snap = read_snapshot(tmp_path / "step_0000005.npz")
    assert snap.step == 5 and snap.fps == FS and [m.shape for m in snap.ssm] == [(2, 100, 100), (2, 50, 50)]
    assert [w.shape for w in snap.ssw] == [(2, 100)]
    np.savez(tmp_path / "step_0000006.npz", ssm=np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"step_0000006\.npz: array 'ssm' must be"):
        read_snapshot(tmp_path / "step_0000006.npz")


def test_hr_is_estimated_from_predictions_when_not_saved(tmp_path):
    _snapshot(tmp_path, 7, hr=False)
    hr = snapshot_hrs(read_snapshot(tmp_path / "step_0000007.npz"))
    np.testing.assert_allclose(hr, [60.0, 84.0], atol=1.0)


def test_band_spans_follow_the_rule():
    below = Rule(0.1, 0.03, "below", "x")
    assert _band_spans(below, 0.0, 1.0) == [("healthy", 0.1, 1.0), ("warning", 0.03, 0.1), ("collapsed", 0.0, 0.03)]
    above = Rule(0.75, 0.9, "above", "x")
    assert _band_spans(above, 0.0, 1.0) == [("healthy", 0.0, 0.75), ("warning", 0.75, 0.9), ("collapsed", 0.9, 1.0)]
    assert _band_spans(Rule(1.5, None, "below", "x"), 0.0, 4.0) == [("healthy", 1.5, 4.0), ("warning", 0.0, 1.5)]


def _has_colour(image, rgb, tol=0.02):
    return bool((np.abs(image[..., :3] - np.asarray(rgb)).max(axis=-1) < tol).any())


def test_probe_figure_shades_the_three_bands_only_for_judged_probes():
    steps, values = np.arange(0, 50, 10), np.array([0.9, 0.6, 0.4, 0.2, 0.1])
    shade = {c: 1 - 0.13 + 0.13 * np.array(rgb) / 255 for c, rgb in
             (("healthy", (44, 160, 44)), ("warning", (255, 127, 14)), ("collapsed", (214, 39, 40)))}
    judged = imread(io.BytesIO(figure_png(plot_probe(steps, values, "collapse/pred_in_band",
                                                     DEFAULT_THRESHOLDS.pred_in_band))))
    info = imread(io.BytesIO(figure_png(plot_probe(steps, values, "collapse/agreement", None))))
    assert all(_has_colour(judged, rgb) for rgb in shade.values())
    assert not any(_has_colour(info, rgb) for rgb in shade.values())
