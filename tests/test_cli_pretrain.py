"""``sspd pretrain`` end to end through the CLI: a run, a resume, config errors that name the key, and the
shipped experiment configs (the synthetic demo's equals RunConfig's defaults)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sspd.cli import main
from sspd.cli.config import RunConfig
from sspd.configuration import load_config

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=4",
        "loop.batch_size=4", "collapse.enabled=false", "loop.channels_last=false", "loop.checkpoint_every=1"]


def _sets(items):
    return [arg for item in items for arg in ("--set", item)]


def test_pretrain_then_resume_through_the_cli(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["pretrain", str(EXPERIMENTS / "synthetic_demo.yaml"), "--no-progress",
            *_sets([*TINY, "loop.max_steps=2", f"run_dir={run_dir}"])]
    assert main([*args, "--set", "loop.stop_after=1"]) == 0
    assert "1/2 steps" in capsys.readouterr().out
    assert main(["pretrain", "--resume", str(run_dir), "--no-progress", "--set", "loop.stop_after=null"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["steps"], summary["stop_reason"]) == (2, "completed")
    assert [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_unknown_key_is_an_error_naming_the_key_and_the_valid_ones(tmp_path, capsys):
    code = main(["pretrain", str(EXPERIMENTS / "synthetic_demo.yaml"), "--set", "loop.bach_size=4"])
    err = capsys.readouterr().err
    assert code == 2 and "loop.bach_size" in err and "batch_size" in err and "valid keys" in err


def test_pretrain_needs_a_config_or_a_run_to_resume(capsys):
    assert main(["pretrain"]) == 2
    assert "--resume RUN_DIR" in capsys.readouterr().err


def test_synthetic_demo_yaml_spells_out_the_defaults():
    assert load_config(RunConfig, EXPERIMENTS / "synthetic_demo.yaml") == RunConfig()


def test_the_cpu_recipe_is_the_default_sspd_recipe_with_its_own_run_dir():
    cpu = load_config(RunConfig, EXPERIMENTS / "synthetic_cpu.yaml")
    assert cpu.run_dir == "runs/synthetic_cpu" and cpu.objective.name == "sspd"
    assert (cpu.views.difference, cpu.views.luminance) == ("normalized", "remove")
    assert load_config(RunConfig, EXPERIMENTS / "synthetic_cpu.yaml", ["run_dir=runs/pretrain"]) == RunConfig()


@pytest.mark.parametrize("name", ["ubfc_sspdnet_paper", "ubfc_physnet_sspd", "pure_physformer_sspd"])
def test_experiment_configs_load(name):
    config = load_config(RunConfig, EXPERIMENTS / f"{name}.yaml")
    assert config.data.source == "cache" and config.optim.lr == 1e-3
    text = (EXPERIMENTS / f"{name}.yaml").read_text()
    assert text.startswith("#") and "eproduces" in text.splitlines()[0] + text  # says what it reproduces


def test_resume_past_a_truncated_last_pt_and_from_a_chosen_step_file(tmp_path, capsys, caplog):
    run_dir = tmp_path / "run"
    args = ["pretrain", str(EXPERIMENTS / "synthetic_demo.yaml"), "--no-progress",
            *_sets([*TINY, "loop.max_steps=3", f"run_dir={run_dir}"])]
    assert main([*args, "--set", "loop.stop_after=2"]) == 0
    last = run_dir / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # a full disk cut it short
    caplog.set_level("INFO")
    assert main(["pretrain", "--resume", str(run_dir), "--no-progress", "--set", "loop.stop_after=null"]) == 0
    assert "last.pt cannot be read" in caplog.text and "step_0000002.pt instead" in caplog.text
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 3
    caplog.clear()
    step_file = run_dir / "checkpoints" / "step_0000002.pt"  # older than last.pt (step 3) now
    assert main(["pretrain", "--resume", str(step_file), "--no-progress"]) == 0
    assert f"resumed from {step_file} at step 2" in caplog.text
    assert [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_resume_errors_name_what_is_missing(tmp_path, capsys):
    assert main(["pretrain", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert main(["pretrain", "--resume", str(tmp_path)]) == 2
    assert "has no config.yaml, so it is not a run directory" in capsys.readouterr().err
    (tmp_path / "loose.pt").write_bytes(b"")
    assert main(["pretrain", "--resume", str(tmp_path / "loose.pt")]) == 2
    assert "must be one of RUN_DIR/checkpoints/" in capsys.readouterr().err
