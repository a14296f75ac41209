"""The training data a run config selects: a cache_dir that a synthetic run would ignore is said aloud."""
from sspd.cli.config import RunConfig
from sspd.configuration import load_config
from sspd.engine.data import build_train_dataset


def test_cache_dir_with_synthetic_source_is_warned_about(tmp_path, caplog):
    config = load_config(RunConfig, None, [f"data.cache_dir={tmp_path}", "data.clips=2", "data.frames=8",
                                           "data.box_size=16", "model.input_size=16"])
    dataset = build_train_dataset(config.data, seed=0)
    assert len(dataset) == 2  # rendered clips, as the source says
    assert f"data.cache_dir={tmp_path} is ignored: data.source is synthetic" in caplog.text
    caplog.clear()
    plain = load_config(RunConfig, None, ["data.clips=2", "data.frames=8", "data.box_size=16", "model.input_size=16"])
    build_train_dataset(plain.data, seed=0)
    assert "is ignored" not in caplog.text
