"""A run trained from a preprocessing cache uses the cache's frame rate everywhere, not ``data.fps``.

The loss has always read each clip's own ``fps``; the run's single rate (for the collapse monitor, the
online probe and the snapshots) came from ``dataset.fps``, which cache windows did not have, so a cache at
25 fps was watched as if it were 30 fps (the ``data.fps`` default). Now the run resolves its facts once
(:class:`sspd.engine.facts.RunFacts`) and hands them to every consumer."""
import numpy as np
import pytest

from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.data.preprocess import preprocess_dataset
from sspd.data.preprocess_config import PreprocessConfig
from sspd.data.readers import open_dataset
from sspd.data.video import write_video
from sspd.data.windows import RandomWindows
from sspd.engine.data import build_train_dataset
from sspd.engine.runfiles.run_dir import load_run

FPS, N, SIDE = 25.0, 60, 96


@pytest.fixture
def cache(tmp_path):
    root = tmp_path / "videos"
    for name, seed in (("a", 1), ("b", 2)):
        rng = np.random.default_rng(seed)
        write_video(root / f"{name}.avi", [rng.integers(40, 200, (SIDE, SIDE, 3), dtype=np.uint8)
                                           for _ in range(N)], FPS)
    out = tmp_path / "cache"
    config = PreprocessConfig(size=70, no_face="centre", detect_width=96, strategy="first", enlarge="sspd")
    summary = preprocess_dataset(open_dataset("videos", root), out, config, workers=1)
    assert summary.done == ["a", "b"]
    return out


def test_cache_windows_carry_the_cache_rate(cache):
    config = load_config(RunConfig, None, ["data.source=cache", f"data.cache_dir={cache}", "data.box_size=70",
                                           "data.frames=48"])
    assert config.data.fps == 30.0   # the default the run must not use
    dataset = build_train_dataset(config.data, seed=0)
    assert isinstance(dataset, RandomWindows) and dataset.fps == FPS
    assert {float(dataset[i]["fps"]) for i in range(len(dataset))} == {FPS}


@pytest.fixture
def fps_recording_sspd():
    """SSPD under another name, recording the frame rates its loss is given."""
    import dataclasses

    from sspd.objectives import get_objective, register_objective, unregister_objective

    seen = []
    sspd = get_objective("sspd")

    def recording(online, target, fs, batch, config):
        seen.append(fs.clone())
        return sspd.fn(online, target, fs, batch, config)

    register_objective(dataclasses.replace(sspd, name="test-fps-sspd", fn=recording))
    yield seen
    unregister_objective("test-fps-sspd")


def test_every_consumer_of_a_25_fps_cache_run_gets_25(cache, tmp_path, monkeypatch, fps_recording_sspd):
    """The run resolves its facts once (RunFacts, fps 25 from the cache, not data.fps 30) and the loss, the
    collapse monitor, the health check, the online probe and the snapshots all receive that rate."""
    import sspd.engine.loop as loop_module
    from sspd.diagnostics.watch import CollapseWatch, HealthWatch
    from sspd.engine import run_pretraining
    from sspd.engine.online_probe import LoopProbe
    from sspd.signal import DEFAULT_BAND

    probes, watches, healths = [], [], []

    class SpiedProbe(LoopProbe):   # the real probe, remembered
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            probes.append(self)

    monkeypatch.setattr(loop_module, "LoopProbe", SpiedProbe)
    config = load_config(RunConfig, None, [
        "data.source=cache", f"data.cache_dir={cache}", "data.box_size=70", "data.frames=48",
        "model.backbone=sspdnet", "model.width=0.125", "model.input_size=66", "loop.batch_size=2",
        "loop.max_steps=2", "loop.checkpoint_every=1", "loop.channels_last=false", "collapse.every_n_steps=1",
        "collapse.min_clips=2", "collapse.health_clips=2", "collapse.health_seconds=2.0", "probe.every_n_steps=1",
        "objective.name=test-fps-sspd", f"run_dir={tmp_path / 'run'}"])
    assert config.data.fps == 30.0

    def watch(context):
        watches.append(CollapseWatch(config.collapse, context))
        return watches[-1]

    def health(context):
        healths.append(HealthWatch(config.collapse, context))
        return healths[-1]

    result = run_pretraining(**{**config.sections(), "observers": [watch, health]})
    assert result.steps == 2
    facts = result.facts
    assert (facts.fps, facts.frames, facts.raw_frames, facts.band) == (FPS, 48, 49, DEFAULT_BAND)
    assert facts.objective_band == config.objective.options.band   # SSPD's own band: its loss's only
    # the loss: every clip's rate
    assert len(fps_recording_sspd) == 2 and all(bool((fs == FPS).all()) for fs in fps_recording_sspd)
    # the collapse monitor and the health check, through the observers' context
    (watched,), (checked,) = watches, healths
    assert watched.context.facts is facts and watched.monitor.fs == FPS and watched.monitor.band == DEFAULT_BAND
    assert checked.context.facts is facts
    assert checked._health_clips is not None and checked._health_clips.fps == FPS
    assert checked._health_clips.frames[0].shape[0] == round(2.0 * FPS) + 1   # 2 s at 25 fps, T + 1 frames
    # the online probe
    (probe,) = probes
    assert probe.online_probe.fs == FPS and probe.online_probe.band == DEFAULT_BAND
    # the snapshots
    record = load_run(tmp_path / "run")
    assert len(record.snapshots) == 2 and all(s.fps == FPS for s in record.snapshots)
    # the checkpoint's input spec holds the cache's rate and face-box enlargement, the run's crop side
    from sspd.engine import load_checkpoint, load_model

    spec = load_model(tmp_path / "run").input
    assert (spec.fps, spec.enlarge, spec.box_size, spec.frames) == (FPS, "sspd", 70, 48)
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["input"]["enlarge"] == "sspd"
