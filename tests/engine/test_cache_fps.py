"""A run trained from a preprocessing cache uses the cache's frame rate everywhere, not ``data.fps``.

The loss has always read each clip's own ``fps``; the run's single rate (for the collapse monitor, the
online probe and the snapshots) came from ``dataset.fps``, which cache windows did not have, so a cache at
25 fps was watched as if it were 30 fps (the ``data.fps`` default)."""
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


def test_a_run_on_a_25_fps_cache_snapshots_at_25_fps(cache, tmp_path):
    config = load_config(RunConfig, None, [
        "data.source=cache", f"data.cache_dir={cache}", "data.box_size=70", "data.frames=48",
        "model.backbone=sspdnet", "model.width=0.125", "model.input_size=66", "loop.batch_size=2",
        "loop.max_steps=1", "loop.checkpoint_every=1", "loop.channels_last=false", "collapse.enabled=false",
        "probe.every_n_steps=0", f"run_dir={tmp_path / 'run'}"])
    pretrain(config)
    record = load_run(tmp_path / "run")
    assert record.snapshots and all(s.fps == FPS for s in record.snapshots)
    # the checkpoint's input spec holds the cache's rate and face-box enlargement, the run's crop side
    from sspd.engine import load_checkpoint, load_model

    spec = load_model(tmp_path / "run").input
    assert (spec.fps, spec.enlarge, spec.box_size, spec.frames) == (FPS, "sspd", 70, 48)
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["input"]["enlarge"] == "sspd"

