"""Your own unlabeled videos, end to end: ``sspd pretrain CONFIG --videos DIR`` preprocesses the folder into
RUN_DIR/cache (resumable) and trains on it; ``sspd predict --checkpoint`` runs the model; the commands that
need labels refuse the unlabeled cache in one line."""
import json
import shutil
from pathlib import Path

import pytest

from sspd.cli import main
from sspd.cli.config import RunConfig
from sspd.cli.pretrain import preprocess_videos
from sspd.configuration import load_config

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
FRAMES = 60  # 2 s at 30 fps
# a tiny SSPD-Net (width 0.125, its 66 px minimum input), clips of 48 differences, 2 steps
TINY = ["model.backbone=sspdnet", "model.width=0.125", "model.input_size=66", "data.box_size=70", "data.frames=48",
        "loop.batch_size=2", "loop.max_steps=2", "collapse.enabled=false", "probe.every_n_steps=0",
        "loop.channels_last=false"]


def _sets(items):
    return [arg for item in items for arg in ("--set", item)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two synthetic face videos made by ``sspd synth``, their labels removed, one in a sub-folder."""
    base = tmp_path_factory.mktemp("own")
    assert main(["synth", "--out", str(base / "synth"), "--subjects", "2", "--seconds", "2", "--size", "64x48",
                 "--no-progress"]) == 0
    videos = base / "videos"
    (videos / "day1").mkdir(parents=True)
    shutil.move(base / "synth" / "subject1" / "vid.avi", videos / "day1" / "morning.avi")
    shutil.move(base / "synth" / "subject2" / "vid.avi", videos / "evening.avi")
    shutil.rmtree(base / "synth")  # no ground truth anywhere
    settings = base / "preprocess.yaml"
    settings.write_text("workers: 1\nstrategy: first\n")
    return videos, settings


def test_preprocess_into_the_run_cache_is_resumable(folder, tmp_path):
    videos, settings = folder
    config = load_config(RunConfig, None, [*TINY, f"run_dir={tmp_path / 'run'}"])
    trained, summary = preprocess_videos(config, videos, settings=str(settings))
    cache = tmp_path / "run" / "cache"
    assert sorted(summary.done) == ["day1-morning", "evening"] and not summary.failed
    assert (trained.data.source, trained.data.cache_dir) == ("cache", str(cache))
    manifest = json.loads((cache / "evening" / "manifest.json").read_text())
    assert manifest["labelled"] is False and manifest["n_frames"] == FRAMES and manifest["config"]["size"] == 70
    kept = (cache / "evening" / "manifest.json").stat().st_mtime_ns
    shutil.rmtree(cache / "day1-morning")  # as if the first call was interrupted there
    _, again = preprocess_videos(config, videos, settings=str(settings))
    assert again.done == ["day1-morning"] and again.skipped == ["evening"]
    assert (cache / "evening" / "manifest.json").stat().st_mtime_ns == kept  # reused, not rewritten


def test_the_supervised_objective_refuses_unlabeled_videos_in_one_line(folder, tmp_path, capsys):
    videos, settings = folder
    code = main(["pretrain", str(EXPERIMENTS / "synthetic_demo.yaml"), "--videos", str(videos),
                 "--preprocess-config", str(settings), "--no-progress",
                 *_sets([*TINY, "objective.name=supervised", f"run_dir={tmp_path / 'run'}"])])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "objective 'supervised' needs labels, but the cache" in err[0] and "objective.name=sspd or sinc" in err[0]
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_a_folder_of_unlabeled_videos_becomes_a_model_with_one_command(folder, tmp_path, capsys):
    videos, settings = folder
    run_dir = tmp_path / "run"
    args = ["pretrain", str(EXPERIMENTS / "synthetic_demo.yaml"), "--videos", str(videos), "--preprocess-config",
            str(settings), "--no-progress", *_sets([*TINY, f"run_dir={run_dir}"])]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 done, 0 skipped" in out and "2/2 steps" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["steps"], summary["stop_reason"]) == (2, "completed")
    record = load_config(RunConfig, run_dir / "config.yaml")
    assert (record.data.source, record.data.cache_dir) == ("cache", str(run_dir / "cache"))
    assert main(args) == 2  # a finished run is not started again over itself
    assert "already holds the checkpoints of a run: continue it with --resume" in capsys.readouterr().err
    checkpoint = run_dir / "checkpoints" / "last.pt"
    assert main(["predict", str(videos / "evening.avi"), "--checkpoint", str(checkpoint), "--json", "--device",
                 "cpu", "--no-progress", "--out", str(tmp_path / "pred")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_frames"] == FRAMES and result["protocol"]["model"]["checkpoint"] == str(checkpoint)
    assert result["protocol"]["model"]["step"] == 2 and result["hr_bpm"] is not None
    assert 40 <= result["hr_bpm"] <= 180


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-step run of a tiny PhysNet on synthetic clips: a model to hand to the label-needing commands."""
    from sspd.cli.pretrain import pretrain

    path = tmp_path_factory.mktemp("tiny") / "run"
    tiny = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=4",
            "loop.batch_size=4", "collapse.enabled=false", "loop.channels_last=false", "loop.max_steps=2",
            f"run_dir={path}"]
    assert pretrain(load_config(RunConfig, None, tiny)).stop_reason == "completed"
    return path


@pytest.mark.parametrize("command", [["probe"], ["finetune", "--out", "FT"], ["evaluate"]])
def test_label_needing_commands_refuse_an_unlabeled_cache_in_one_line(folder, tiny_run, tmp_path, capsys, command):
    videos, settings = folder
    config = load_config(RunConfig, None, [*TINY, f"run_dir={tmp_path / 'own'}"])
    preprocess_videos(config, videos, settings=str(settings))
    cache = tmp_path / "own" / "cache"
    args = [command[0], str(tiny_run), *[str(tmp_path / a) if a == "FT" else a for a in command[1:]],
            "--cache", str(cache)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"sspd {command[0]}: error: sspd {command[0]} needs labels, but 2 "
                                               f"of the 2 videos of the cache {cache} are unlabeled")
    assert "pass that cache with --cache" in err[0]


def test_videos_into_a_folder_of_the_users_own_files_is_refused_before_caching(folder, tmp_path, capsys):
    videos, settings = folder
    run_dir = tmp_path / "mine"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("my own notes\n")
    code = main(["pretrain", "--videos", str(videos), "--preprocess-config", str(settings), "--no-progress",
                 *_sets([*TINY, f"run_dir={run_dir}"])])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "metrics.jsonl" in err[0]
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.jsonl"]   # no cache/ made, nothing touched
    assert (run_dir / "metrics.jsonl").read_text() == "my own notes\n"
