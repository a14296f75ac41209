"""No command overwrites what it did not write: pretrain, finetune, preprocess and demo into folders that
already hold the user's own files of the same names refuse before writing a byte; a folder sspd made is
reused; two pretraining runs never share a run directory; finetune never writes into a pretraining run."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sspd.cli import main
from sspd.engine import save_checkpoint
from sspd.eval.finetune import build_from_scratch
from sspd.files import OWNER_FILE, claim_folder, folder_owner

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=4",
        "loop.batch_size=4", "collapse.enabled=false", "loop.channels_last=false", "loop.checkpoint_every=1",
        "probe.every_n_steps=0"]
SPEC = {"backbone": "physnet", "backbone_kwargs": {"frames": 32, "input_size": 32, "width": 0.25}, "stack": {}}
DATA = ["--train-videos", "1", "--test-videos", "1", "--seconds", "10.5"]


def _sets(items):
    return [arg for item in items for arg in ("--set", item)]


def _pretrain_args(run_dir: Path, *extra: str) -> list[str]:
    return ["pretrain", str(EXPERIMENTS / "synthetic_demo.yaml"), "--no-progress",
            *_sets([*TINY, "loop.max_steps=1", f"run_dir={run_dir}", *extra])]


def _fill(folder: Path, names: list[str]) -> dict[str, bytes]:
    """The user's own files under ``folder`` (distinct bytes each); returns {relative path: bytes}."""
    content = {}
    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content[name] = f"the user's own {name} #{i}\n".encode() + os.urandom(16)
        path.write_bytes(content[name])
    return content


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ the ownership helper
def test_claim_marks_a_new_folder_and_refuses_one_that_holds_its_output_names(tmp_path):
    out = claim_folder(tmp_path / "new", "pretrain", outputs=["a.json"], where="run_dir")
    assert folder_owner(out) == "pretrain" and (out / OWNER_FILE).is_file()
    claim_folder(out, "pretrain", outputs=["a.json"], where="run_dir")   # its own: fine again
    with pytest.raises(ValueError, match=r"output folder of sspd pretrain.*another --out"):
        claim_folder(out, "finetune", outputs=["a.json"], where="--out")
    user = tmp_path / "user"
    _fill(user, ["a.json", "notes.txt"])
    with pytest.raises(ValueError, match=r"already holds a\.json.*did not write"):
        claim_folder(user, "pretrain", outputs=["a.json", "b.json"], where="run_dir")
    assert not (user / OWNER_FILE).exists()
    other = tmp_path / "other"          # unrelated files only: nothing to overwrite, so it is claimed
    _fill(other, ["notes.txt"])
    claim_folder(other, "pretrain", outputs=["a.json"], where="run_dir")
    assert folder_owner(other) == "pretrain"
    legacy = tmp_path / "legacy"        # made by an sspd from before the mark: the caller recognises it
    _fill(legacy, ["a.json"])
    claim_folder(legacy, "pretrain", outputs=["a.json"], where="run_dir", legacy=lambda p: True)
    assert folder_owner(legacy) == "pretrain"


def test_an_unreadable_owner_file_is_not_taken_for_a_claim(tmp_path):
    (tmp_path / OWNER_FILE).write_bytes(b"\x00garbage")
    _fill(tmp_path, ["a.json"])
    assert folder_owner(tmp_path) is None
    with pytest.raises(ValueError, match="did not write"):
        claim_folder(tmp_path, "pretrain", outputs=["a.json"], where="run_dir")


# ------------------------------------------------------------------------------------ pretrain (cases 2, 4)
def test_pretrain_refuses_a_run_dir_holding_the_users_files_and_writes_nothing(tmp_path, capsys):
    run_dir = tmp_path / "mine"
    before = _fill(run_dir, ["config.yaml", "metrics.jsonl", "summary.json", "health.json", "collapse.json",
                             "snapshots/step_0000001.npz"])
    assert main(_pretrain_args(run_dir)) == 2
    err = capsys.readouterr().err
    assert "sspd pretrain: error:" in err and "config.yaml" in err and "did not write" in err
    assert _tree(run_dir) == before


@pytest.mark.slow
def test_pretrain_starts_again_in_its_own_run_dir_that_stopped_before_a_checkpoint(tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    assert main(_pretrain_args(run_dir)) == 0
    shutil.rmtree(run_dir / "checkpoints")          # as a run killed before its first checkpoint leaves it
    (run_dir / "summary.json").unlink()
    assert folder_owner(run_dir) == "pretrain"
    assert main(_pretrain_args(run_dir)) == 0
    assert json.loads((run_dir / "summary.json").read_text())["stop_reason"] == "completed"


def test_a_second_pretrain_into_a_busy_run_dir_is_refused_naming_the_holder(tmp_path, capsys):
    from sspd.data.cache_lock import folder_lock
    from sspd.engine.runfiles.run_dir import RUN_LOCK

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with folder_lock(run_dir, name=RUN_LOCK, command="sspd pretrain", where="run_dir"):
        assert main(_pretrain_args(run_dir)) == 2
    err = capsys.readouterr().err
    assert "being written by another sspd pretrain" in err and f"pid {os.getpid()}" in err
    assert sorted(p.name for p in run_dir.iterdir()) == sorted([RUN_LOCK, OWNER_FILE])
    assert main(_pretrain_args(run_dir)) == 0   # free again


# ------------------------------------------------------------------------------------ finetune (case 1)
@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A pretraining run made by the loop, 1 step."""
    run_dir = tmp_path_factory.mktemp("finetune_source") / "run"
    assert main(_pretrain_args(run_dir)) == 0
    return run_dir


def test_finetune_never_writes_into_the_pretraining_run(source_run, capsys):
    before = _tree(source_run)
    assert main(["finetune", str(source_run), "--out", str(source_run), "--steps", "1", *DATA]) == 2
    err = capsys.readouterr().err
    assert "sspd pretrain" in err and "another --out" in err
    assert _tree(source_run) == before
    assert main(["pretrain", "--resume", str(source_run), "--no-progress", "--set", "loop.max_steps=2"]) == 0


def test_finetune_refuses_a_pretraining_run_made_before_the_owner_mark(tmp_path, capsys):
    legacy = tmp_path / "run"
    net = build_from_scratch(SPEC, seed=0)
    save_checkpoint(legacy / "checkpoints" / "last.pt",
                    {"format": "sspd-checkpoint-1", "step": 3, "epoch": 0, "config": {}, "network": SPEC,
                     "online": net.state_dict(), "target": net.state_dict(), "train_step": {}})
    (legacy / "metrics.jsonl").write_text('{"step": 1, "total": 1.0}\n')
    before = _tree(legacy)
    assert main(["finetune", str(legacy), "--out", str(legacy), "--steps", "1", *DATA]) == 2
    assert "did not write" in capsys.readouterr().err and _tree(legacy) == before


def test_finetune_refuses_the_users_files_and_reuses_its_own_output(source_run, tmp_path, capsys):
    user = tmp_path / "user"
    before = _fill(user, ["metrics.jsonl", "checkpoints/last.pt"])
    assert main(["finetune", str(source_run), "--out", str(user), "--steps", "1", *DATA]) == 2
    assert "did not write" in capsys.readouterr().err and _tree(user) == before
    out = tmp_path / "ft"
    for _ in range(2):   # a second fine-tune replaces the first one's output
        assert main(["finetune", str(source_run), "--out", str(out), "--steps", "1", "--batch-size", "1",
                     *DATA]) == 0
    assert folder_owner(out) == "finetune" and len((out / "metrics.jsonl").read_text().splitlines()) == 1


def test_resuming_a_finetuned_folder_says_what_it_is(tmp_path, capsys):
    out = tmp_path / "ft"
    net = build_from_scratch(SPEC, seed=0)
    save_checkpoint(out / "checkpoints" / "last.pt",
                    {"format": "sspd-checkpoint-1", "step": 1, "epoch": 0, "config": {}, "network": SPEC,
                     "online": net.state_dict(), "target": net.state_dict(), "finetune": {"source": None}})
    from sspd.cli.config import RunConfig
    from sspd.configuration import load_config, save_config

    save_config(load_config(RunConfig, EXPERIMENTS / "synthetic_demo.yaml", TINY), out / "config.yaml")
    assert main(["pretrain", "--resume", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "fine-tun" in err and "cannot be resumed" in err and "Traceback" not in err


# ------------------------------------------------------------------------------------ preprocess (case 2)
def test_preprocess_refuses_a_folder_holding_the_users_summary_and_config(tmp_path, capsys):
    out = tmp_path / "mine"
    before = _fill(out, ["summary.json", "preprocess.yaml"])
    assert main(["preprocess", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "summary.json" in err and "did not write" in err
    assert _tree(out) == before


def test_preprocess_written_files_are_0644_under_umask_022(tmp_path):
    from sspd.data.synthetic import generate_dataset

    old = os.umask(0o022)
    try:
        generate_dataset(tmp_path / "data", subjects=1, seconds=2.0, fps=15.0, size="96x72", seed=0)
        assert main(["preprocess", "--root", str(tmp_path / "data"), "--out", str(tmp_path / "cache"),
                     "--size", "24", "--workers", "1", "--no-progress"]) == 0
    finally:
        os.umask(old)
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777)
             for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".lock")}
    assert "cache/summary.json" in modes and "data/subject1/vid.avi" in modes
    assert set(modes.values()) == {"0o644"}, modes


# ------------------------------------------------------------------------------------ demo (case 3)
def test_demo_refuses_a_folder_holding_the_users_dataset(tmp_path, capsys):
    out = tmp_path / "mine"
    before = _fill(out, ["data/subject1/vid.avi", "data/subject1/ground_truth.txt", "baselines.json"])
    assert main(["demo", "--out", str(out), "--subjects", "1", "--seconds", "4", "--pretrain-steps", "0",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "data" in err and "did not write" in err
    assert _tree(out) == before


# ------------------------------------------------------------------------------------ resume (case 9)
def test_resuming_with_a_config_that_trains_differently_is_refused_naming_the_keys(source_run, tmp_path, capsys):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(source_run, run_dir)
    record = (run_dir / "config.yaml").read_bytes()
    other = tmp_path / "other.yaml"
    other.write_text((EXPERIMENTS / "synthetic_demo.yaml").read_text())
    code = main(["pretrain", str(other), "--resume", str(run_dir), "--no-progress",
                 *_sets([*TINY, "seed=1", "data.clips=8", "loop.max_steps=2"])])
    err = capsys.readouterr().err
    assert code == 2 and "seed: 0 -> 1" in err and "data.clips: 4 -> 8" in err
    assert (run_dir / "config.yaml").read_bytes() == record
    assert main(["pretrain", "--resume", str(run_dir), "--no-progress", "--set", "loop.max_steps=2",
                 "--set", "data.workers=0"]) == 0   # how it runs may change


# ------------------------------------------------------------------------------------ config files (12, 15)
@pytest.mark.parametrize("text, named", [("steps: many\n", "steps: expected int"),
                                         ("steps: 2\nsteps: 3\n", "duplicate key 'steps'"),
                                         ("", "empty file"), ("stpes: 2\n", "did you mean 'steps'")])
def test_a_bad_finetune_config_is_one_line_naming_the_file_and_key(source_run, tmp_path, capsys, text, named):
    config = tmp_path / "ft.yaml"
    config.write_text(text)
    assert main(["finetune", str(source_run), "--config", str(config), "--out", str(tmp_path / "ft"), *DATA]) == 2
    err = capsys.readouterr().err
    assert "ft.yaml" in err and named in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "ft").exists()


@pytest.mark.parametrize("command", ["preprocess", "synth"])
def test_preprocess_and_synth_configs_refuse_duplicate_keys(tmp_path, capsys, command):
    config = tmp_path / "c.yaml"
    config.write_text("noise_std: 1.0\nnoise_std: 2.0\n" if command == "synth" else "size: 72\nsize: 128\n")
    argv = ["synth", "--out", str(tmp_path / "o"), "--config", str(config)] if command == "synth" else \
        ["preprocess", "--out", str(tmp_path / "o"), "--config", str(config)]
    assert main(argv) == 2
    assert "duplicate key" in capsys.readouterr().err and not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------ existing files (case 15)
@pytest.mark.parametrize("below", ["", "sub"])
def test_a_run_dir_or_out_that_is_an_existing_file_is_one_line(source_run, tmp_path, capsys, below):
    afile = tmp_path / "afile"
    afile.write_bytes(b"mine")
    target = afile / below if below else afile
    commands = {"pretrain": _pretrain_args(target),
                "finetune": ["finetune", str(source_run), "--out", str(target), *DATA],
                "evaluate": ["evaluate", "--method", "pos", "--out", str(target), *DATA],
                "report": ["report", str(source_run), "--out", str(target)],
                "demo": ["demo", "--out", str(target), "--no-progress"],
                "preprocess": ["preprocess", "--out", str(target)]}
    for name, argv in commands.items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert f"sspd {name}: error:" in err and "afile is an existing file" in err, (name, err)
        assert len(err.strip().splitlines()) == 1, (name, err)
    assert afile.read_bytes() == b"mine"


def test_internal_names_are_not_in_the_messages(source_run, tmp_path, capsys):
    assert main(["report", str(source_run), "--snapshots", "0", "--out", str(tmp_path / "r")]) == 2
    assert "--snapshots must be at least 1" in capsys.readouterr().err
    assert main(["probe", str(source_run), "--train-videos", "0", "--out", str(tmp_path / "p")]) == 2
    assert "--train-videos must be at least 1" in capsys.readouterr().err


def test_evaluate_says_one_window_gives_no_spread_instead_of_nan(tmp_path, capsys):
    assert main(["evaluate", "--method", "pos", "--test-videos", "1", "--seconds", "10.5",
                 "--out", str(tmp_path / "e")]) == 0
    out = capsys.readouterr().out
    assert "from one window (one window gives no spread" in out and "nan" not in out


def test_a_config_rejected_at_network_build_leaves_no_run_folder(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(_pretrain_args(run_dir, "model.backbone_options={bogus: 1}")) == 2
    assert "bogus" in capsys.readouterr().err and not run_dir.exists()


def test_a_binary_metrics_log_is_named(source_run, tmp_path, capsys):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(source_run, run_dir)
    (run_dir / "metrics.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary")
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "metrics.jsonl is not a metrics log (not UTF-8 text" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["evaluate", pytest.param("demo", marks=pytest.mark.slow)])
def test_seconds_shorter_than_the_window_names_the_flags(tmp_path, capsys, command):
    argv = (["evaluate", "--method", "pos", "--test-videos", "1", "--seconds", "8", "--out", str(tmp_path / "e")]
            if command == "evaluate" else
            ["demo", "--out", str(tmp_path / "d"), "--subjects", "1", "--seconds", "8", "--methods", "pos",
             "--pretrain-steps", "0", "--no-progress"])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "use a shorter --window or longer videos (--seconds)" in err and "window_s" not in err


def test_resuming_after_the_network_changed_in_config_yaml_is_one_line(source_run, tmp_path, capsys):
    import shutil

    import yaml

    run_dir = tmp_path / "run"
    shutil.copytree(source_run, run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["model"]["width"] = 0.5
    (run_dir / "config.yaml").write_text("# resolved RunConfig\n" + yaml.safe_dump(config, sort_keys=False))
    assert main(["pretrain", "--resume", str(run_dir), "--no-progress", "--set", "loop.max_steps=2"]) == 2
    err = capsys.readouterr().err
    assert "does not match this checkpoint's weights" in err and len(err.strip().splitlines()) == 1
