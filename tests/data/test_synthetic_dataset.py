"""Generated synthetic datasets on disk: layout, lossless read-back, readers, CLI and the POS sanity check."""
import json
import re

import numpy as np
import pytest

from sspd.baselines import green, pos
from sspd.cli import main
from sspd.data import open_dataset, read_video_frames
from sspd.data.synthetic import SyntheticConfig, generate_dataset, open_synthetic
from sspd.data.synthetic.generate import build_subject_video, draw_label_times
from sspd.signal import estimate_hr

FS = 30.0


def _mean_skin(video, frames: np.ndarray) -> np.ndarray:
    """(3, T) mean colour over the generator's skin mask (weight > 0.5) of each frame."""
    masks = video.skin_masks() > 0.5  # (T, H, W)
    return np.einsum("thwc,thw->ct", frames.astype(np.float64), masks) / masks.sum(axis=(1, 2))


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic") / "ds"
    infos = generate_dataset(root, subjects=2, seconds=2.0, fps=FS, size=(48, 40), seed=11)
    return root, infos


def test_layout_is_ubfc_dataset_2_with_a_60hz_label_of_three_equal_lines(tiny_dataset):
    root, infos = tiny_dataset
    assert sorted(p.name for p in root.iterdir()) == ["subject1", "subject2", "synthetic.json"]
    for n in (1, 2):
        folder = root / f"subject{n}"
        assert sorted(p.name for p in folder.iterdir()) == ["ground_truth.txt", "synthetic.json", "vid.avi"]
        lines = (folder / "ground_truth.txt").read_text().strip().split("\n")
        ppg, hr, times = (np.array(line.split(), dtype=float) for line in lines)
        assert len(lines) == 3 and len(ppg) == len(hr) == len(times)
        assert np.mean(np.diff(times)) == pytest.approx(1 / 60.0, rel=1e-3)  # oximeter rate, not 30 fps
        assert np.all(np.diff(times) > 0) and times[0] == 0.0 and times[-1] >= 60 / FS - 1 / FS
        video = build_subject_video(11, n, seconds=2.0, fps=FS, size=(48, 40), config=SyntheticConfig())
        np.testing.assert_allclose(ppg, video.ppg(times), atol=1e-7)  # the written label is p(t)
        assert hr.mean() == pytest.approx(infos[n - 1]["mean_hr_bpm"], rel=0.02)
    dataset = json.loads((root / "synthetic.json").read_text())
    assert dataset["seed"] == 11 and [v["subject"] for v in dataset["videos"]] == ["subject1", "subject2"]


def test_written_frames_are_the_rendered_frames_exactly(tiny_dataset):
    root, _ = tiny_dataset
    for n in (1, 2):
        written = np.stack(list(read_video_frames(root / f"subject{n}" / "vid.avi")))
        video = build_subject_video(11, n, seconds=2.0, fps=FS, size=(48, 40), config=SyntheticConfig())
        rendered = video.render()
        np.testing.assert_array_equal(written, rendered)  # FFV1 is lossless


def test_folder_reads_back_like_the_on_the_fly_records(tiny_dataset):
    root, infos = tiny_dataset
    from_disk = open_synthetic(root)
    on_the_fly = open_synthetic(None, subjects=2, seconds=2.0, fps=FS, size=(48, 40), seed=11)
    via_registry = open_dataset("synthetic", root)
    assert [r.subject for r in from_disk] == [r.subject for r in on_the_fly] == ["1", "2"]
    assert [r.subject for r in via_registry] == ["1", "2"] and not via_registry.failures
    for disk, fly, info in zip(from_disk, on_the_fly, infos):
        assert disk.n_frames == fly.n_frames == 60 and disk.fps == pytest.approx(FS, abs=1e-3)
        # 60 Hz label resampled to the frames by timestamps vs the exact p(t) at the frame times
        np.testing.assert_allclose(disk.ppg, fly.ppg, atol=0.03)
        assert disk.metadata["synthetic"] == info and disk.metadata["mean_hr_bpm"] == info["mean_hr_bpm"]
        np.testing.assert_array_equal(np.stack(list(disk.read_frames())), np.stack(list(fly.read_frames())))


def test_a_synthetic_folder_is_an_ordinary_format_of_the_registry(tiny_dataset):
    root, infos = tiny_dataset
    (second,) = open_dataset("synthetic", root, subjects=["2"], version=2)  # the registry's own selection
    assert second.subject == "2" and second.metadata["synthetic"] == infos[1]
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['seconds'\] for dataset synthetic; valid "
                                         r"options: version, video_name, label_tolerance_s"):
        open_dataset("synthetic", root, seconds=2.0)  # a render option, given with a folder
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\] for dataset synthetic; valid "
                                         r"options: subjects, seconds"):
        open_dataset("synthetic", colour="red")
    with pytest.raises(ValueError, match="no metadata filters"):
        open_dataset("synthetic", subjects=1, filters={"has_pulse": True})


def test_refuses_to_overwrite_unless_asked(tiny_dataset, tmp_path):
    root, _ = tiny_dataset
    with pytest.raises(ValueError, match="subject1.*already exists.*overwrite"):
        generate_dataset(root, subjects=1, seconds=1.0, size=(32, 32))
    again = generate_dataset(tmp_path / "b", subjects=1, seconds=1.0, size=(32, 32), seed=3)
    replaced = generate_dataset(tmp_path / "b", subjects=1, seconds=1.0, size=(32, 32), seed=4,
                                overwrite=True)
    assert again[0]["seed"] == 3 and replaced[0]["seed"] == 4
    assert json.loads((tmp_path / "b" / "subject1" / "synthetic.json").read_text())["seed"] == 4


def test_generator_and_reader_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="subjects"):
        generate_dataset(tmp_path / "x", subjects=0)
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        generate_dataset(tmp_path / "x", size="64by48")
    with pytest.raises(ValueError, match="frame"):
        generate_dataset(tmp_path / "x", seconds=0.01)
    with pytest.raises(ValueError, match="unknown option.*colour"):
        open_synthetic(None, colour="red")
    with pytest.raises(FileNotFoundError, match="missing"):
        open_synthetic(tmp_path / "missing")
    broken = tmp_path / "broken"
    generate_dataset(broken, subjects=1, seconds=1.0, size=(32, 32))
    (broken / "subject1" / "synthetic.json").write_text("{not json")
    with pytest.raises(ValueError, match="subject1.*synthetic.json.*not valid JSON"):
        open_synthetic(broken)


def test_label_clock_has_jitter_but_stays_increasing_and_covers_the_video():
    times = draw_label_times(10.0, 60.0, 0.002, np.random.default_rng(0))
    assert times[0] == 0.0 and times[-1] >= 10.0 - 0.002
    assert np.all(np.diff(times) > 0)
    off_grid = times - np.arange(len(times)) / 60.0
    assert 0.001 < np.abs(off_grid).max() <= 0.002


def test_cli_synth_writes_a_dataset_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["synth", "--out", str(out), "--subjects", "2", "--seconds", "1", "--size", "32x24",
                 "--seed", "5", "--hr-range", "60", "60", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "wrote 2 synthetic video(s) of 30 frames, 32x24" in printed and str(out) in printed
    assert (out / "subject2" / "vid.avi").is_file()
    infos = [json.loads((out / f"subject{n}" / "synthetic.json").read_text()) for n in (1, 2)]
    assert all(i["hr0_bpm"] == 60.0 and i["width"] == 32 and i["seed"] == 5 for i in infos)
    printed_hrs = [float(v) for v in re.findall(r"mean HR\s+([\d.]+) bpm", printed)]
    assert printed_hrs == [round(i["mean_hr_bpm"], 1) for i in infos]


def test_cli_synth_flags_reach_the_config_and_bad_input_exits_2(tmp_path, capsys):
    out = tmp_path / "neg"
    assert main(["synth", "--out", str(out), "--subjects", "1", "--seconds", "1", "--size", "32x32",
                 "--no-pulse", "--flicker-hz", "1.5", "--motion", "0", "--no-progress"]) == 0
    info = json.loads((out / "subject1" / "synthetic.json").read_text())
    assert not info["has_pulse"] and info["flicker_hz"] == 1.5 and info["config"]["motion_translation"] == 0
    assert "no pulse" in capsys.readouterr().out
    assert main(["synth", "--out", str(tmp_path / "bad"), "--size", "8x8", "--no-progress"]) == 2
    assert "too small" in capsys.readouterr().err
    assert main(["synth", "--out", str(out), "--subjects", "1", "--seconds", "1", "--size", "32x32",
                 "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err


def _check_pos_recovers_heart_rates(root, *, subjects: int, size: tuple[int, int], seed: int) -> None:
    seconds = 10.0
    infos = generate_dataset(root, subjects=subjects, seconds=seconds, fps=FS, size=size, seed=seed)
    for record, info in zip(open_synthetic(root), infos):
        video = build_subject_video(seed, info["subject_index"], seconds=seconds, fps=FS, size=size,
                              config=SyntheticConfig())
        rgb = _mean_skin(video, np.stack(list(record.read_frames())))
        hr_pos = estimate_hr(pos(rgb, FS), FS)
        hr_reference = estimate_hr(record.ppg, FS)  # the protocol: same estimator on the ground truth
        assert hr_pos == pytest.approx(hr_reference, abs=2.0)
        assert hr_pos == pytest.approx(info["mean_hr_bpm"], abs=3.0)  # 10 s of a breathing-modulated HR


def test_pos_on_the_mean_skin_colour_of_a_generated_video_recovers_its_heart_rate(tmp_path):
    """docs/data_formats.md sanity check: 10 s at 30 fps, default nuisances, read back from disk."""
    _check_pos_recovers_heart_rates(tmp_path / "ds", subjects=1, size=(128, 96), seed=21)


@pytest.mark.slow
def test_pos_recovers_heart_rates_of_five_subjects_at_320x240(tmp_path):
    _check_pos_recovers_heart_rates(tmp_path / "ds", subjects=5, size=(320, 240), seed=1)


def test_green_fails_once_illumination_dominates_inside_the_band_while_pos_does_not():
    flicker = SyntheticConfig(hr_bpm=(66.0, 66.0), flicker_hz=1.8, flicker_amplitude=0.015)
    video = build_subject_video(4, 1, seconds=10.0, fps=FS, size=(96, 72), config=flicker)
    rgb = _mean_skin(video, video.render())
    reference = estimate_hr(video.ppg(video.frame_times), FS)
    assert estimate_hr(green(rgb, FS), FS) == pytest.approx(108.0, abs=2.0)  # the flicker, 1.8 Hz
    assert estimate_hr(pos(rgb, FS), FS) == pytest.approx(reference, abs=2.0)


@pytest.mark.parametrize("flags, named", [(["--noise-std", "nan"], "noise_std"), (["--flicker-hz", "inf"], "flicker_hz"),
                                          (["--hr-range", "60", "nan"], "hr_bpm"), (["--motion", "nan"], "motion")])
def test_synth_refuses_a_knob_that_is_not_a_finite_number(tmp_path, capsys, flags, named):
    from sspd.cli import main

    assert main(["synth", "--out", str(tmp_path / "data"), "--subjects", "1", "--seconds", "1", *flags,
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert named in err and "finite" in err and not (tmp_path / "data").exists()


@pytest.mark.parametrize("flags, message", [(["--size", "99999x99999"], "too large"),
                                            (["--seconds", "inf"], "seconds must be a finite number")])
def test_synth_checks_sizes_before_allocating(tmp_path, capsys, flags, message):
    from sspd.cli import main

    assert main(["synth", "--out", str(tmp_path / "data"), "--subjects", "1", *flags, "--no-progress"]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "data").exists()
