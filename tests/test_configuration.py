from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import pytest
import yaml

from sspd.configuration import config_to_dict, load_config, parse_override, save_config


@dataclass
class Optim:
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: Literal["constant", "cosine", "onecycle"] = "constant"
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class Data:
    root: Optional[Path] = None
    window: int = 300
    subjects: list[int] = field(default_factory=list)


@dataclass
class Run:
    seed: int = 0
    name: str = "run"
    amp: bool = False
    optim: Optim = field(default_factory=lambda: Optim(lr=0.1))  # a non-default nested default
    data: Data = field(default_factory=Data)
    probe: Optional[Optim] = None
    sizes: tuple[int, ...] = (1, 2)
    options: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    clip: Union[float, str, None] = None


@dataclass
class Required:
    epochs: int
    lr: float = 0.1

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")


@dataclass
class Wrapper:
    inner: Required = field(default_factory=lambda: Required(epochs=1))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_and_a_yaml_file(tmp_path):
    assert load_config(Run) == Run()
    path = _write(tmp_path / "run.yaml", """
seed: 3
optim: {weight_decay: 0.05, schedule: cosine, betas: [0.8, 0.9]}
data: {root: /data/ubfc, subjects: [1, 3]}
sizes: [4, 5, 6]
options: {version: 2, filters: {setup: [1]}}
""")
    config = load_config(Run, path)
    assert config == Run(seed=3, optim=Optim(lr=0.1, weight_decay=0.05, schedule="cosine", betas=(0.8, 0.9)),
                         data=Data(root=Path("/data/ubfc"), subjects=[1, 3]), sizes=(4, 5, 6),
                         options={"version": 2, "filters": {"setup": [1]}})
    assert isinstance(config.data.root, Path) and isinstance(config.optim.betas, tuple)


def test_a_partial_section_keeps_the_fields_default_instance():
    assert load_config(Run, {"optim": {"weight_decay": 0.5}}).optim == Optim(lr=0.1, weight_decay=0.5)
    assert load_config(Run, None, ["optim.schedule=cosine"]).optim.lr == 0.1
    assert load_config(Run, None, ["probe.lr=0.2"]).probe == Optim(lr=0.2)  # from None: the class defaults


def test_overrides_are_yaml_scalars_applied_in_order():
    config = load_config(Run, {"seed": 1, "data": None}, [
        "optim.lr=1e-3", "amp=true", "sizes=[7, 8]", "name=baseline", "seed=2", "seed=5",
        "data.root=null", "data.window=150", "options.split.test=[1,2]", "weights.ssm=1", "clip=2.5"])
    assert config.optim.lr == 1e-3 and isinstance(config.optim.lr, float)  # PyYAML reads 1e-3 as a string
    assert (config.amp, config.sizes, config.name, config.seed) == (True, (7, 8), "baseline", 5)
    assert config.data == Data(window=150)
    assert config.options == {"split": {"test": [1, 2]}}
    assert config.weights == {"ssm": 1.0} and isinstance(config.weights["ssm"], float)
    assert config.clip == 2.5
    assert load_config(Run, None, ["clip=norm"]).clip == "norm"


def test_float_fields_read_exponent_strings_from_files(tmp_path):
    path = _write(tmp_path / "run.yaml", "optim:\n  lr: 1e-4\n  weight_decay: -2E+1\n")
    optim = load_config(Run, path).optim
    assert optim.lr == 1e-4 and optim.weight_decay == -20.0


@pytest.mark.parametrize("parts,value", [("a.b=1", 1), ("a=[1, x]", [1, "x"]), ("a=", None), ("a.b.c=off", False),
                                         ("x='a: b'", "a: b"), (" k = v ", "v")])
def test_parse_override(parts, value):
    keys, parsed = parse_override(parts)
    assert keys == parts.split("=")[0].strip().split(".") and parsed == value


def test_unknown_keys_name_the_dotted_key_and_the_valid_ones(tmp_path):
    path = _write(tmp_path / "bad.yaml", "optim:\n  lrr: 0.1\n")
    with pytest.raises(ValueError) as info:
        load_config(Run, path)
    message = str(info.value)
    assert message.startswith(f"{path}: optim.lrr: unknown key (did you mean 'lr'?)")
    assert "valid keys under optim: lr, weight_decay, schedule, betas" in message
    with pytest.raises(ValueError, match=r"--set epochs=3: epochs: unknown key; valid keys at the top level: "
                                         r"seed, name, amp, optim, data, probe, sizes, options, weights, clip"):
        load_config(Run, None, ["epochs=3"])
    with pytest.raises(ValueError, match=r"--set data.extra.x=1: data.extra: unknown key"):
        load_config(Run, None, ["data.extra.x=1"])


@pytest.mark.parametrize("override,match", [
    ("seed=1.5", r"--set seed=1.5: seed: expected int, got 1.5 \(float\)"),
    ("seed=true", r"seed: expected int, got True \(bool\)"),
    ("amp=1", r"amp: expected bool, got 1 \(int\)"),
    ("optim.lr=fast", r"optim.lr: expected float, got 'fast' \(str\)"),
    ("optim.schedule=step", r"optim.schedule: expected one of 'constant', 'cosine', 'onecycle', got 'step'"),
    ("optim.betas=[0.9]", r"optim.betas: expected 2 items \(tuple\[float, float\]\), got 1"),
    ("optim.betas=[0.9, x]", r"optim.betas\[1\]: expected float, got 'x'"),
    ("data.subjects=[1, two]", r"data.subjects\[1\]: expected int, got 'two'"),
    ("data.subjects=3", r"data.subjects: expected list\[int\], got 3"),
    ("optim=3", r"optim: expected a section of Optim keys, got 3"),
    ("name=12", r"name: expected str, got 12 \(int\)"),
    ("clip=[1]", r"clip: expected .*float.*str.*None.*, got \[1\]"),
    ("weights.ssm=x", r"weights.ssm: expected float, got 'x'"),
    ("seed.sub=1", r"--set seed.sub=1: seed: expected int"),
    ("noequals", r"expected KEY=VALUE"),
    ("a..b=1", r"expected KEY=VALUE with a dotted KEY"),
    ("x=[1,", r"the value is not valid YAML"),
])
def test_type_errors_name_key_expected_type_and_value(override, match):
    with pytest.raises(ValueError, match=match) as info:
        load_config(Run, None, [override])
    assert type(info.value) is ValueError


def test_override_through_a_value_is_an_error():
    with pytest.raises(ValueError, match=r"--set seed.x=1: seed is a value \(4\), not a section"):
        load_config(Run, {"seed": 4}, ["seed.x=1"])


def test_required_fields_and_post_init_errors():
    assert load_config(Required, {"epochs": 3}) == Required(epochs=3)
    with pytest.raises(ValueError, match="epochs: missing: Required has no default for it"):
        load_config(Required, {"lr": 0.2})
    with pytest.raises(ValueError, match=r"^Required values with --set epochs=0: Required rejects these values: "
                                         r"epochs must be >= 1, got 0$"):
        load_config(Required, {"epochs": 2}, ["epochs=0"])
    with pytest.raises(ValueError, match=r"^the defaults of Wrapper with --set inner.epochs=-1: inner: Required "
                                         r"rejects these values"):
        load_config(Wrapper, None, ["inner.epochs=-1"])


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.yaml does not exist"):
        load_config(Run, tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="broken.yaml: not valid YAML"):
        load_config(Run, _write(tmp_path / "broken.yaml", "seed: [1,\n"))
    with pytest.raises(ValueError, match="list.yaml: expected a mapping of Run keys at the top level, got a list"):
        load_config(Run, _write(tmp_path / "list.yaml", "- 1\n- 2\n"))
    with pytest.raises(ValueError, match="empty.yaml is empty"):   # an empty file is a mistake, not the defaults
        load_config(Run, _write(tmp_path / "empty.yaml", ""))
    assert load_config(Run, _write(tmp_path / "defaults.yaml", "{}\n")) == Run()
    with pytest.raises(TypeError, match="must be a dataclass type"):
        load_config(dict, {})


def test_save_and_load_round_trip(tmp_path):
    config = load_config(Run, None, ["optim.lr=3e-4", "data.root=/x/y", "probe.schedule=onecycle",
                                     "options.tags=[a, b]", "weights.ssw=0.5", "clip=norm", "sizes=[]"])
    path = save_config(config, tmp_path / "run" / "config.yaml")
    assert load_config(Run, path) == config
    text = path.read_text()
    assert text.startswith("# resolved Run")
    body = yaml.safe_load(text)
    assert list(body) == ["seed", "name", "amp", "optim", "data", "probe", "sizes", "options", "weights", "clip"]
    assert body["data"]["root"] == "/x/y" and body["optim"]["betas"] == [0.9, 0.999]
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]


def test_config_to_dict_gives_plain_values():
    plain = config_to_dict(Run(data=Data(root=Path("/a")), optim=Optim(lr=math.inf)))
    assert plain["data"] == {"root": "/a", "window": 300, "subjects": []}
    assert plain["optim"] == {"lr": math.inf, "weight_decay": 0.0, "schedule": "constant", "betas": [0.9, 0.999]}
    assert plain["probe"] is None and plain["sizes"] == [1, 2]
    with pytest.raises(ValueError, match="expected a dataclass instance, got type"):
        config_to_dict(Run)


# ------------------------------------------------------------------------- strict YAML (issue 20, 12 and 16)
def test_duplicate_keys_are_refused_naming_the_key_and_the_line(tmp_path):
    from sspd.configuration import read_yaml

    path = tmp_path / "run.yaml"
    path.write_text("seed: 0\nloop:\n  max_steps: 5\n  max_steps: 50\n")
    with pytest.raises(ValueError, match=r"run\.yaml: .*duplicate key 'max_steps'.*line 4"):
        read_yaml(path)
    path.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")   # a merge key overriding is fine
    assert read_yaml(path)["other"] == {"x": 1, "y": 3}


def test_an_empty_config_file_is_refused_not_run_as_the_defaults(tmp_path):
    from sspd.cli.config import RunConfig

    for text in ("", "# only a comment\n", "---\n"):
        path = tmp_path / "empty.yaml"
        path.write_text(text)
        with pytest.raises(ValueError, match=r"empty\.yaml is empty"):
            load_config(RunConfig, path)


@pytest.mark.parametrize("value", ["''", "' '"])
def test_an_empty_run_dir_is_refused(value):
    from sspd.cli.config import RunConfig

    with pytest.raises(ValueError, match="run_dir"):
        load_config(RunConfig, None, [f"run_dir={value}"])


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    import time

    from sspd.cli.config import RunConfig

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]   # 10^9 leaves
    path = tmp_path / "bomb.yaml"
    path.write_text("model:\n  backbone_options:\n" + "\n".join("    " + line for line in lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"bomb\.yaml: .*expands to more than"):
        load_config(RunConfig, path)
    assert time.perf_counter() - start < 5.0
