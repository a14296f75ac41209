"""``sspd predict`` on real video files: a synthetic face video with a known HR, and a pulsing patch."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from matplotlib.image import imread

from sspd.cli import main
from sspd.data.synthetic import generate_dataset
from sspd.data.video import write_video


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    info = generate_dataset(root, subjects=1, seconds=12.0, fps=30.0, size="160x120", seed=0)[0]
    return root / "subject1" / "vid.avi", info


def pulsing_patch(path, bpm=66.0, fps=25.0, n_frames=250, size=40):
    """A skin-coloured patch whose colour pulses at ``bpm`` (1 %, mostly green), with sensor noise."""
    rng = np.random.default_rng(1)
    t = np.arange(n_frames) / fps
    colour = np.array([175.0, 130.0, 110.0]) * (1 + 0.01 * np.array([0.33, 0.77, 0.53])
                                                * np.sin(2 * np.pi * bpm / 60.0 * t)[:, None])  # (T, 3)
    frames = colour[:, None, None, :] + 2.0 * rng.standard_normal((n_frames, size, size, 3))
    write_video(path, np.clip(np.round(frames), 0, 255).astype(np.uint8), fps)
    return path


def test_predict_json_recovers_the_synthetic_hr_and_writes_every_file(face_video, tmp_path, capsys):
    video, info = face_video
    out = tmp_path / "out"
    assert main(["predict", str(video), "--method", "pos", "--json", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # stdout is one JSON object and nothing else
    assert abs(result["hr_bpm"] - info["mean_hr_bpm"]) < 2.0
    assert abs(result["hr_window_median_bpm"] - info["mean_hr_bpm"]) < 2.0
    assert result["fps"] == 30.0 and result["n_frames"] == info["n_frames"] == 360
    assert len(result["windows"]) == 3 and set(result["windows"][0]) == {"start_s", "end_s", "hr_bpm", "snr_db"}
    assert result["face"]["frames_with_face"] == 360
    assert "360/360" in captured.err  # the progress bar went to stderr
    assert json.loads((out / "prediction.json").read_text()) == result
    waveform = np.loadtxt(out / "waveform.csv", delimiter=",", skiprows=1)
    assert waveform.shape == (360, 3)
    assert np.loadtxt(out / "hr.csv", delimiter=",", skiprows=1, ndmin=2).shape == (3, 4)
    assert imread(out / "prediction.png")[..., :3].std() > 0.01


def test_predict_text_report_in_the_default_folder(tmp_path, monkeypatch, capsys):
    video = pulsing_patch(tmp_path / "patch.avi")
    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(video), "--method", "chrom", "--window", "6", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "patch_sspd" / "prediction.json").read_text())
    assert abs(result["hr_bpm"] - 66.0) < 1.5 and result["method"] == "chrom"
    assert f"HR {result['hr_bpm']:.1f} bpm" in printed
    assert "face found in 0 of 250 frames" in printed and "no face was detected" in printed


def test_predict_image_folder_needs_fps(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((16, 16, 3), 100, np.uint8))
    assert main(["predict", str(folder), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: an image folder has no frame rate" in err and "--fps" in err


def test_predict_rejects_unknown_method_and_missing_video(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "x.avi"), "--method", "nope", "--no-progress"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "x.avi"), "--no-progress"]) == 2
    assert f"{tmp_path / 'x.avi'}: no such video file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A 2-step pretraining run of a tiny PhysNet (16 px input, 20 px face box, clips of 48 differences)."""
    from sspd.cli.config import RunConfig
    from sspd.cli.pretrain import pretrain
    from sspd.configuration import load_config

    path = tmp_path_factory.mktemp("pretrain") / "run"
    tiny = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48",
            "data.clips=4", "loop.batch_size=4", "collapse.enabled=false", "loop.channels_last=false",
            "loop.max_steps=2", f"run_dir={path}"]
    assert pretrain(load_config(RunConfig, None, tiny)).stop_reason == "completed"
    return path


def test_predict_with_a_checkpoint_reports_which_model(face_video, run_dir, tmp_path, capsys):
    video, info = face_video
    out = tmp_path / "out"
    args = ["predict", str(video), "--checkpoint", str(run_dir), "--which", "target", "--device", "cpu",
            "--no-progress", "--out", str(out)]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "sspd:run:target" and result["n_frames"] == info["n_frames"] == 360
    model = result["protocol"]["model"]
    assert model["checkpoint"] == str(run_dir / "checkpoints" / "last.pt")
    assert (model["which"], model["step"], model["clip_frames"], model["crop_size"]) == ("target", 2, 49, 20)
    assert result["protocol"]["face"]["size"] == 20 and result["hr_bpm"] is not None
    waveform = np.loadtxt(out / "waveform.csv", delimiter=",", skiprows=1)
    assert waveform.shape == (360, 3) and np.isfinite(waveform).all()
    assert main(args) == 0  # the text report names the model
    assert f"model {run_dir / 'checkpoints' / 'last.pt'} (target network, step 2, PhysNet" in capsys.readouterr().out


def test_checkpoint_and_method_are_exclusive_and_bad_checkpoints_are_named(face_video, run_dir, tmp_path, capsys):
    video = str(face_video[0])
    with pytest.raises(SystemExit) as stop:
        main(["predict", video, "--checkpoint", str(run_dir), "--method", "pos"])
    assert stop.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert main(["predict", video, "--method", "pos", "--which", "target", "--no-progress"]) == 2
    assert "--which: these options choose a checkpoint's network" in capsys.readouterr().err
    assert main(["predict", video, "--checkpoint", str(tmp_path / "no_run"), "--no-progress"]) == 2
    assert f"{tmp_path / 'no_run'} does not exist" in capsys.readouterr().err
    notes = tmp_path / "notes.pt"
    notes.write_text("not a checkpoint")
    assert main(["predict", video, "--checkpoint", str(notes), "--no-progress"]) == 2
    assert f"checkpoint {notes} cannot be read" in capsys.readouterr().err
    assert main(["predict", video, "--checkpoint", str(tmp_path), "--checkpoint-file", "best",
                 "--no-progress"]) == 2
    assert f"{tmp_path} has no checkpoints/best.pt" in capsys.readouterr().err


def _cut(path, fraction):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def test_a_truncated_video_fails_and_a_slightly_short_one_is_recorded(tmp_path, capsys):
    half = _cut(pulsing_patch(tmp_path / "half.avi"), 0.5)
    assert main(["predict", str(half), "--out", str(tmp_path / "o1"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "half.avi" in err and "of the 250 frames the container declares were decoded" in err
    assert "truncated or corrupt, more than 5% is missing" in err and not (tmp_path / "o1").exists()
    short = _cut(pulsing_patch(tmp_path / "short.avi"), 0.99)
    assert main(["predict", str(short), "--json", "--out", str(tmp_path / "o2"), "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames_declared"] == 250 and 238 <= result["frames_decoded"] < 250
    assert result["n_frames"] == result["frames_decoded"]
    assert any("frames the container declares were decoded" in note for note in result["notes"])


def test_out_that_is_a_file_is_refused_before_the_video_is_read(tmp_path, capsys):
    (tmp_path / "taken").write_text("mine")
    missing_video = tmp_path / "nowhere.avi"  # were the video read first, this would be the error
    assert main(["predict", str(missing_video), "--out", str(tmp_path / "taken"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "is an existing file, not a folder" in err and "nowhere.avi" not in err
    assert (tmp_path / "taken").read_text() == "mine"


def test_errors_name_the_cli_flags(tmp_path, capsys):
    blue = tmp_path / "blue.avi"
    write_video(blue, np.full((60, 32, 32, 3), (20, 40, 230), np.uint8), 30.0)  # no skin-coloured pixel
    assert main(["predict", str(blue), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--skin all" in err and "skin=None" not in err
    one_second = pulsing_patch(tmp_path / "one.avi", n_frames=25)
    assert main(["predict", str(one_second), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "the video is 1.00 s (25 frames at 25 fps), shorter than the 1.6 s window of --method pos" in err
    assert "--method green or ica" in err and "window_s" not in err


def test_a_video_without_a_face_is_a_loud_warning_on_stderr(tmp_path, capsys):
    video = pulsing_patch(tmp_path / "patch.avi")
    assert main(["predict", str(video), "--method", "pos", "--json", "--no-progress", "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert "sspd predict: warning: no face was detected in" in captured.err
    assert json.loads(captured.out)["hr_bpm"] is not None          # the number is kept, and the files
    assert main(["predict", str(video), "--method", "pos", "--no-face", "error", "--no-progress",
                 "--out", str(tmp_path / "o2")]) == 2               # the strict way for scripts
    capsys.readouterr()
    generate_dataset(tmp_path / "data", subjects=1, seconds=4.0, fps=15.0, size="160x120", seed=0)
    assert main(["predict", str(tmp_path / "data" / "subject1" / "vid.avi"), "--window", "4", "--no-progress",
                 "--out", str(tmp_path / "o3")]) == 0
    assert "warning" not in capsys.readouterr().err                 # a face video: no warning


def test_a_checkpoint_of_a_run_that_is_not_learning_is_warned_about(face_video, run_dir, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "health.json").write_text(json.dumps({"step": 2, "verdict": "not learning", "probe": "pulse_evidence",
                                                 "reason": "the predictions follow the light"}))
    video, _ = face_video
    out = tmp_path / "out"
    assert main(["predict", str(video), "--checkpoint", str(run), "--no-progress", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: the run of" in err and "'not learning'" in err and "follow the light" in err
    assert any("not learning" in note for note in json.loads((out / "prediction.json").read_text())["notes"])
    (run / "health.json").write_text(json.dumps({"step": 2, "verdict": "learning", "probe": "pulse_evidence"}))
    assert main(["predict", str(video), "--checkpoint", str(run), "--no-progress", "--out", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_device_cuda_without_a_gpu_names_the_predict_flag(face_video, run_dir, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    assert main(["predict", str(face_video[0]), "--checkpoint", str(run_dir), "--device", "cuda",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and "--device auto or cpu" in err and "loop.device" not in err


def test_two_videos_of_the_same_name_never_share_the_default_folder(tmp_path, monkeypatch, capsys):
    first = pulsing_patch((tmp_path / "subject1").mkdir() or tmp_path / "subject1" / "vid.avi", bpm=66.0)
    second = pulsing_patch((tmp_path / "subject2").mkdir() or tmp_path / "subject2" / "vid.avi", bpm=90.0)
    monkeypatch.chdir(tmp_path)
    for video in (first, second, first):        # the first again: its own folder is reused
        assert main(["predict", str(video), "--window", "6", "--no-progress"]) == 0
    capsys.readouterr()
    one = json.loads((tmp_path / "vid_sspd" / "prediction.json").read_text())
    two = json.loads((tmp_path / "vid_sspd_2" / "prediction.json").read_text())
    assert Path(one["source"]).resolve() == first.resolve() and Path(two["source"]).resolve() == second.resolve()
    assert not (tmp_path / "vid_sspd_3").exists()
    assert main(["predict", str(second), "--out", str(tmp_path / "vid_sspd"), "--no-progress"]) == 2
    assert "holds the prediction of another video" in capsys.readouterr().err
    user = tmp_path / "mine"
    user.mkdir()
    (user / "hr.csv").write_text("my numbers")
    assert main(["predict", str(first), "--out", str(user), "--no-progress"]) == 2
    assert (user / "hr.csv").read_text() == "my numbers" and "did not write" in capsys.readouterr().err
