"""VIPL-HR reader: 60 Hz wave.csv against the video, time.txt when present, scenario/source filters."""
import numpy as np
import pytest

from sspd.data import open_dataset, write_video

FPS = 25.0  # not 30: nothing may assume 30 fps
N = 25


def pulse(t):
    return np.sin(2 * np.pi * 1.3 * t + 0.2)


def write_source(root, p, v, s, *, seed=0, wave_seconds=1.1, time_ms=None, hr=True, wave=True):
    folder = root / f"p{p}" / f"v{v}" / f"source{s}"
    frames = np.random.default_rng(seed).integers(0, 256, size=(N, 24, 32, 3), dtype=np.uint8)
    write_video(folder / "video.avi", iter(frames), fps=FPS)
    if wave:
        t = np.arange(int(60 * wave_seconds)) / 60.0
        (folder / "wave.csv").write_text("Wave\r\n" + "\r\n".join(f"{v:.6e}" for v in pulse(t)) + "\r\n")
    if hr:
        (folder / "gt_HR.csv").write_text("HR\n78\n79\n")
    if time_ms is not None:
        (folder / "time.txt").write_text("\n".join(f"{ms:.0f}" for ms in time_ms) + "\n")
    return folder, frames


def test_wave_resampled_to_frames_at_container_rate(tmp_path):
    _, frames = write_source(tmp_path, 3, 1, 2)
    (record,) = open_dataset("vipl-hr", tmp_path)
    assert (record.subject, record.session, record.n_frames) == ("3", "v1-source2", N)
    assert record.metadata["scenario"] == 1 and record.metadata["source"] == 2
    assert record.fps == pytest.approx(FPS, abs=0.01)
    np.testing.assert_allclose(record.frame_times, np.arange(N) / FPS, atol=1e-6)
    np.testing.assert_allclose(record.ppg, pulse(record.frame_times), atol=5e-3)
    np.testing.assert_array_equal(record.metadata["hr"], [78.0, 79.0])
    assert record.metadata["time_file"] is None
    np.testing.assert_array_equal(np.stack(list(record.read_frames())), frames)


def test_time_txt_gives_the_frame_times(tmp_path):
    stamps = 1_500_000 + np.cumsum(np.r_[0, np.full(N - 1, 36.0)])  # ~27.8 fps, not the container's 25
    write_source(tmp_path, 1, 2, 1, time_ms=stamps)
    (record,) = open_dataset("vipl-hr", tmp_path)
    np.testing.assert_allclose(record.frame_times, (stamps - stamps[0]) / 1000.0)
    assert record.fps == pytest.approx(1000 / 36.0)
    np.testing.assert_allclose(record.ppg, pulse(record.frame_times), atol=5e-3)


def test_time_txt_count_mismatch(tmp_path):
    write_source(tmp_path, 1, 1, 1, time_ms=np.arange(N - 2) * 40.0)  # two short: kept, recorded
    (record,) = open_dataset("vipl-hr", tmp_path)
    assert record.n_frames == N - 2 and record.metadata["frame_count_mismatch"] == -2
    write_source(tmp_path, 2, 1, 1, time_ms=np.arange(N - 10) * 40.0)
    with pytest.raises(ValueError, match=r"time.txt: 15 timestamps but .*video.avi has 25 frames"):
        open_dataset("vipl-hr", tmp_path, subjects=["2"], on_error="raise")


def test_broken_sources_and_filters(tmp_path):
    write_source(tmp_path, 1, 1, 1)
    write_source(tmp_path, 1, 1, 4, seed=1)
    write_source(tmp_path, 2, 1, 1, seed=2, wave=False)
    write_source(tmp_path, 2, 2, 1, seed=3, wave_seconds=0.3)
    write_source(tmp_path, 3, 1, 1, seed=4, time_ms=[0, 40, 40, 80] + [120 + 40 * i for i in range(N - 4)])
    records = open_dataset("vipl-hr", tmp_path)
    assert [r.name for r in records] == ["1_v1-source1", "1_v1-source4"]
    messages = {f.name: f.message for f in records.failures}
    assert "wave.csv" in messages["2_v1-source1"] and "no ground truth" in messages["2_v1-source1"]
    assert "wave.csv" in messages["2_v2-source1"] and "uncovered" in messages["2_v2-source1"]
    assert "time.txt" in messages["3_v1-source1"] and "not strictly increasing" in messages["3_v1-source1"]
    kept = open_dataset("vipl-hr", tmp_path, filters={"source": [1, 2, 3]}, subjects=[1])
    assert [r.name for r in kept] == ["1_v1-source1"] and not kept.failures  # filtered before loading


def test_not_a_vipl_root(tmp_path):
    (tmp_path / "p1" / "v1").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no p<i>/v<j>/source<k>/ folders .* is this VIPL-HR"):
        open_dataset("vipl-hr", tmp_path)


def test_repeated_takes_such_as_v1_2_are_read_not_skipped(tmp_path):
    write_source(tmp_path, 5, 1, 1, seed=1)
    write_source(tmp_path, 5, "1-2", 1, seed=2)  # the release's second take of scenario 1
    records = open_dataset("vipl-hr", tmp_path, on_error="raise")
    by_session = {r.session: r for r in records}
    assert sorted(by_session) == ["v1-2-source1", "v1-source1"]
    assert by_session["v1-2-source1"].metadata["scenario"] == 1
    assert by_session["v1-2-source1"].metadata["scenario_folder"] == "v1-2"
    assert by_session["v1-2-source1"].name == "5_v1-2-source1"
    assert len(open_dataset("vipl-hr", tmp_path, filters={"scenario": [1]})) == 2


def test_the_release_parent_folder_gets_a_hint(tmp_path):
    write_source(tmp_path / "data", 1, 1, 1)
    with pytest.raises(ValueError, match=r"is this VIPL-HR\? \(.*data holds them: pass that folder\)"):
        open_dataset("vipl-hr", tmp_path)
