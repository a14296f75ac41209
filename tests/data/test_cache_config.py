import pytest

from sspd.data.preprocess_config import PreprocessConfig


def test_yaml_config_loads_and_nests(tmp_path):
    path = tmp_path / "pre.yaml"
    path.write_text("preprocess:\n  dataset: pure\n  root: /data/PURE\n  size: 72\n  options: {setups: [1, 2]}\n")
    config = PreprocessConfig.from_yaml(path)
    assert (config.dataset, config.root, config.size, config.options) == ("pure", "/data/PURE", 72, {"setups": [1, 2]})
    assert config.strategy == PreprocessConfig().strategy  # unspecified keys keep their defaults
    flat = tmp_path / "flat.yaml"
    flat.write_text("size: 72\n")
    assert PreprocessConfig.from_yaml(flat).size == 72


def test_config_hash_follows_only_what_changes_the_arrays():
    base = PreprocessConfig()
    for change in ({"size": 128}, {"strategy": "median"}, {"every_n": 5}, {"enlarge": "sspd"}, {"pad": "zero"},
                   {"no_face": "centre"}, {"missing_frames": "error"}):
        assert base.replace(**change).config_hash() != base.config_hash(), change
    for change in ({"workers": 3}, {"out": "x"}, {"root": "y"}, {"dataset": "pure"}, {"options": {"a": 1}}):
        assert base.replace(**change).config_hash() == base.config_hash(), change


def test_config_errors_name_the_key_and_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"pre.yaml: unknown preprocess key\(s\) 'every'; valid keys: dataset"):
        bad = tmp_path / "pre.yaml"
        bad.write_text("every: 3\n")
        PreprocessConfig.from_yaml(bad)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        PreprocessConfig.from_yaml(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("size: [1,\n")
    with pytest.raises(ValueError, match="broken.yaml: not valid YAML"):
        PreprocessConfig.from_yaml(broken)
    with pytest.raises(ValueError, match="size must be an integer >= 8, got 'big'"):
        PreprocessConfig(size="big")
    with pytest.raises(ValueError, match="unknown strategy 'all'; valid: first, every, median"):
        PreprocessConfig(strategy="all")
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        PreprocessConfig(workers=0)
    with pytest.raises(ValueError, match=r"max_missing_fraction must be in \[0, 1\)"):
        PreprocessConfig(max_missing_fraction=1.5)
    with pytest.raises(ValueError, match="conf: expected a mapping"):
        PreprocessConfig.from_dict([1, 2], source="conf")
