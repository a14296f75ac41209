import json
from html.parser import HTMLParser

import numpy as np

from sspd.cli import main


def _run_dir(root, *, stop_reason="completed", in_band=0.9):
    """A small run directory in the pretraining loop's format: 5 logged steps, one snapshot."""
    root.mkdir()
    lines = [json.dumps({"step": s, "time": 0.0, "total": 1.0 / (s + 1), "collapse/pred_in_band": in_band,
                         "alarm/pred_in_band": 2.0 if in_band < 0.25 else 0.0}) for s in range(0, 50, 10)]
    (root / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (root / "summary.json").write_text(json.dumps({"steps": 40, "stop_reason": stop_reason}))
    (root / "snapshots").mkdir()
    t = np.arange(90) / 30.0
    np.savez(root / "snapshots" / "step_0000040.npz", ssm=np.random.default_rng(0).random((1, 2, 80, 80)),
             ssw_l0=np.ones((2, 80)), pred=np.sin(2 * np.pi * 1.2 * t)[None].repeat(2, 0), fps=np.float32(30.0))
    return root


class _Sources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        self.sources += [v for k, v in attrs if tag == "img" and k == "src"]


def test_report_command_writes_the_pages_and_prints_the_verdict(tmp_path, capsys):
    run = _run_dir(tmp_path / "run")
    assert main(["report", str(run), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "verdict: unknown" in printed and str(tmp_path / "out" / "report.html") in printed
    parser = _Sources()
    parser.feed((tmp_path / "out" / "report.html").read_text())
    # pred_in_band curve, losses, SSM maps, SSW waves, HR (estimated from pred: 1.2 Hz = 72 bpm)
    assert len(parser.sources) == 5 and all(s.startswith("data:image/png;base64,") for s in parser.sources)
    assert "| collapse/pred_in_band | healthy | 0.9 | >= 0.5 | 0 / 0 |" in (tmp_path / "out" / "report.md").read_text()


def test_fail_on_collapsed_sets_the_exit_status(tmp_path, capsys):
    run = _run_dir(tmp_path / "run", stop_reason="collapse", in_band=0.1)
    assert main(["report", str(run)]) == 0                                  # default: report only
    assert main(["report", str(run), "--fail-on", "collapsed"]) == 1
    printed = capsys.readouterr().out
    assert "verdict: collapsed (collapse declared by collapse/pred_in_band)" in printed
    assert (run / "report" / "report.html").is_file()


def test_fail_on_not_learning_reads_the_health_check(tmp_path, capsys):
    run = _run_dir(tmp_path / "run")
    health = {"step": 40, "verdict": "not learning", "probe": "chroma_agreement", "value": 0.1,
              "follows": "the head motion", "reason": "only 10 % agree", "labels": None}
    (run / "health.json").write_text(json.dumps(health))
    assert main(["report", str(run), "--fail-on", "collapsed"]) == 0
    assert main(["report", str(run), "--fail-on", "not-learning"]) == 1
    printed = capsys.readouterr().out
    assert "verdict: not learning (decided by chroma_agreement); the predictions follow the head motion" in printed
    (run / "health.json").write_text(json.dumps({**health, "verdict": "learning", "follows": None}))
    assert main(["report", str(run), "--fail-on", "unknown"]) == 0


def test_not_a_run_directory_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"sspd report: error: {tmp_path} is not a run directory" in err and "metrics.jsonl" in err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
