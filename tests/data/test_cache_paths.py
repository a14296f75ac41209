"""Path safety of preprocessing: hostile video names never reach outside --out, and only folders sspd
wrote are ever deleted."""
import json
import os

import cv2
import numpy as np
import pytest

from sspd.cli import main
from sspd.data.cache import SUMMARY, child_path, open_cache, remove_video_folder
from sspd.data.cache_lock import cache_lock
from sspd.data.preprocess import preprocess_dataset
from sspd.data.preprocess_config import PreprocessConfig
from sspd.data.readers import open_dataset
from sspd.data.records import VideoRecord, safe_name
from sspd.data.video import write_video

FPS, N = 30.0, 12
CONFIG = PreprocessConfig(size=16, no_face="centre", detect_width=64)
FLAGS = ["--size", "16", "--no-face", "centre", "--detect-width", "64", "--workers", "1", "--no-progress"]


def frames(seed=0, n=N):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 24, 32, 3), dtype=np.uint8)


def write_pair(root, stem, seed=0):
    write_video(root / f"{stem}.avi", iter(frames(seed)), FPS)
    t = np.arange(0, 0.6, 1 / 60)
    (root / f"{stem}.csv").write_text("time,ppg\n" + "\n".join(f"{a:.5f},{np.sin(7 * a):.5f}" for a in t) + "\n")


def files_under(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def with_sentinels(tmp_path, root):
    """A sentinel beside --out and one in --root; returns (out, sentinels)."""
    sentinels = [tmp_path / "beside_out.txt", root / "sentinel.txt"]
    for path in sentinels:
        path.write_text("keep me")
    return tmp_path / "out", sentinels


def test_safe_name_rejects_dot_names_and_replaces_leading_dots_and_separators():
    assert safe_name(".hidden") == "_hidden" and safe_name("..x", "a/b") == "__x_a-b"
    assert safe_name("a\\b") == "a-b" and safe_name("subject1") == "subject1"
    for bad in ("", ".", "..", " "):
        with pytest.raises(ValueError, match="cannot name a cache folder: rename"):
            safe_name(bad)


def test_generic_hostile_stems_never_touch_anything_outside_out(tmp_path, capsys):
    root = tmp_path / "root"
    root.mkdir()
    for seed, stem in enumerate(["..", ".", ".hidden", "ok", "back\\slash"]):
        write_pair(root, stem, seed)  # "...avi" (stem ..), "..avi" (stem .), ".hidden.avi", ...
    out, sentinels = with_sentinels(tmp_path, root)
    sources = files_under(root)
    code = main(["preprocess", "--dataset", "generic", "--root", str(root), "--out", str(out), *FLAGS])
    report = capsys.readouterr().out
    assert code == 1  # the two dot stems failed, the others are cached
    assert all(p.read_text() == "keep me" for p in sentinels)
    assert files_under(root) == sources  # every source file still there, unchanged
    summary = json.loads((out / SUMMARY).read_text())
    assert sorted(r["name"] for r in summary["results"] if r["status"] == "done") == ["_hidden", "back-slash", "ok"]
    failed = [r for r in summary["results"] if r["status"] == "failed"]
    assert len(failed) == 2 and all("cannot name a cache folder" in r["reason"] for r in failed)
    assert "cannot name a cache folder" in report
    assert [v.name for v in open_cache(out)] == ["_hidden", "back-slash", "ok"]  # the dot name reads back
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["_hidden", "back-slash", "ok"]


def test_a_folder_sspd_did_not_write_is_never_deleted(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    write_pair(root, "ok")
    out, sentinels = with_sentinels(tmp_path, root)
    (out / "ok").mkdir(parents=True)
    (out / "ok" / "thesis.tex").write_text("years of work")
    summary = preprocess_dataset(open_dataset("generic", root), out, CONFIG, workers=1)
    assert [r.name for r in summary.failed] == ["ok"]
    assert "was not written by sspd preprocess" in summary.failed[0].reason
    assert (out / "ok" / "thesis.tex").read_text() == "years of work"
    assert all(p.read_text() == "keep me" for p in sentinels)


def write_ubfc_subject(root, name, seed):
    folder = root / name
    folder.mkdir(parents=True)
    write_video(folder / "vid.avi", iter(frames(seed)), FPS)
    t = np.arange(0, 0.6, 1 / 60)
    rows = [np.sin(7 * t), np.full_like(t, 70.0), t]
    (folder / "ground_truth.txt").write_text("\n".join(" ".join(f"{v:.6e}" for v in r) for r in rows) + "\n")


def test_ubfc_hostile_subject_folders(tmp_path):
    root = tmp_path / "ubfc"
    for seed, name in enumerate(["subject1", ".subject2", "sub ject;3", "..."]):
        write_ubfc_subject(root, name, seed)
    out, sentinels = with_sentinels(tmp_path, root)
    sources = files_under(root)
    summary = preprocess_dataset(open_dataset("ubfc-rppg", root), out, CONFIG, workers=1)
    assert sorted(summary.done) == ["1", "___", "_subject2", "sub-ject-3"]
    assert files_under(root) == sources and all(p.read_text() == "keep me" for p in sentinels)
    assert len(open_cache(out)) == 4


def write_pure_session(root, name):
    folder = root / name
    folder.mkdir(parents=True)
    stamps = 10**18 + np.arange(N, dtype=np.int64) * 33_333_333
    for ns, frame in zip(stamps, frames()):
        assert cv2.imwrite(str(folder / f"Image{ns}.png"), frame)
    label_ns = stamps[0] + (np.arange(40) * 1e9 / 60).astype(np.int64)
    package = [{"Timestamp": int(ns), "Value": {"pulseRate": 70, "o2saturation": 97, "signalStrength": 3,
                                                "waveform": float(np.sin(i))}} for i, ns in enumerate(label_ns)]
    doc = {"/FullPackage": package, "/Image": [{"Timestamp": int(ns)} for ns in stamps]}
    (root / f"{name}.json").write_text(json.dumps(doc))


def write_vipl_source(root, rel):
    folder = root / rel
    write_video(folder / "video.avi", iter(frames()), FPS)
    (folder / "wave.csv").write_text("Wave\n" + "\n".join(f"{np.sin(i / 9):.4f}" for i in range(40)) + "\n")
    (folder / "gt_HR.csv").write_text("HR\n70\n")


@pytest.mark.parametrize("dataset", ["pure", "vipl-hr"])
def test_pure_and_vipl_names_stay_inside_out(tmp_path, dataset):
    root = tmp_path / dataset
    if dataset == "pure":
        write_pure_session(root, "01-02")
        (root / "..01-03").mkdir()  # look-alikes the reader must not take for sessions
        (root / ".01-04").mkdir()
    else:
        write_vipl_source(root, "p1/v2/source3")
        (root / "p1" / "v..").mkdir()
    out, sentinels = with_sentinels(tmp_path, root)
    sources = files_under(root)
    summary = preprocess_dataset(open_dataset(dataset, root), out, CONFIG, workers=1)
    assert summary.done == [{"pure": "01_02", "vipl-hr": "1_v2-source3"}[dataset]]
    assert files_under(root) == sources and all(p.read_text() == "keep me" for p in sentinels)
    assert [p.parent for p in out.glob("*/manifest.json")] == [out / summary.done[0]]


def test_child_path_and_remove_refuse_to_leave_the_folder(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "cache").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "cache" / "link")
    for name in ("..", ".", "", "a/../..", "link"):
        with pytest.raises(ValueError, match="not a folder directly inside"):
            child_path(tmp_path / "cache", name)
    with pytest.raises(ValueError, match="not a folder directly inside"):
        remove_video_folder(tmp_path / "cache", "link")
    assert (tmp_path / "elsewhere").is_dir()


def test_a_record_built_by_hand_with_a_dot_name_is_a_failure_not_a_crash(tmp_path):
    record = VideoRecord(subject="..", session="", fps=FPS, frame_times=np.arange(N) / FPS, ppg=np.zeros(N),
                         source=tmp_path / "x.avi", frames=lambda: iter(frames()))
    (tmp_path / "beside_out.txt").write_text("keep me")
    summary = preprocess_dataset([record], tmp_path / "out", CONFIG, workers=1)
    assert len(summary.failed) == 1 and "cannot name a cache folder" in summary.failed[0].reason
    assert (tmp_path / "beside_out.txt").read_text() == "keep me" and (tmp_path / "out" / SUMMARY).is_file()


def test_a_second_run_into_the_same_out_is_refused_and_names_the_holder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with cache_lock(out):
        with pytest.raises(RuntimeError, match=rf"being written by another sspd preprocess \(pid {os.getpid()} "):
            preprocess_dataset([], out, CONFIG, workers=1)
    assert preprocess_dataset([], out, CONFIG, workers=1).results == []  # released when the holder ends


def test_cli_preprocess_refuses_an_out_that_is_a_file_before_reading_videos(tmp_path, capsys):
    root = tmp_path / "root"
    root.mkdir()
    write_pair(root, "ok")
    (tmp_path / "out").write_text("not a folder")
    code = main(["preprocess", "--dataset", "generic", "--root", str(root), "--out", str(tmp_path / "out"), *FLAGS])
    err = capsys.readouterr().err
    assert code == 2 and "--out" in err and "is an existing file, not a folder" in err
    assert (tmp_path / "out").read_text() == "not a folder"


def test_cli_preprocess_while_another_holds_the_lock_exits_2_naming_it(tmp_path, capsys):
    root = tmp_path / "root"
    root.mkdir()
    write_pair(root, "ok")
    out = tmp_path / "out"
    out.mkdir()
    with cache_lock(out):
        code = main(["preprocess", "--dataset", "generic", "--root", str(root), "--out", str(out), *FLAGS])
    assert code == 2 and f"pid {os.getpid()}" in capsys.readouterr().err
    assert not (out / "ok").exists()


def test_cli_preprocess_failure_reasons_name_its_flags(tmp_path, capsys):
    root = tmp_path / "root"
    root.mkdir()
    write_pair(root, "cut")
    video = root / "cut.avi"
    video.write_bytes(video.read_bytes()[: video.stat().st_size * 2 // 3])  # declares 12 frames, fewer decode
    out = tmp_path / "out"
    assert main(["preprocess", "--dataset", "generic", "--root", str(root), "--out", str(out), *FLAGS]) == 1
    report = capsys.readouterr().out
    assert "raise max_missing_fraction (in the --config file)" in report
    args = ["preprocess", "--dataset", "generic", "--root", str(root), "--out", str(out), "--missing-frames", "error"]
    assert main([*args, *FLAGS]) == 1
    report = capsys.readouterr().out
    assert "--missing-frames error. Use --missing-frames trim" in report and "missing_frames=" not in report
