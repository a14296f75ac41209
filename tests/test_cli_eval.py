"""``sspd probe``, ``sspd finetune`` and ``sspd evaluate`` end to end on a tiny network and tiny videos."""
import json

import matplotlib.image
import pytest

from sspd.cli import main
from sspd.engine import save_checkpoint
from sspd.eval.finetune import build_from_scratch

SPEC = {"backbone": "physnet", "backbone_kwargs": {"frames": 32, "input_size": 32, "width": 0.25}, "stack": {}}
DATA = ["--train-videos", "2", "--test-videos", "2", "--seconds", "10.5"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_eval")
    net = build_from_scratch(SPEC, seed=0)
    save_checkpoint(root / "run" / "checkpoints" / "last.pt",
                    {"format": "sspd-checkpoint-1", "step": 3, "epoch": 0, "config": {}, "network": SPEC,
                     "online": net.state_dict(), "target": net.state_dict()})
    (root / "run" / "metrics.jsonl").write_text("\n".join(
        json.dumps({"step": s, "time": 0.0, "total": 1.0 / (s + 1), "lr": 1e-3}) for s in range(10)) + "\n")
    return root


def test_probe_writes_one_evaluation_per_fraction(run_dir, capsys):
    out = run_dir / "probe"
    assert main(["probe", str(run_dir / "run"), "--fractions", "1", "0.5", "--steps", "20", "--out", str(out),
                 *DATA]) == 0
    table = json.loads((out / "probe.json").read_text())
    assert [table[f]["subjects"] for f in ("1", "0.5")] == [2, 1]
    assert json.loads((out / "fraction_0.5" / "evaluation.json").read_text())["source"]["train_subjects"]
    assert "fraction 0.5 (1 subjects): MAE" in capsys.readouterr().out


def test_finetune_then_evaluate_with_baselines_and_compare(run_dir, capsys):
    ft = run_dir / "ft"
    assert main(["finetune", str(run_dir / "run"), "--out", str(ft), "--steps", "2", "--batch-size", "1",
                 *DATA]) == 0
    assert len((ft / "metrics.jsonl").read_text().splitlines()) == 2
    assert main(["evaluate", str(ft), "--method", "pos", "chrom", *DATA]) == 0
    out = ft / "evaluation"
    doc = json.loads((out / "evaluation.json").read_text())
    assert set(doc["results"]) == {"model", "pos", "chrom"} and doc["source"]["target"] == "diff"
    assert doc["results"]["model"]["protocol"]["window_s"] == 10.0
    for name in ("bland_altman_model", "hr_scatter_pos", "waveforms", "training_curves"):
        path = out / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
        assert matplotlib.image.imread(path).shape[0] > 200
    csv = (out / "subjects.csv").read_text().splitlines()
    assert len(csv) == 1 + 3 * 2  # header + 3 methods x 2 subjects
    capsys.readouterr()
    assert main(["evaluate", "--compare", str(ft), str(run_dir / "probe" / "fraction_1")]) == 0
    table = capsys.readouterr().out
    assert "| ft | pos |" in table and "| probe 1 | probe@1 |" in table and "Protocol:" in table


def test_evaluate_errors_exit_2(run_dir, capsys):
    assert main(["evaluate"]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err
    assert main(["probe", str(run_dir / "missing"), *DATA]) == 2
    assert "missing" in capsys.readouterr().err
    bad = run_dir / "bad.yaml"
    bad.write_text("steps: 3\nfoo: 1\n")
    assert main(["probe", str(run_dir / "run"), "--config", str(bad), *DATA]) == 2
    assert "unknown: ['foo']" in capsys.readouterr().err
