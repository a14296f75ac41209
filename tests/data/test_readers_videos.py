"""The ``videos`` reader (unlabeled folders of videos and image folders) and ``generic`` without labels."""
import av
import cv2
import numpy as np
import pytest

from sspd.data import open_dataset, write_video

FPS = 25.0


def solid_frames(n, value, size=(24, 32)):
    return [np.full((*size, 3), (value + 7 * t) % 256, dtype=np.uint8) for t in range(n)]


def write_mp4(path, frames, fps=FPS):
    """A real H.264 .mp4 through PyAV (what phones and cameras record)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def write_images(folder, names_values):
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in names_values:
        cv2.imwrite(str(folder / name), np.full((24, 32, 3), value, dtype=np.uint8))


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "recordings"
    write_video(root / "clip10.avi", solid_frames(12, 10), FPS)
    write_video(root / "clip2.mkv", solid_frames(8, 20), FPS)
    write_mp4(root / "sub" / "b.mp4", solid_frames(10, 30))
    write_images(root / "sub" / "frames", [("frame10.png", 100), ("frame2.png", 20), ("frame1.png", 10)])
    write_video(root / "posters" / "v.avi", solid_frames(6, 40), FPS)
    write_images(root / "posters", [("thumb.jpg", 50)])  # beside a video: not a video of its own
    write_video(root / ".hidden" / "x.avi", solid_frames(6, 60), FPS)
    (root / "notes.txt").write_text("not a video")
    return root


def test_recursive_discovery_in_natural_order_with_image_folders(tree):
    records = open_dataset("videos", tree, image_fps=FPS, on_error="raise")
    assert [r.subject for r in records] == ["clip2", "clip10", "posters/v", "sub/b", "sub/frames"]
    assert [r.name for r in records] == ["clip2", "clip10", "posters-v", "sub-b", "sub-frames"]
    assert [r.n_frames for r in records] == [8, 12, 6, 10, 3]
    assert all(r.ppg is None and not r.labelled and r.fps == pytest.approx(FPS) for r in records)
    images = records[-1]
    assert images.metadata == {"path": "sub/frames", "width": 32, "height": 24}
    assert [int(f[0, 0, 0]) for f in images.read_frames()] == [10, 20, 100]  # frame1, frame2, frame10
    mp4 = np.stack(list(records[3].read_frames()))
    assert mp4.shape == (10, 24, 32, 3)
    assert np.abs(mp4[:, :, :, 1].mean(axis=(1, 2)) - (30 + 7 * np.arange(10))).max() < 3  # lossy, close
    top = open_dataset("videos", tree, recursive=False)
    assert [r.subject for r in top] == ["clip2", "clip10"]


def test_image_folder_needs_a_rate_and_shared_stems_keep_their_suffix(tree):
    records = open_dataset("videos", tree)
    assert len(records) == 4 and [f.name for f in records.failures] == ["sub-frames"]
    assert "image_fps=" in records.failures[0].message
    write_video(tree / "clip2.avi", solid_frames(5, 0), FPS)
    subjects = [r.subject for r in open_dataset("videos", tree, recursive=False)]
    assert subjects == ["clip2.avi", "clip2.mkv", "clip10"]


def test_a_folder_without_videos_is_an_error_naming_it(tmp_path):
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(ValueError, match=r"empty: no video files \(avi, mp4.*webm\) and no image folders under "
                                         r"this folder \(searched recursively\)"):
        open_dataset("videos", tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such dataset folder for videos"):
        open_dataset("videos", tmp_path / "nowhere")


def test_a_single_video_file_is_a_root(tmp_path):
    write_video(tmp_path / "one.avi", solid_frames(4, 0), FPS)
    (record,) = open_dataset("videos", tmp_path / "one.avi")
    assert (record.subject, record.n_frames, record.ppg) == ("one", 4, None)


def test_generic_keeps_a_video_without_csv_only_when_asked(tmp_path):
    write_video(tmp_path / "x.avi", solid_frames(10, 0), FPS)
    write_video(tmp_path / "y.avi", solid_frames(10, 0), FPS)
    t = np.arange(10) / FPS
    (tmp_path / "x.csv").write_text("time,ppg\n" + "".join(f"{a},{np.sin(a)}\n" for a in t))
    records = open_dataset("generic", tmp_path)
    assert [r.subject for r in records] == ["x"] and [f.name for f in records.failures] == ["y"]
    assert "y.csv: no such label CSV" in records.failures[0].message
    assert "missing_labels=unlabeled" in records.failures[0].message
    both = open_dataset("generic", tmp_path, missing_labels="unlabeled", on_error="raise")
    assert [(r.subject, r.labelled) for r in both] == [("x", True), ("y", False)]
    np.testing.assert_allclose(both[0].ppg, np.sin(t))
    with pytest.raises(ValueError, match="missing_labels must be one of"):
        open_dataset("generic", tmp_path, missing_labels="skip")
