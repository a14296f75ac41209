"""The Markdown comparison of evaluations, and the training-curve plot of a metrics.jsonl."""
import json

import matplotlib.image
import pytest

from sspd.eval.compare import find_evaluation, format_comparison
from sspd.eval.plots import plot_training_curves, read_metrics_jsonl


def _summary(mae, window_s=10.0):
    metrics = {"n": 4, "mae": mae, "mae_se": 0.5, "rmse": mae * 1.5, "rmse_se": 0.25, "mape": 2.0,
               "mape_se": 0.1, "pearson_r": 0.9, "pearson_r_se": float("nan")}
    protocol = {"preset": "sspd", "estimator": "Hann peak", "method": "fft", "band_hz": [0.75, 2.5],
                "window_s": window_s, "stride_s": window_s, "split": "test"}
    return {"n_windows": 4, "metrics": metrics, "snr_db": 1.5, "snr_db_se": 0.2, "protocol": protocol}


def _write(path, label, results):
    path.mkdir(parents=True, exist_ok=True)
    (path / "evaluation.json").write_text(json.dumps({"label": label, "results": results}))
    return path


def test_comparison_table_rows_and_protocol(tmp_path):
    a = _write(tmp_path / "a" / "evaluation", "sspd", {"model": _summary(3.25), "pos": _summary(1.5)})
    b = _write(tmp_path / "b", "scratch", {"model": _summary(7.0)})
    text = format_comparison([tmp_path / "a", b / "evaluation.json"])
    lines = text.splitlines()
    assert lines[2] == "| sspd | model | 4 | 3.25 ± 0.50 | 4.88 ± 0.25 | 2.00 ± 0.10 | 0.900 | 1.50 ± 0.20 |"
    assert lines[3].startswith("| sspd | pos | 4 | 1.50 ± 0.50") and lines[4].startswith("| scratch | model |")
    assert "band 0.75-2.5 Hz; window 10.0 s" in text and "WARNING" not in text
    relabelled = format_comparison([a, b], labels=["x", "y"])
    assert "| x | model |" in relabelled and "| y | model |" in relabelled


def test_comparison_warns_when_protocols_differ(tmp_path):
    a = _write(tmp_path / "a", "a", {"model": _summary(3.0)})
    b = _write(tmp_path / "b", "b", {"model": _summary(3.0, window_s=30.0)})
    assert "WARNING: these rows were made with 2 different protocols" in format_comparison([a, b])


def test_comparison_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no evaluation.json"):
        find_evaluation(tmp_path)
    (tmp_path / "evaluation.json").write_text("{not json")
    with pytest.raises(ValueError, match="evaluation.json: not valid JSON"):
        format_comparison([tmp_path])
    (tmp_path / "evaluation.json").write_text(json.dumps({"label": "x"}))
    with pytest.raises(ValueError, match="no 'results'"):
        format_comparison([tmp_path])
    with pytest.raises(ValueError, match="one label per path"):
        format_comparison([tmp_path], labels=["a", "b"])


def test_training_curves_png(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    records = [{"step": s, "time": 0.0, "total": 2.0 / (s + 1), "finetune/loss": 1.0 - s / 100,
                "lr": 1e-3 * (1 - s / 50)} for s in range(50)]
    metrics.write_text("\n".join(json.dumps(r) for r in records) + "\n" + '{"step": 50, "tot')  # torn last line
    assert len(read_metrics_jsonl(metrics)) == 50
    path = plot_training_curves(metrics, tmp_path / "curves.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (600, 800) and image[..., :3].std() > 0.01
    with pytest.raises(ValueError, match="none of the loss keys"):
        plot_training_curves(metrics, tmp_path / "x.png", loss_keys=("rpd",))
    (tmp_path / "bad.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match="bad.jsonl, line 2"):
        read_metrics_jsonl(tmp_path / "bad.jsonl")
    with pytest.raises(FileNotFoundError, match="no such metrics file"):
        read_metrics_jsonl(tmp_path / "missing.jsonl")
