import json

import pytest
from matplotlib.image import imread

from sspd.cli import main


def test_demo_runs_end_to_end_on_synthetic_data(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--subjects", "1", "--seconds", "12", "--methods", "pos,green",
                 "--window", "10", "--pretrain-steps", "2", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| pos |" in printed and "| sspd |" in printed and str(out / "baselines.json") in printed
    run_dir = out / "pretrain"
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "checkpoints/last.pt"):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 2
    html = (run_dir / "report" / "report.html").read_text()
    assert "collapse report: is the run learning the pulse? " in printed and "<img" in html and "http://" not in html
    health = json.loads((run_dir / "health.json").read_text())          # judged at the last step
    assert health["step"] == 2 and health["verdict"] in ("learning", "not learning", "collapsed")
    assert f"is the run learning the pulse? {health['verdict']}" in printed
    results = json.loads((out / "baselines.json").read_text())
    pos = results["pos"]["summary"]
    assert pos["n_windows"] == 1 and pos["protocol"]["window_s"] == 10.0
    assert pos["metrics"]["mae"] < 2.0  # POS on a synthetic face video: within 2 bpm of the PPG's HR
    for name in ("waveforms.png", "bland_altman_pos.png", "hr_scatter_pos.png"):
        assert imread(out / name).std() > 0.01
    # a rerun reuses the rendered data and the face cache (same inputs): the cache is not rewritten
    stamp = (out / "cache" / "1" / "manifest.json").stat().st_mtime_ns
    assert main(["demo", "--out", str(out), "--subjects", "1", "--seconds", "12", "--methods", "pos",
                 "--pretrain-steps", "0", "--no-progress"]) == 0
    assert (out / "cache" / "1" / "manifest.json").stat().st_mtime_ns == stamp


def test_demo_rejects_unknown_method(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--methods", "pos,nope"]) == 2
    assert "unknown ['nope']" in capsys.readouterr().err


def test_demo_deletes_an_old_run_directory_but_never_a_folder_that_is_not_one(tmp_path):
    from sspd.cli.demo import _remove_demo_run

    mine = tmp_path / "pretrain"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not an sspd run directory, so the demo leaves it alone"):
        _remove_demo_run(mine)
    assert (mine / "notes.txt").read_text() == "mine"
    (mine / "config.yaml").write_text("seed: 0\n")
    _remove_demo_run(mine)
    assert not mine.exists()
