import json
import os
import pickle
from functools import partial

import numpy as np
import pytest

from sspd.cli import main
from sspd.data.cache import MANIFEST, OWNER_MARK, SUMMARY, open_cache
from sspd.data.preprocess import preprocess_dataset, preprocess_video
from sspd.data.preprocess_config import PreprocessConfig
from sspd.data.readers import open_dataset
from sspd.data.records import VideoRecord
from sspd.data.video import read_video_frames, write_video

FPS, N, WIDTH, HEIGHT = 30.0, 30, 64, 48
# No face in these frames: the 'centre' policy crops the centred default box, side 1.5 × (0.5 × 48) = 36,
# i.e. rows 6:42 and columns 14:50; with size 36 the crop is that slice, unresampled.
CENTRE = (slice(6, 42), slice(14, 50))
CONFIG = PreprocessConfig(size=36, no_face="centre", detect_width=64)


def video_frames(seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=(HEIGHT, WIDTH, 3)).astype(np.float64)
    for t in range(N):
        yield np.clip(base + 10 * np.sin(2 * np.pi * 1.2 * t / FPS), 0, 255).astype(np.uint8)


def gt_signal(times):
    return np.sin(2 * np.pi * 1.3 * times) + 0.1 * times


def write_subject(root, number, *, nan=False, empty_video=False):
    folder = root / f"subject{number}"
    folder.mkdir(parents=True)
    if empty_video:
        (folder / "vid.avi").write_bytes(b"")
    else:
        write_video(folder / "vid.avi", video_frames(number), FPS)
    times = np.arange(0, N / FPS + 0.1, 1 / 60.0)  # a 60 Hz oximeter on the video's clock
    ppg = gt_signal(times)
    if nan:
        ppg[7] = np.nan
    rows = [ppg, np.full_like(times, 72.0), times]
    (folder / "ground_truth.txt").write_text("\n".join(" ".join(f"{v:.6e}" for v in row) for row in rows) + "\n")


@pytest.fixture(scope="module")
def ubfc_root(tmp_path_factory):
    """Five subjects in UBFC-rPPG DATASET_2 layout; subject 2 has a zero-byte video, subject 4 a NaN label."""
    root = tmp_path_factory.mktemp("ubfc")
    for number in range(1, 6):
        write_subject(root, number, nan=number == 4, empty_video=number == 2)
    return root


def manifest_mtimes(out):
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob(f"*/{MANIFEST}")}


def test_broken_subjects_are_named_and_the_others_cached(ubfc_root, tmp_path):
    records = open_dataset("ubfc-rppg", ubfc_root)
    summary = preprocess_dataset(records, tmp_path / "cache", CONFIG, workers=2)
    assert sorted(summary.done) == ["1", "3", "5"] and summary.skipped == [] and summary.pending == []
    failed = {r.name: r for r in summary.failed}
    assert sorted(failed) == ["2", "4"]
    assert "subject2" in failed["2"].source and "vid.avi" in failed["2"].reason
    assert "ground_truth.txt" in failed["4"].reason and "NaN" in failed["4"].reason
    on_disk = json.loads((tmp_path / "cache" / SUMMARY).read_text())
    assert on_disk["counts"] == {"done": 3, "skipped": 0, "failed": 2, "pending": 0}
    assert "FAILED 2" in summary.format_report() and "FAILED 4" in summary.format_report()

    videos = open_cache(tmp_path / "cache")
    assert [v.name for v in videos] == ["1", "3", "5"]
    for video, number in zip(videos, (1, 3, 5)):
        decoded = np.stack(list(read_video_frames(ubfc_root / f"subject{number}" / "vid.avi")))
        np.testing.assert_array_equal(video.frames, decoded[:, CENTRE[0], CENTRE[1]])
        np.testing.assert_allclose(video.label, gt_signal(np.arange(N) / FPS), atol=2e-3)  # 60 Hz → 30 fps
        np.testing.assert_allclose(video.frame_times, np.arange(N) / FPS, atol=1e-3)
        np.testing.assert_array_equal(video.boxes, np.tile([14, 6, 50, 42], (N, 1)))
        assert video.manifest["face"]["centre"] == N and video.manifest["face"]["attempts"] == 4  # 0, 10, 20, last
        np.testing.assert_allclose(video.array("meta_hr"), 72.0)  # the reader's per-frame HR, kept
        assert video.fps == pytest.approx(FPS, abs=0.01) and video.manifest["n_frames_expected"] == N


def test_rerun_skips_finished_videos_and_a_config_change_redoes_them(ubfc_root, tmp_path):
    records = open_dataset("ubfc-rppg", ubfc_root)
    out = tmp_path / "cache"
    preprocess_dataset(records, out, CONFIG, workers=1)
    before = manifest_mtimes(out)
    again = preprocess_dataset(records, out, CONFIG, workers=1)
    assert sorted(again.skipped) == ["1", "3", "5"] and again.done == [] and len(again.failed) == 2
    assert manifest_mtimes(out) == before
    resized = preprocess_dataset(records, out, CONFIG.replace(size=24), workers=1)
    assert sorted(resized.done) == ["1", "3", "5"]
    assert all(v.frames.shape == (N, 24, 24, 3) for v in open_cache(out))


def test_interrupted_run_finishes_only_what_is_missing(ubfc_root, tmp_path):
    records = open_dataset("ubfc-rppg", ubfc_root)
    out = tmp_path / "cache"

    def interrupt_after_first(result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        preprocess_dataset(records, out, CONFIG, workers=1, progress=interrupt_after_first)
    state = json.loads((out / SUMMARY).read_text())
    assert state["interrupted"] and state["counts"]["done"] == 1
    assert sorted(state["pending"]) == ["3", "5"]
    first = manifest_mtimes(out)
    assert list(first) == ["1"]
    # a crash elsewhere: a partial folder, and a video renamed into place but without its manifest
    (out / ".3.partial-dead").mkdir()
    (out / "5").mkdir()
    (out / "5" / OWNER_MARK).write_text('{"format": 1}')  # preprocessing marks every folder it makes
    (out / "5" / "frames.npy").write_bytes(b"half written")
    seen = []
    summary = preprocess_dataset(records, out, CONFIG, workers=1, progress=seen.append)
    assert summary.skipped == ["1"] and sorted(summary.done) == ["3", "5"]
    assert [r.name for r in seen] == ["1", "3", "5"]
    assert manifest_mtimes(out)["1"] == first["1"]  # not redone
    assert not list(out.glob(".*partial*"))
    assert open_cache(out)[2].frames.shape == (N, 36, 36, 3)


def test_limit_leaves_the_rest_pending(ubfc_root, tmp_path):
    records = open_dataset("ubfc-rppg", ubfc_root)
    summary = preprocess_dataset(records, tmp_path / "cache", CONFIG, workers=1, limit=2)
    assert summary.done == ["1", "3"] and summary.pending == ["5"]
    assert "1 pending" in summary.format_report()


def test_a_changed_label_redoes_only_that_video(tmp_path):
    root = tmp_path / "ubfc"
    for number in (1, 2):
        write_subject(root, number)
    out = tmp_path / "cache"
    preprocess_dataset(open_dataset("ubfc-rppg", root), out, CONFIG, workers=1)
    gt = root / "subject2" / "ground_truth.txt"
    rows = gt.read_text().splitlines()
    rows[0] = " ".join(f"{2 * float(v):.6e}" for v in rows[0].split())
    gt.write_text("\n".join(rows) + "\n")
    summary = preprocess_dataset(open_dataset("ubfc-rppg", root), out, CONFIG, workers=1)
    assert summary.skipped == ["1"] and summary.done == ["2"]
    np.testing.assert_allclose(open_cache(out, names=["2"])[0].label, 2 * gt_signal(np.arange(N) / FPS),
                               atol=4e-3)


def memory_record(n_labelled, n_frames, name="clip"):
    """A record whose frames come from memory: frame t is constant t (so alignment is visible)."""
    frames = [np.full((HEIGHT, WIDTH, 3), t, np.uint8) for t in range(n_frames)]
    times = np.arange(n_labelled) / FPS
    return VideoRecord(subject=name, session="", fps=FPS, frame_times=times, ppg=np.arange(n_labelled, dtype=float),
                       source=f"{name}.avi", frames=partial(iter, frames))


def test_fewer_decoded_frames_are_trimmed_within_tolerance_or_fail(tmp_path):
    config = CONFIG.replace(max_missing_fraction=0.1)
    result = preprocess_video(memory_record(32, 30), tmp_path, config)
    video = open_cache(tmp_path)[0]
    assert result.n_frames == 30 and video.n_frames == 30 and video.manifest["n_frames_expected"] == 32
    assert "2 of 32 frames missing" in video.manifest["notes"][0]
    np.testing.assert_array_equal(video.frames[:, 0, 0, 0], np.arange(30))
    np.testing.assert_array_equal(video.label, np.arange(30))
    with pytest.raises(ValueError, match="short.avi: 30 frames decoded but the record has 40.*more than 10%"):
        preprocess_video(memory_record(40, 30, "short"), tmp_path, config)
    with pytest.raises(ValueError, match="strict.avi: 30 frames decoded.*missing_frames='error'"):
        preprocess_video(memory_record(31, 30, "strict"), tmp_path, config.replace(missing_frames="error"))
    assert [v.name for v in open_cache(tmp_path)] == ["clip"]  # the failures left nothing behind
    assert not list(tmp_path.glob(".*"))


def test_frames_beyond_the_label_are_not_cached_and_noted(tmp_path):
    result = preprocess_video(memory_record(25, 30), tmp_path, CONFIG)
    video = open_cache(tmp_path)[0]
    assert result.n_frames == 25 and video.frames.shape[0] == 25
    assert any("more frames than its 25 labelled" in note for note in video.manifest["notes"])


def test_truncated_video_fails_in_preprocessing_and_is_named(tmp_path):
    root = tmp_path / "ubfc"
    for number in (1, 2):
        write_subject(root, number)
    video = root / "subject2" / "vid.avi"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])  # half the frames are gone
    records = [VideoRecord(subject=str(n), session="", fps=FPS, frame_times=np.arange(N) / FPS,
                           ppg=np.zeros(N), source=root / f"subject{n}" / "vid.avi",
                           frames=partial(read_video_frames, root / f"subject{n}" / "vid.avi")) for n in (1, 2)]
    summary = preprocess_dataset(records, tmp_path / "cache", CONFIG, workers=1)
    assert summary.done == ["1"] and [r.name for r in summary.failed] == ["2"]
    assert "subject2/vid.avi" in summary.failed[0].reason and "frames decoded" in summary.failed[0].reason
    assert [v.name for v in open_cache(tmp_path / "cache")] == ["1"]


def test_unpicklable_records_run_serially_and_say_why(tmp_path):
    frames = [np.zeros((HEIGHT, WIDTH, 3), np.uint8)] * 5
    records = [VideoRecord(subject=s, session="", fps=FPS, frame_times=np.arange(5) / FPS, ppg=np.zeros(5),
                           source=f"{s}.avi", frames=lambda: iter(frames)) for s in ("a", "b")]
    summary = preprocess_dataset(records, tmp_path, CONFIG, workers=2)
    assert summary.done == ["a", "b"] and "cannot be sent to worker processes" in summary.serial_reason


def test_duplicate_names_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="share the cache name 'clip'.*clip.avi"):
        preprocess_dataset([memory_record(5, 5), memory_record(5, 5)], tmp_path, CONFIG, workers=1)


def test_open_cache_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        open_cache(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no complete cached video"):
        open_cache(tmp_path)
    preprocess_video(memory_record(6, 6), tmp_path, CONFIG)
    with pytest.raises(FileNotFoundError, match="not cached: other"):
        open_cache(tmp_path, names=["other"])
    video = open_cache(tmp_path)[0]
    assert video.frames.shape == (6, 36, 36, 3)
    clone = pickle.loads(pickle.dumps(video))  # memory maps are reopened, not copied
    assert clone._arrays == {} and clone.label.tolist() == list(range(6))
    np.save(tmp_path / "clip" / "label.npy", np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="label.npy: 4 rows but the manifest says 6"):
        open_cache(tmp_path)[0].label
    (tmp_path / "clip" / MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json: corrupt manifest"):
        open_cache(tmp_path)
    os.remove(tmp_path / "clip" / MANIFEST)
    with pytest.raises(ValueError, match="no complete cached video"):
        open_cache(tmp_path)


def test_cli_preprocess_reports_failures_and_reruns_from_its_config(ubfc_root, tmp_path, capsys):
    out = tmp_path / "cache"
    code = main(["preprocess", "--dataset", "ubfc-rppg", "--root", str(ubfc_root), "--out", str(out),
                 "--size", "36", "--no-face", "centre", "--detect-width", "64", "--workers", "1",
                 "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 1  # some videos failed
    assert "3 done" in printed and "2 failed" in printed
    assert "FAILED 2 (" in printed and "FAILED 4 (" in printed and "NaN" in printed
    assert [v.name for v in open_cache(out)] == ["1", "3", "5"]
    code = main(["preprocess", "--config", str(out / "preprocess.yaml"), "--no-progress"])
    assert code == 1 and "0 done, 3 skipped" in capsys.readouterr().out


def test_cli_preprocess_bad_input_exits_2_with_the_reason(ubfc_root, tmp_path, capsys):
    assert main(["preprocess", "--dataset", "ubfc-rppg", "--root", str(ubfc_root)]) == 2
    assert "no output folder: pass --out" in capsys.readouterr().err
    config = tmp_path / "pre.yaml"
    config.write_text("dataset: ubfc-rppg\nsizes: 64\n")
    assert main(["preprocess", "--config", str(config), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "pre.yaml: unknown preprocess key(s) 'sizes'" in err and "valid keys:" in err
    assert main(["preprocess", "--dataset", "ubfc-rppg", "--root", str(ubfc_root), "--out",
                 str(tmp_path / "c"), "--option", "version"]) == 2
    assert "--option 'version': expected KEY=VALUE" in capsys.readouterr().err


def test_synthetic_videos_on_the_fly_are_cached_with_real_face_detection(tmp_path):
    records = open_dataset("synthetic", subjects=2, seconds=1, fps=15, size=(160, 120))
    config = PreprocessConfig(size=32, every_n=3)  # the real Haar cascade on the rendered faces
    summary = preprocess_dataset(records, tmp_path, config, workers=1)
    assert summary.done == ["1", "2"]
    for video, rec in zip(open_cache(tmp_path), records):
        face = video.manifest["face"]
        assert face["found"] == face["attempts"] == 6 and face["reused"] == face["centre"] == 0
        centre_x = video.boxes[:, [0, 2]].mean(axis=1)
        assert np.all(np.abs(centre_x - 80) < 12)  # the rendered face is centred horizontally
        np.testing.assert_allclose(video.label, rec.ppg.astype(np.float32))
        assert video.manifest["source"]["kind"] == "virtual"
    assert preprocess_dataset(records, tmp_path, config, workers=1).skipped == ["1", "2"]


def test_a_failed_redo_leaves_no_stale_video_and_mixed_settings_are_flagged(tmp_path):
    preprocess_video(memory_record(6, 6, "a"), tmp_path, CONFIG)
    preprocess_video(memory_record(6, 6, "b"), tmp_path, CONFIG)
    broken = memory_record(6, 6, "a")
    broken.ppg[2] = np.nan  # the source changed and is now broken
    with pytest.raises(ValueError, match="a.avi: NaN or inf in the aligned label at frame 2"):
        preprocess_video(broken, tmp_path, CONFIG)
    assert [v.name for v in open_cache(tmp_path)] == ["b"]  # the old crops of 'a' are not served
    preprocess_video(memory_record(6, 6, "a"), tmp_path, CONFIG.replace(size=16))  # an interrupted re-run
    with pytest.raises(ValueError, match="made with 2 different settings"):
        open_cache(tmp_path)
    assert [v.size for v in open_cache(tmp_path, allow_mixed=True)] == [16, 36]


def test_a_truncated_frames_file_is_not_a_cache_and_is_redone(tmp_path):
    preprocess_video(memory_record(6, 6), tmp_path, CONFIG)
    frames = tmp_path / "clip" / "frames.npy"
    frames.write_bytes(frames.read_bytes()[: frames.stat().st_size // 2])  # the disk filled up, say
    with pytest.raises(ValueError, match=r"clip/frames.npy: cannot be read .*run sspd preprocess again"):
        open_cache(tmp_path)[0].frames
    result = preprocess_video(memory_record(6, 6), tmp_path, CONFIG)
    assert result.status == "done" and open_cache(tmp_path)[0].frames.shape == (6, 36, 36, 3)
    assert preprocess_video(memory_record(6, 6), tmp_path, CONFIG).status == "skipped"
