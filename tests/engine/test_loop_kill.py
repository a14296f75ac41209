"""Kill-and-resume for real: ``sspd pretrain`` killed with SIGKILL between checkpoints and resumed with
``--resume RUN_DIR`` ends with the uninterrupted run's losses and weights (bitwise on CPU), and a
checkpoint write frozen or killed at random points always leaves a loadable checkpoint."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sspd.cli import main
from sspd.engine import load_checkpoint

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL / SIGSTOP are POSIX")

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "experiments" / "synthetic_demo.yaml"
STEPS = 8
TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=8",
        "loop.batch_size=4", "loop.checkpoint_every=2", "collapse.every_n_steps=2", "collapse.min_clips=4",
        "logging.images_every_n_steps=2", "logging.histograms_every_n_steps=2", "loop.channels_last=false",
        "loop.device=cpu", "probe.every_n_steps=3", f"loop.max_steps={STEPS}", "loop.epochs=8"]
WAIT_S = 120.0


def _sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _steps_logged(run_dir: Path) -> list[int]:
    """The steps of metrics.jsonl's complete lines (a line torn by the kill is skipped)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    steps = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            steps.append(int(json.loads(line)["step"]))
        except (ValueError, KeyError):
            pass
    return steps


def _records(run_dir: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock field."""
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in lines]


def _kill_between_checkpoints(run_dir: Path, checkpoint_step: int) -> None:
    """Start ``python -m sspd pretrain`` and SIGKILL it once step ``checkpoint_step + 1`` is logged, i.e.
    after the checkpoint of ``checkpoint_step`` and mid-way to the next one."""
    args = [sys.executable, "-m", "sspd", "pretrain", str(DEMO), "--no-progress", *_sets([*TINY, f"run_dir={run_dir}"])]
    child = subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = run_dir / "checkpoints" / f"step_{checkpoint_step:07d}.pt"
    deadline = time.monotonic() + WAIT_S
    try:
        while not (checkpoint.is_file() and checkpoint_step + 1 in _steps_logged(run_dir)):
            if child.poll() is not None:
                pytest.fail(f"the run ended (rc {child.returncode}) before it could be killed: "
                            f"{child.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no checkpoint of step {checkpoint_step} after {WAIT_S:.0f} s")
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def test_sigkilled_pretrain_resumes_to_the_uninterrupted_run(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert main(["pretrain", str(DEMO), "--no-progress", *_sets([*TINY, f"run_dir={full}"])]) == 0

    _kill_between_checkpoints(killed, checkpoint_step=2)
    resume_step = load_checkpoint(killed / "checkpoints" / "last.pt")["step"]
    logged = _steps_logged(killed)
    assert resume_step % 2 == 0 and resume_step < STEPS
    assert max(logged) > resume_step, "the kill should land after a step the resumed run must redo"

    done = subprocess.run([sys.executable, "-m", "sspd", "pretrain", "--resume", str(killed), "--no-progress"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{STEPS}/{STEPS} steps" in done.stdout

    # one line per step, redone steps not duplicated, every scalar (losses, lr, momentum, probes,
    # collapse probes) equal to the uninterrupted run's: before and after the resume point
    expected, got = _records(full), _records(killed)
    assert [r["step"] for r in got] == list(range(1, STEPS + 1))
    assert got == expected
    assert any(name.startswith("probe/") for r in got[resume_step:] for name in r)  # the probe resumed too
    for snapshot in (killed / "snapshots").glob("*.npz"):  # none torn by the kill
        with np.load(snapshot) as arrays:
            assert arrays["pred"].shape == (4, 48), snapshot.name
    summary = json.loads((killed / "summary.json").read_text())
    assert (summary["steps"], summary["stop_reason"]) == (STEPS, "completed")

    ck_full = load_checkpoint(full / "checkpoints" / "last.pt")
    ck_killed = load_checkpoint(killed / "checkpoints" / "last.pt")
    assert ck_full["step"] == ck_killed["step"] == STEPS
    for which in ("online", "target"):
        assert ck_full[which].keys() == ck_killed[which].keys()
        for key, value in ck_full[which].items():
            assert torch.equal(value, ck_killed[which][key]), (which, key)
    moments_full = ck_full["train_step"]["optimizer"]["state"]
    moments_killed = ck_killed["train_step"]["optimizer"]["state"]
    for index, state in moments_full.items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(moments_killed[index][name])), (index, name)


_WRITER = """
import sys, torch
from sspd.engine.runfiles.checkpoint import CheckpointManager
manager = CheckpointManager(sys.argv[1], every_n_steps=1, keep_last=1)
step = 0
while True:
    step += 1
    manager.save(step, {"step": step, "w": torch.full((int(sys.argv[2]),), float(step))})
"""


def _check_loadable(directory: Path) -> bool:
    """last.pt loads and is self-consistent; returns whether a temporary (a write in flight) was seen."""
    in_flight = any(p.name.endswith(".tmp") for p in directory.iterdir())
    state = load_checkpoint(directory / "last.pt")
    assert torch.equal(state["w"], torch.full_like(state["w"], float(state["step"]))), state["step"]
    return in_flight


def test_a_checkpoint_write_stopped_at_random_points_leaves_a_loadable_checkpoint(tmp_path):
    directory = tmp_path / "checkpoints"
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(directory), str(2_000_000)], cwd=ROOT,
                             env=_env(), stderr=subprocess.PIPE)
    rng, in_flight = random.Random(0), []
    try:
        deadline = time.monotonic() + WAIT_S
        while not (directory / "last.pt").is_file():
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the writer wrote no checkpoint"
            time.sleep(0.01)
        for _ in range(16):  # frozen mid-whatever: what the files hold is what a kill there would leave
            time.sleep(rng.uniform(0.0, 0.1))
            child.send_signal(signal.SIGSTOP)
            in_flight.append(_check_loadable(directory))
            child.send_signal(signal.SIGCONT)
        time.sleep(rng.uniform(0.0, 0.2))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    in_flight.append(_check_loadable(directory))
    assert any(in_flight), "no sample caught a write in flight: the test did not exercise the atomic rename"


@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_exits_130(tmp_path):
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "sspd", "pretrain", str(DEMO), "--no-progress",
            *_sets([*TINY, "loop.max_steps=1000", "loop.checkpoint_every=500", f"run_dir={run_dir}"])]
    child = subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + WAIT_S
    try:
        while 2 not in _steps_logged(run_dir):
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()[-2000:]
            time.sleep(0.01)
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=WAIT_S)
    finally:
        child.kill()
    assert child.returncode == 130, out.decode()[-2000:]
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["step"] >= 2 and b"interrupted by the user" in out
