"""Generic reader: a video or image folder plus a CSV the user describes; folders of pairs by stem."""
import cv2
import numpy as np
import pytest

from sspd.data import open_dataset, write_video

FPS = 30.0
N = 30


def pulse(t):
    return np.sin(2 * np.pi * 0.9 * t) - 0.4 * np.cos(2 * np.pi * 1.8 * t)


def frames_for(seed):
    return np.random.default_rng(seed).integers(0, 256, size=(N, 24, 32, 3), dtype=np.uint8)


def write_csv(path, *, fs=60.0, seconds=1.1, header="time,ppg", scale=1.0, offset=0.0, sep=","):
    t = np.arange(int(fs * seconds)) / fs
    rows = [header] + [f"{offset + ti * scale:.15g}{sep}{v:.6e}" for ti, v in zip(t, pulse(t))]
    path.write_text("\n".join(rows) + "\n")


def write_images(folder, frames):
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):  # unpadded numbers: frame_2 must come before frame_10
        assert cv2.imwrite(str(folder / f"frame_{i}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def test_one_video_with_named_columns_in_ms(tmp_path):
    frames = frames_for(0)
    write_video(tmp_path / "clip.avi", iter(frames), fps=FPS)
    write_csv(tmp_path / "gt.csv", header="Stamp (ms);BVP", scale=1000.0, sep=";")
    (record,) = open_dataset("generic", tmp_path, video="clip.avi", labels="gt.csv",
                             time_column="stamp (ms)", ppg_column="bvp", time_unit="ms")
    assert (record.subject, record.n_frames) == ("clip", N)
    np.testing.assert_allclose(record.frame_times, np.arange(N) / FPS)
    np.testing.assert_allclose(record.ppg, pulse(record.frame_times), atol=8e-3)
    np.testing.assert_array_equal(np.stack(list(record.read_frames())), frames)
    (same,) = open_dataset("generic", tmp_path / "clip.avi", labels="gt.csv", time_column=0, ppg_column=1,
                           time_unit="ms")
    np.testing.assert_array_equal(same.ppg, record.ppg)


def test_image_folder_needs_fps_and_reads_in_natural_order(tmp_path):
    frames = frames_for(1)[:12]
    write_images(tmp_path / "faces", frames)
    write_csv(tmp_path / "faces.csv", seconds=1.0, offset=1.7e9)
    with pytest.raises(ValueError, match="faces: an image folder carries no frame rate; pass fps="):
        open_dataset("generic", tmp_path, video="faces", labels="faces.csv", on_error="raise")
    (record,) = open_dataset("generic", tmp_path, video="faces", labels="faces.csv", fps=15.0,
                             relative_time=True)
    assert record.fps == 15.0 and record.n_frames == 12
    np.testing.assert_array_equal(np.stack(list(record.read_frames())), frames)
    np.testing.assert_allclose(record.ppg, pulse(np.arange(12) / 15.0), atol=8e-3)


def test_folder_of_pairs_by_stem_names_orphans(tmp_path):
    write_video(tmp_path / "a.avi", iter(frames_for(2)), fps=FPS)
    write_csv(tmp_path / "a.csv")
    write_images(tmp_path / "b", frames_for(3)[:20])
    write_csv(tmp_path / "b.csv", fs=25.0)
    write_video(tmp_path / "c.mkv", iter(frames_for(4)), fps=FPS)  # no label
    write_csv(tmp_path / "d.csv")  # no video
    write_video(tmp_path / "e.avi", iter(frames_for(5)), fps=FPS)
    write_video(tmp_path / "e.mp4", iter(frames_for(5)), fps=FPS, codec="mp4v")
    write_csv(tmp_path / "e.csv")  # two videos for one label
    (tmp_path / "notes").mkdir()  # neither: ignored
    records = open_dataset("generic", tmp_path, fps=FPS)
    assert [r.subject for r in records] == ["a", "b"]
    assert records[1].n_frames == 20
    np.testing.assert_allclose(records[1].ppg, pulse(np.arange(20) / FPS), atol=2e-2)
    messages = {f.name: f.message for f in records.failures}
    assert set(messages) == {"c", "d", "e"}
    assert "e.avi, e.mp4 all match e.csv" in messages["e"]
    assert "c.csv: no such label CSV" in messages["c"]
    assert "d.<avi|mp4" in messages["d"] and "no such video" in messages["d"]


def test_bad_columns_and_options(tmp_path):
    write_video(tmp_path / "x.avi", iter(frames_for(5)), fps=FPS)
    write_csv(tmp_path / "x.csv", header="t,ppg")
    with pytest.raises(ValueError, match=r"x.csv: no column named 'time'; the header has \['t', 'ppg'\]"):
        open_dataset("generic", tmp_path, on_error="raise")
    with pytest.raises(ValueError, match="time_unit must be one of"):
        open_dataset("generic", tmp_path, time_unit="min")
    with pytest.raises(ValueError, match="needs labels="):
        open_dataset("generic", tmp_path, video="x.avi")
    (one,) = open_dataset("generic", tmp_path, time_column=None, ppg_column="ppg")  # one row per frame
    np.testing.assert_allclose(one.ppg, pulse(np.arange(N) / 60.0), atol=1e-6)  # rows taken as frames


def test_empty_folder_is_not_a_generic_dataset(tmp_path):
    with pytest.raises(ValueError, match=r"no <stem>.csv with a <stem> video or image folder"):
        open_dataset("generic", tmp_path)
