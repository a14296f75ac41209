"""An objective declares what it needs (views, target, outputs) and brings its own typed options: one
defined here, in the test, registered through the public registry, trains through the real pretraining
path from a config dict, with no edit anywhere else."""
from __future__ import annotations

import dataclasses
import io
import json
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

import sspd
from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import config_to_dict, load_config
from sspd.engine import TrainStep, create_sspd_network, load_checkpoint
from sspd.objectives import (ObjectiveConfig, ObjectiveSpec, build_objective, get_objective, list_objectives,
                             register_objective, unregister_objective)

TINY = ["model.backbone=sspdnet", "model.width=0.125", "model.input_size=66", "data.box_size=70",
        "data.frames=24", "data.clips=4", "loop.batch_size=2", "loop.max_steps=2", "loop.checkpoint_every=2",
        "loop.channels_last=false", "loop.device=cpu", "collapse.enabled=false", "probe.every_n_steps=0"]


@dataclass(frozen=True)
class SpreadConfig:
    """The test objective's options: the weight of the unit-variance term and the variance it asks for."""

    weight: float = 1.0
    variance: float = 1.0

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ValueError(f"test_spread.weight must be > 0, got {self.weight}")


@dataclass(frozen=True)
class AgreeConfig:
    token_weight: float = 0.5


CALLS: list[dict] = []


def spread_objective(online, target, fs, batch, config: SpreadConfig):
    """(var(rppg) - variance)² per clip, weighted: pulls every clip's signal to the asked variance."""
    CALLS.append({"name": "test-spread", "config": config, "target": target, "hs": len(online.hs),
                  "fs": fs.clone(), "grad": online.rppg.requires_grad})
    spread = ((online.rppg.var(dim=-1) - config.variance) ** 2).mean()
    total = config.weight * spread
    return total, {"total": total.detach(), "spread": spread.detach()}


def agree_objective(online, target, fs, batch, config: AgreeConfig):
    """The online signal and first TS level pulled to the EMA target's on the other view."""
    CALLS.append({"name": "test-agree", "config": config, "target": target, "hs": len(online.hs),
                  "fs": fs.clone(), "grad": online.rppg.requires_grad})
    signal = (online.rppg - target.rppg).pow(2).mean()
    tokens = (online.hs[0] - target.hs[0]).pow(2).mean()
    total = signal + config.token_weight * tokens
    return total, {"total": total.detach(), "agree": signal.detach(), "tokens": tokens.detach()}


@pytest.fixture
def registered():
    """The two test objectives, registered for the test and removed after it."""
    specs = [ObjectiveSpec(name="test-spread", fn=spread_objective, config_type=SpreadConfig, views=1,
                           outputs=("rppg",), description="a test: unit-variance signals"),
             ObjectiveSpec(name="test-agree", fn=agree_objective, config_type=AgreeConfig, views=2, target="ema",
                           outputs=("rppg", "hs"), description="a test: agree with the EMA target")]
    for spec in specs:
        register_objective(spec)
    CALLS.clear()
    yield specs
    for spec in specs:
        unregister_objective(spec.name)


def _config(run_dir: Path, objective: dict, *overrides: str) -> RunConfig:
    return load_config(RunConfig, {"objective": objective}, [*TINY, f"run_dir={run_dir}", *overrides])


def test_a_test_objective_reads_its_own_typed_options_from_a_config_dict(registered):
    config = load_config(RunConfig, {"objective": {"name": "test-spread", "test_spread": {"weight": 2.0}}})
    assert config.objective.options == SpreadConfig(weight=2.0) and config.objective.test_spread.weight == 2.0
    assert config.objective.build().spec is registered[0]
    dumped = config_to_dict(config)["objective"]
    assert dumped == {"name": "test-spread", "test_spread": {"weight": 2.0, "variance": 1.0}}
    assert load_config(RunConfig, {"objective": dumped}).objective == config.objective   # config.yaml reads back
    with pytest.raises(ValueError, match=r"objective\.test_spread\.wieght: unknown key \(did you mean 'weight'\?\)"):
        load_config(RunConfig, {"objective": {"name": "test-spread", "test_spread": {"wieght": 2.0}}})
    with pytest.raises(ValueError, match=r"objective\.test_spread: SpreadConfig rejects.*weight must be > 0"):
        load_config(RunConfig, None, ["objective.name=test-spread", "objective.test_spread.weight=-1"])
    with pytest.raises(ValueError, match=r"objective\.test_spread\.weight: expected float, got 'heavy'"):
        load_config(RunConfig, None, ["objective.name=test-spread", "objective.test_spread.weight=heavy"])
    assert build_objective("test-spread", {"variance": 4.0}).config == SpreadConfig(variance=4.0)


def test_a_one_view_objective_without_target_trains_through_pretrain(tmp_path, registered):
    config = _config(tmp_path / "run", {"name": "test-spread", "test_spread": {"weight": 2.0, "variance": 0.5}})
    result = pretrain(config)
    assert (result.steps, result.stop_reason) == (2, "completed")
    calls = [c for c in CALLS if c["name"] == "test-spread"]
    assert len(calls) == 2
    assert all(c["config"] == SpreadConfig(weight=2.0, variance=0.5) for c in calls)
    assert all(c["target"] is None and c["hs"] == 0 and c["grad"] for c in calls)   # no target, no TS stack
    assert all(torch.equal(c["fs"], torch.full((2,), 30.0, dtype=torch.float64)) for c in calls)
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2]
    assert all(line["stepped"] == 1.0 and line["grad_norm"] > 0 and line["spread"] >= 0 for line in lines)
    assert lines[0]["total"] == pytest.approx(2.0 * lines[0]["spread"], rel=1e-6)
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert checkpoint["target"] is None and checkpoint["config"]["objective"]["test_spread"]["weight"] == 2.0
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["objective"] == {"name": "test-spread", "test_spread": {"weight": 2.0, "variance": 0.5}}


def test_a_two_view_objective_with_an_ema_target_trains_through_pretrain(tmp_path, registered):
    objective = {"name": "test-agree", "test_agree": {"token_weight": 0.25}}
    full = pretrain(_config(tmp_path / "full", objective))
    assert full.steps == 2
    calls = [c for c in CALLS if c["name"] == "test-agree"]
    assert all(c["config"] == AgreeConfig(token_weight=0.25) for c in calls)
    assert all(c["target"] is not None and c["hs"] >= 1 for c in calls)            # the target and the TS stack
    assert all(not c["target"].rppg.requires_grad and c["grad"] for c in calls)    # the target has no graph
    checkpoint = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    assert checkpoint["target"] is not None   # the EMA target the spec asked for
    moved = [k for k in checkpoint["online"] if not torch.equal(checkpoint["online"][k], checkpoint["target"][k])]
    assert moved   # the online network stepped; the target followed it only by the EMA


def test_the_spec_decides_views_target_and_ts_stack():
    def fn(online, target, fs, batch, config):
        raise AssertionError("not called")

    sspd_spec = get_objective("sspd")
    assert (sspd_spec.views, sspd_spec.target, "hs" in sspd_spec.outputs) == (2, "ema", True)
    assert (sspd_spec.needs_target, sspd_spec.uses_ts) == (True, True)   # the older spellings agree
    sinc = get_objective("sinc")
    assert (sinc.views, sinc.target, sinc.needs_target, sinc.uses_ts) == (1, None, False, False)
    older = ObjectiveSpec(name="x", fn=fn, config_type=AgreeConfig, needs_target=True, uses_ts=True)
    assert (older.views, older.target, older.outputs) == (2, "ema", ("rppg", "hs"))
    with pytest.raises(ValueError, match="two views need a target network"):
        ObjectiveSpec(name="x", fn=fn, config_type=AgreeConfig, views=2)
    with pytest.raises(ValueError, match="target must be one of"):
        ObjectiveSpec(name="x", fn=fn, config_type=AgreeConfig, target="momentum")
    with pytest.raises(ValueError, match="outputs must be among"):
        ObjectiveSpec(name="x", fn=fn, config_type=AgreeConfig, outputs=("logits",))


def test_one_view_with_a_target_gives_the_target_the_online_view(registered):
    spec = dataclasses.replace(registered[1], name="test-agree-one-view", views=1)
    register_objective(spec)
    try:
        torch.manual_seed(0)
        network = create_sspd_network("sspdnet", frames=24, width=0.125, input_size=66)
        trainer = TrainStep(network, torch.optim.Adam(network.parameters(), lr=1e-3),
                            objective=build_objective(spec.name), seed=0)
        assert trainer.target_network is not None
        online, target = trainer.make_views(torch.rand(2, 3, 25, 70, 70) * 255, 30.0)
        assert target is online and online.shape == (2, 3, 24, 66, 66)
        other = create_sspd_network("sspdnet", frames=24, width=0.125, input_size=66)
        two = TrainStep(other, torch.optim.Adam(other.parameters(), lr=1e-3), objective=build_objective("test-agree"),
                        seed=0)
        online2, target2 = two.make_views(torch.rand(2, 3, 25, 70, 70) * 255, 30.0)
        assert target2 is not None and not torch.equal(online2, target2)
    finally:
        unregister_objective(spec.name)


def test_the_objective_section_names_no_objective():
    assert [f.name for f in dataclasses.fields(ObjectiveConfig)] == ["name", "options"]
    assert "test-spread" not in list_objectives()   # the fixture removed what it registered


def test_contrast_phys_lives_only_in_the_objectives_package():
    """No code outside sspd/objectives/ names Contrast-Phys: no identifier, no import, no exact name string
    (prose in docstrings and help texts may mention it)."""
    root = Path(sspd.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.parent.name == "objectives" and path.parent.parent == root:
            continue
        text = path.read_text(encoding="utf-8")
        if "contrast" not in text.lower():
            continue
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NAME and "contrast" in token.string.lower():
                found.append((path.relative_to(root), token.string))
            if token.type == tokenize.STRING and token.string.strip("\"'") in ("contrast-phys", "contrast_phys"):
                found.append((path.relative_to(root), token.string))
    assert found == []
    assert "contrast-phys" in list_objectives()


def test_a_config_yaml_with_every_objectives_section_loads_and_resumes(tmp_path):
    """A run's config.yaml from before held a section for every objective: it still loads, to the named
    objective's options, and a resume with the same options is accepted (and a changed one refused)."""
    from sspd.cli.pretrain import check_resume_config
    from sspd.objectives import ContrastPhysConfig, SiNCConfig, SSPDObjectiveConfig, SupervisedConfig

    old = config_to_dict(RunConfig())
    old["objective"] = {"name": "sinc", "sspd": config_to_dict(SSPDObjectiveConfig()),
                        "sinc": {**config_to_dict(SiNCConfig()), "n_fft": 512},
                        "supervised": config_to_dict(SupervisedConfig()),
                        "contrast_phys": config_to_dict(ContrastPhysConfig())}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    loaded = load_config(RunConfig, tmp_path / "config.yaml")
    assert loaded.objective == ObjectiveConfig(name="sinc", options=SiNCConfig(n_fft=512))
    assert loaded.objective.contrast_phys == ContrastPhysConfig()
    check_resume_config(tmp_path, load_config(RunConfig, None, ["objective.name=sinc", "objective.sinc.n_fft=512"]))
    with pytest.raises(ValueError, match=r"objective\.sinc\.n_fft: 512 -> 1024"):
        check_resume_config(tmp_path, load_config(RunConfig, None, ["objective.name=sinc",
                                                                    "objective.sinc.n_fft=1024"]))
    with pytest.raises(ValueError, match=r"objective\.simclr: unknown key \(did you mean 'sinc'\?\); valid keys under objective: name, "
                                         r"contrast_phys, sinc, sspd, supervised"):
        load_config(RunConfig, {"objective": {"name": "sinc", "simclr": {}}})
