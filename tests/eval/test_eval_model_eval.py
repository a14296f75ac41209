"""Window stitching, network signals over videos, per-subject tables, checkpoint loading, output files."""
import json
import math

import matplotlib.image
import numpy as np
import pytest
import torch

from sspd.engine import save_checkpoint
from sspd.signal import bandpass
from sspd.eval.baseline_eval import VideoSignals, evaluate_methods
from sspd.eval.finetune import build_from_scratch
from sspd.eval.metrics import WindowResult, hr_metrics
from sspd.eval.model_eval import (EvalVideo, clip_target, load_network, merge_signals, network_signals,
                                  prepare_view, checkpoint_network_spec,
                                  stitch_windows, subject_table, write_evaluation)

SPEC = {"backbone": "physnet", "backbone_kwargs": {"frames": 32, "input_size": 32, "width": 0.25}, "stack": {}}


def _slow_stitch(n, starts, windows):
    """Reference: for each sample, the mean of the z-scored windows that cover it."""
    z = [(w - w.mean()) / w.std() for w in windows]
    out = np.empty(n)
    for t in range(n):
        vals = [z[k][t - s] for k, s in enumerate(starts) if s <= t < s + len(windows[k])]
        out[t] = np.mean(vals)
    return out


def test_stitch_windows_matches_slow_reference_with_overlaps():
    rng = np.random.default_rng(0)
    starts = np.array([0, 7, 14, 20])
    windows = rng.normal(size=(4, 12)) * rng.uniform(0.5, 3, size=(4, 1)) + rng.normal(size=(4, 1))
    got = stitch_windows(32, starts, windows)
    np.testing.assert_allclose(got, _slow_stitch(32, starts, windows), atol=1e-12)


@pytest.mark.parametrize("starts, n", [([0, 20], 32), ([0, 12, 24], 32), ([-1, 10], 32)])
def test_stitch_windows_rejects_gaps_and_overruns(starts, n):
    with pytest.raises(ValueError, match="stitch_windows"):
        stitch_windows(n, np.array(starts), np.ones((len(starts), 12)) * np.arange(12))


def test_clip_target_diff_and_pulse():
    label = torch.tensor([[0.0, 1.0, 3.0, 6.0]])
    torch.testing.assert_close(clip_target(label, "diff"), torch.tensor([[1.0, 2.0, 3.0]]))
    torch.testing.assert_close(clip_target(label, "pulse"), torch.tensor([[1.0, 3.0, 6.0]]))
    with pytest.raises(ValueError, match="target must be one of"):
        clip_target(label, "level")
    with pytest.raises(ValueError, match=r"\(B, T\+1\)"):
        clip_target(torch.zeros(4), "diff")


def test_prepare_view_is_resized_frame_difference():
    clip = torch.arange(3 * 5 * 8 * 8, dtype=torch.float32).reshape(1, 3, 5, 8, 8)
    view = prepare_view(clip.to(torch.uint8), 4)
    assert view.shape == (1, 3, 4, 4, 4)
    # a linear ramp over frames resizes to a ramp: every difference is the frame step (64 grey levels, mod 256)
    ref = clip.to(torch.uint8).float()
    expected = (ref[:, :, 1:] - ref[:, :, :-1]).mean(dim=(3, 4))
    torch.testing.assert_close(view.mean(dim=(3, 4)), expected, atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="prepare_view"):
        prepare_view(torch.zeros(1, 3, 1, 8, 8), 4)


def _sine_video(name, hr_bpm, seconds=12.0, fps=30.0, size=8, seed=0):
    t = np.arange(int(seconds * fps)) / fps
    pulse = np.sin(2 * np.pi * hr_bpm / 60 * t)
    noise = np.random.default_rng(seed).normal(0, 0.5, size=(t.size, size, size, 3))
    frames = np.clip(128 + 20 * pulse[:, None, None, None] + noise, 0, 255).astype(np.uint8)
    return EvalVideo(name=name, subject=name[:2], fps=fps, frames=frames, label=pulse)


@pytest.mark.parametrize("stride", [None, 20])
def test_network_signals_recover_the_pulse_through_diff_integration(stride):
    videos = [_sine_video("a1", 72.0), _sine_video("b1", 96.0, seed=1)]

    def mean_colour(view):  # (B, C, T, h, w) -> (B, T): the frame difference of the mean colour
        return view.mean(dim=(1, 3, 4))

    signals = network_signals(mean_colour, videos, window=32, input_size=4, target="diff", stride=stride)
    assert [s.name for s in signals] == ["a1", "b1"]
    for sig, video in zip(signals, videos):
        assert sig.signals["model"].shape == (video.n_frames,) == sig.label.shape   # one value per frame
        assert sig.signals["model"][0] == sig.signals["model"][1]                    # frame 0 repeats frame 1
        # integration drifts between windows (each is z-scored); in the HR band the waveform is the pulse
        pulse = bandpass(sig.signals["model"], 30.0, 0.75, 2.5)
        assert np.corrcoef(pulse[1:], video.label[1:])[0, 1] > 0.95
    summary = evaluate_methods(signals, window_s=10.0)["model"]["summary"]
    assert summary["metrics"]["mae"] < 1.0
    assert all(s.integrated == {"model"} for s in signals) and summary["protocol"]["integrated"] is True
    as_pulse = network_signals(mean_colour, videos, window=32, input_size=4, target="pulse", stride=stride)
    assert all(s.integrated == frozenset() for s in as_pulse)


def test_the_integrated_mark_survives_merging_and_reaches_each_method_alone():
    """A model's integrated signal merged with a baseline's: evaluate_methods reads the model's with the octave
    check and the baseline's plainly (a 160 bpm pulse under a 70 bpm ripple, the ripple stronger)."""
    t = np.arange(600) / 30.0
    label = np.sin(2 * np.pi * 160.0 / 60.0 * t)
    x = label + 1.4 * np.sin(2 * np.pi * 70.0 / 60.0 * t + 0.4)
    model = [VideoSignals(name="v", fps=30.0, label=label, signals={"model": x}, integrated=frozenset({"model"}))]
    baseline = [VideoSignals(name="v", fps=30.0, label=label, signals={"pos": x.copy()})]
    merged = merge_signals(model, baseline)
    assert merged[0].integrated == {"model"}
    out = evaluate_methods(merged, window_s=10.0, band=(40 / 60, 3.0))
    assert [r.hr_pred for _, r in out["model"]["rows"]] == pytest.approx([160.0, 160.0], abs=0.5)
    assert [round(r.hr_pred) for _, r in out["pos"]["rows"]] == [70, 70]


def test_network_signals_errors():
    video = _sine_video("a1", 72.0, seconds=1.0)
    with pytest.raises(ValueError, match="no video has"):
        network_signals(lambda v: v.mean(dim=(1, 3, 4)), [video], window=32, input_size=4)
    with pytest.raises(ValueError, match="stride"):
        network_signals(lambda v: v.mean(dim=(1, 3, 4)), [video], window=8, input_size=4, stride=9)


def test_subject_table_groups_videos_by_subject():
    rows = [("a1", WindowResult(0, 0, 0, 10, 70.0, 72.0, 1.0)), ("a2", WindowResult(0, 0, 0, 10, 80.0, 79.0, 3.0)),
            ("b1", WindowResult(0, 0, 0, 10, 60.0, 66.0, -2.0))]
    videos = [EvalVideo(n, n[0], 30.0, np.zeros((1, 1, 1, 3), np.uint8), np.zeros(1)) for n in ("a1", "a2", "b1")]
    table = subject_table(rows, videos)
    assert [r["subject"] for r in table] == ["a", "b"]
    ref = hr_metrics([70.0, 80.0], [72.0, 79.0])
    assert table[0]["windows"] == 2 and table[0]["mae"] == pytest.approx(ref.mae)
    assert table[0]["rmse"] == pytest.approx(ref.rmse) and table[0]["snr_db"] == pytest.approx(2.0)
    assert table[1]["mae"] == pytest.approx(6.0) and math.isnan(table[1]["r"])


def test_load_network_round_trips_a_documented_checkpoint(tmp_path):
    net = build_from_scratch(SPEC, seed=3)
    state = {"format": "sspd-checkpoint-1", "step": 5, "epoch": 0, "config": {}, "network": SPEC,
             "online": net.state_dict(), "target": build_from_scratch(SPEC, seed=4).state_dict()}
    save_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", state)
    x = torch.randn(1, 3, 32, 32, 32)
    for path in (tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.pt"):
        loaded, checkpoint = load_network(path)
        assert checkpoint["step"] == 5 and not loaded.training
        torch.testing.assert_close(loaded.predict(x), net.eval().predict(x))
    target, _ = load_network(tmp_path / "run", which="target")
    assert not torch.allclose(target.predict(x), net.predict(x))


def test_load_network_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_network(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="checkpoints/last.pt"):
        load_network(tmp_path / "empty")
    save_checkpoint(tmp_path / "bare.pt", {"step": 1})
    with pytest.raises(ValueError, match="bare.pt.*sspd-checkpoint-1"):
        load_network(tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="no 'network' entry"):
        checkpoint_network_spec({"step": 1}, tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="which"):
        load_network(tmp_path / "bare.pt", which="teacher")


def _assert_png(path, min_bytes=5000):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > min_bytes
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.01  # something is drawn


def test_write_evaluation_files(tmp_path):
    videos = [_sine_video("a1", 72.0, seconds=21.0), _sine_video("b1", 96.0, seconds=21.0, seed=1)]
    signals = network_signals(lambda v: v.mean(dim=(1, 3, 4)), videos, window=32, input_size=4, target="diff")
    results = evaluate_methods(signals, window_s=10.0, split="test")
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps({"step": s, "time": 0.0, "total": 1.0 / (s + 1), "lr": 1e-3})
                                 for s in range(20)) + "\n")
    paths = write_evaluation(results, signals, videos, tmp_path / "out", label="sine", metrics_jsonl=metrics)
    doc = json.loads(paths["evaluation"].read_text())
    assert doc["label"] == "sine" and doc["results"]["model"]["n_windows"] == 4
    assert doc["results"]["model"]["protocol"]["split"] == "test"
    lines = paths["subjects"].read_text().splitlines()
    assert lines[0] == "method,subject,windows,mae_bpm,rmse_bpm,r,snr_db" and len(lines) == 3
    for key in ("bland_altman_model", "hr_scatter_model", "waveforms", "training_curves"):
        _assert_png(paths[key])


def test_a_20_s_video_gives_two_10_s_windows_to_the_model_and_the_baselines():
    video = _sine_video("a1", 72.0, seconds=20.0)
    signals = network_signals(lambda v: v.mean(dim=(1, 3, 4)), [video], window=32, input_size=4, target="diff")
    assert evaluate_methods(signals, window_s=10.0)["model"]["summary"]["n_windows"] == 2
