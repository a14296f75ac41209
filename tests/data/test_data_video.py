import numpy as np
import pytest

from sspd.data import probe_video, read_video_frames, resample_label, write_video
from sspd.data.video import container_info


def test_ffv1_roundtrip_is_lossless(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(7, 24, 32, 3), dtype=np.uint8)
    path = tmp_path / "clip.avi"
    assert write_video(path, iter(frames), fps=29.5) == 7
    info = probe_video(path, count_frames=True)
    assert (info.n_frames, info.width, info.height) == (7, 32, 24)
    assert info.fps == pytest.approx(29.5, abs=0.01)
    back = np.stack(list(read_video_frames(path)))
    np.testing.assert_array_equal(back, frames)  # RGB order preserved, no loss


def test_video_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.avi"):
        probe_video(tmp_path / "missing.avi")
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(ValueError, match="junk.avi"):
        probe_video(junk)
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "empty.avi", iter([]), fps=30)


def test_resample_label_by_timestamps_60hz_to_30fps():
    label_t = np.arange(0, 10.0, 1 / 60.0)
    label = np.sin(2 * np.pi * 1.2 * label_t)
    frame_t = np.arange(0, 9.9, 1 / 30.0) + 0.013  # frames offset from the label clock
    out = resample_label(label_t, label, frame_t)
    np.testing.assert_allclose(out, np.sin(2 * np.pi * 1.2 * frame_t), atol=2e-3)


def test_resample_label_rejects_bad_labels():
    t = np.arange(0, 5, 0.1)
    with pytest.raises(ValueError, match="gt.txt: NaN"):
        resample_label(t, np.where(t > 2, np.nan, 1.0), t, source="gt.txt")
    with pytest.raises(ValueError, match="uncovered"):
        resample_label(t[:20], np.ones(20), t)  # label stops at 1.9 s, video runs to 4.9 s
    with pytest.raises(ValueError, match="strictly increasing"):
        resample_label(np.r_[t[:5], t[3:]], np.ones(len(t) + 2), t)


def test_container_info_states_rate_and_count_without_judging(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, iter(np.zeros((5, 16, 16, 3), dtype=np.uint8)), fps=12.5)
    rate, count = container_info(path)
    assert rate == pytest.approx(12.5, abs=0.01) and count == 5
    with pytest.raises(FileNotFoundError, match="nope.avi"):
        container_info(tmp_path / "nope.avi")
