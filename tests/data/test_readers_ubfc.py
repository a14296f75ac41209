"""UBFC-rPPG reader: both layouts written here, read back; label aligned by timestamps; broken subjects."""
import pickle
import re

import cv2
import numpy as np
import pytest

from sspd.data import open_dataset, write_video

FPS = 30.0
N_FRAMES = 30  # 1 s of 32x24 video


def pulse(t):
    """The analytic label the tests write and expect back at the frame times."""
    return np.sin(2 * np.pi * 1.2 * t) + 0.3 * np.sin(2 * np.pi * 2.4 * t + 0.5)


def hr_curve(t):
    return 70.0 + 5.0 * t


def write_clip(path, *, seed=0, n=N_FRAMES):
    frames = np.random.default_rng(seed).integers(0, 256, size=(n, 24, 32, 3), dtype=np.uint8)
    write_video(path, iter(frames), fps=FPS)
    return frames


def write_gt2(folder, *, duration=1.1, fs=60.0, newline="\r\n", ppg=None):
    """DATASET_2 ground truth at ``fs`` (not the video rate), CRLF and scientific notation."""
    t = np.arange(int(round(duration * fs))) / fs
    ppg = pulse(t) if ppg is None else ppg(t)
    lines = [" ".join(f"{v:.10e}" for v in ppg), "  ".join(f"{v:.4f}" for v in hr_curve(t)),
             " ".join(f"{v:.10e}" for v in t)]
    (folder / "ground_truth.txt").write_bytes((newline.join(lines) + newline * 2).encode())


def make_subject(root, n, *, seed=0, **gt):
    folder = root / f"subject{n}"
    folder.mkdir(parents=True)
    frames = write_clip(folder / "vid.avi", seed=seed)
    write_gt2(folder, **gt)
    return folder, frames


def test_dataset2_frames_fps_times_and_label_resampled_by_timestamps(tmp_path):
    _, frames = make_subject(tmp_path, 12)
    (record,) = open_dataset("ubfc-rppg", tmp_path)
    assert (record.subject, record.session, record.n_frames) == ("12", "", N_FRAMES)
    assert record.fps == pytest.approx(FPS, abs=0.01)
    np.testing.assert_allclose(record.frame_times, np.arange(N_FRAMES) / FPS)
    np.testing.assert_array_equal(np.stack(list(record.read_frames())), frames)
    # 60 Hz label against 30 fps frames: linear interpolation of the analytic label at the frame times.
    np.testing.assert_allclose(record.ppg, pulse(record.frame_times), atol=6e-3)
    np.testing.assert_allclose(record.metadata["hr"], hr_curve(record.frame_times), atol=1e-3)
    assert record.metadata["layout"] == "DATASET_2"
    assert record.metadata["label_fs"] == pytest.approx(60.0)


def test_dataset1_gtdump_with_absolute_ms_clock(tmp_path):
    folder = tmp_path / "5-gt"
    folder.mkdir()
    frames = write_clip(folder / "vid.avi", seed=3)
    t = np.arange(70) / 62.0  # an oximeter rate unrelated to the video's
    rows = [f"{1.4e12 + 1000 * ti:.1f},{hr_curve(ti):.3f},98,{pulse(ti):.6e}" for ti in t]
    (folder / "gtdump.xmp").write_text("\r\n".join(rows) + "\r\n")
    (record,) = open_dataset("ubfc-rppg", tmp_path)
    assert record.subject == "5-gt" and record.metadata["layout"] == "DATASET_1"
    np.testing.assert_allclose(record.ppg, pulse(record.frame_times), atol=6e-3)
    np.testing.assert_allclose(record.metadata["spo2"], 98.0)
    np.testing.assert_array_equal(next(iter(record.read_frames())), frames[0])


def test_records_pickle_for_worker_processes(tmp_path):
    _, frames = make_subject(tmp_path, 1)
    record = pickle.loads(pickle.dumps(open_dataset("ubfc-rppg", tmp_path)[0]))
    np.testing.assert_array_equal(np.stack(list(record.read_frames())), frames)


def test_version_option_forces_one_layout(tmp_path):
    make_subject(tmp_path, 1)
    records = open_dataset("ubfc-rppg", tmp_path, version=1)
    assert len(records) == 0
    (failure,) = records.failures
    assert "gtdump.xmp" in failure.message and failure.error_type == "FileNotFoundError"
    with pytest.raises(ValueError, match="version must be 'auto', 2 or 1"):
        open_dataset("ubfc-rppg", tmp_path, version=3)


def _zero_frame_video(path):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (32, 24))
    writer.release()


def _break(folder, how):
    gt = folder / "ground_truth.txt"
    if how == "missing ground truth":
        gt.unlink()
    elif how == "NaN":
        write_gt2(folder, ppg=lambda t: np.where(t > 0.5, np.nan, pulse(t)))
    elif how == "label too short":
        write_gt2(folder, duration=0.3)
    elif how == "unequal lines":
        lines = gt.read_text().splitlines()
        gt.write_text("\n".join([lines[0], lines[1], " ".join(lines[2].split()[:-3])]))
    elif how == "unreadable video":
        (folder / "vid.avi").write_bytes(b"not a video" * 50)
    elif how == "zero frames":
        _zero_frame_video(folder / "vid.avi")
    elif how == "missing video":
        (folder / "vid.avi").unlink()


@pytest.mark.parametrize("how, file, words", [
    ("missing ground truth", "subject2", "no ground truth"),
    ("NaN", "ground_truth.txt", "NaN"),
    ("label too short", "ground_truth.txt", "uncovered"),
    ("unequal lines", "ground_truth.txt", "equal length"),
    ("unreadable video", "vid.avi", "cannot open"),
    ("zero frames", "vid.avi", "no frames"),
    ("missing video", "vid.avi", "no such video"),
])
def test_each_malformed_subject_is_an_error_naming_the_file(tmp_path, how, file, words):
    folder, _ = make_subject(tmp_path, 2)
    _break(folder, how)
    with pytest.raises((ValueError, FileNotFoundError), match=rf"{file}.*{words}"):
        open_dataset("ubfc-rppg", tmp_path, on_error="raise")
    records = open_dataset("ubfc-rppg", tmp_path)
    assert len(records) == 0 and len(records.failures) == 1
    assert file in records.failures[0].message and words in records.failures[0].message


def test_two_broken_of_five_subjects_keeps_three_and_names_two(tmp_path, caplog):
    folders = [make_subject(tmp_path, n, seed=n)[0] for n in (1, 3, 4, 5, 8)]
    _break(folders[1], "NaN")
    _break(folders[3], "missing ground truth")
    records = open_dataset("ubfc-rppg", tmp_path)
    assert [r.subject for r in records] == ["1", "4", "8"]
    assert [f.name for f in records.failures] == ["3", "5"]
    assert records.failures[0].source == folders[1]
    assert "subject3" in records.failures[0].message and "subject5" in records.failures[1].message
    assert "2 failed" in records.summary()
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "subject3" in logged and "subject5" in logged


def test_unknown_layout_names_root_and_expectation(tmp_path):
    (tmp_path / "random").mkdir()
    (tmp_path / "random" / "notes.txt").write_text("hello")
    expected = re.escape(str(tmp_path)) + r": no subject\*/vid.avi .* is this UBFC-rPPG"
    with pytest.raises(ValueError, match=expected):
        open_dataset("ubfc-rppg", tmp_path)
    folder, _ = make_subject(tmp_path / "ds", 7)
    with pytest.raises(ValueError, match="pass its parent folder"):
        open_dataset("ubfc-rppg", folder)
