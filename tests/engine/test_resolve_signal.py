"""model.signal auto: the network's signal is what its objective makes the prediction follow."""
import dataclasses

import pytest
import torch

from sspd.augment.inference import InferenceView
from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.engine import load_pretrained
from sspd.engine.adapt import resolve_signal
from sspd.models import ModelConfig, network_spec
from sspd.objectives import ObjectiveSpec, register_objective, unregister_objective

TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=2",
        "loop.batch_size=2", "loop.max_steps=1", "collapse.enabled=false", "loop.channels_last=false",
        "probe.every_n_steps=0"]


def _signal(overrides):
    return load_config(RunConfig, None, overrides).network_spec().get("signal", "pulse")


def test_auto_follows_the_objective_and_an_explicit_signal_wins():
    assert RunConfig().model.signal == "auto"
    assert _signal([]) == "diff"                                     # SSPD on frame differences
    assert _signal(["objective.name=sinc"]) == "pulse"
    assert _signal(["objective.name=sinc", "objective.sinc.signal=diff"]) == "diff"
    assert _signal(["objective.name=supervised", "objective.supervised.target=diff"]) == "diff"
    assert _signal(["objective.name=contrast-phys"]) == "pulse"
    assert _signal(["model.signal=pulse"]) == "pulse"                 # the user's choice is kept
    with pytest.raises(ValueError, match="model.signal 'auto' depends on the objective"):
        network_spec(ModelConfig(signal="auto"), frames=16, view=InferenceView())
    plain = ModelConfig(signal="pulse")
    assert resolve_signal(plain, RunConfig().objective) is plain


def test_an_objective_declares_its_signal_and_a_bad_one_is_refused():
    @dataclasses.dataclass
    class Options:
        reads: str = "diff"

    def loss(online, target, batch, config):
        return {"total": online.rppg.square().mean()}

    spec = register_objective(ObjectiveSpec(name="test-reads", fn=loss, config_type=Options, views=1,
                                            output_signal=lambda options: options.reads))
    try:
        assert spec.signal(Options()) == "diff" and spec.signal(Options("pulse")) == "pulse"
        with pytest.raises(ValueError, match="output_signal must give 'pulse' or 'diff', got 'wave'"):
            spec.signal(Options("wave"))
    finally:
        unregister_objective("test-reads")


def test_a_default_run_writes_a_diff_network_and_its_input_spec(tmp_path):
    torch.manual_seed(0)
    config = load_config(RunConfig, None, [*TINY, f"run_dir={tmp_path / 'run'}"])
    assert pretrain(config).stop_reason == "completed"
    network, checkpoint = load_pretrained(tmp_path / "run")
    assert network.signal == "diff" and checkpoint["input"]["signal"] == "diff"
    assert "signal: auto" in (tmp_path / "run" / "config.yaml").read_text()   # the config says what was asked
