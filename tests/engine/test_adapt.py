"""Adaptation without labels: model.init, which layers adapt, BatchNorm statistics, the label-free check."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sspd.backbones import create_backbone
from sspd.cli import main
from sspd.cli.config import RunConfig
from sspd.cli.pretrain import pretrain
from sspd.configuration import load_config
from sspd.engine import build_optimizer, load_checkpoint, load_pretrained
from sspd.engine.adapt import AdaptConfig, HeldPriorsCheck, apply_adaptation, initial_network, norm_parameters
from sspd.engine.data import build_train_dataset
from sspd.models.network import ModelConfig
from sspd.engine.optimiser import OptimConfig, OptimiserStep, build_trainer
from sspd.models.toolbox import TOOLBOX_VIEW
from sspd.ema.pair import EMAConfig
from sspd.augment import ViewOptions
from sspd.objectives import build_objective
from sspd.objectives.sinc import SiNCConfig, sinc_terms
from sspd.augment.inference import prepare_view

TINY = ["model.backbone=physnet", "model.input_size=16", "data.box_size=20", "data.frames=48", "data.clips=8",
        "loop.batch_size=4", "loop.checkpoint_every=1", "collapse.enabled=false", "loop.channels_last=false",
        "logging.images_every_n_steps=100", "logging.histograms_every_n_steps=100", "probe.every_n_steps=0"]
SINC = ["objective.name=sinc", "views.difference=normalized", "views.luminance=keep"]

# the toolbox's key names of a PhysNet (the full renaming is tested in test_toolbox.py)
_TOOLBOX = [("encoder.0.0.", "ConvBlock1.")] + [(f"encoder.{n // 2}.{n % 2}.", f"ConvBlock{n}.")
                                                for n in range(2, 10)] + [
    ("decoder.0.", "upsample."), ("decoder.1.", "upsample2."), ("head.", "ConvBlock10.")]


def _config(run_dir: Path, *overrides: str) -> RunConfig:
    return load_config(RunConfig, None, [*TINY, f"run_dir={run_dir}", *overrides])


def _toolbox_file(path: Path, width: float = 0.25) -> Path:
    state = {}
    for key, value in create_backbone("physnet", frames=128, input_size=72, width=width).state_dict().items():
        prefix = next(p for p in _TOOLBOX if key.startswith(p[0]))
        state[prefix[1] + key[len(prefix[0]):]] = value
    torch.save(state, path)
    return path


def _online(run_dir: Path, name: str = "last.pt") -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / name)["online"]


@pytest.fixture(scope="module")
def start_run(tmp_path_factory):
    """A tiny PhysNet trained 2 SiNC steps on the synthetic source (its own head, a pulse signal)."""
    run_dir = tmp_path_factory.mktemp("start") / "run"
    result = pretrain(_config(run_dir, *SINC, "model.output=backbone", "loop.max_steps=2"))
    assert result.stop_reason == "completed"
    return run_dir


def test_model_init_loads_the_weights_before_the_first_step(start_run, tmp_path):
    start = _online(start_run)
    run_dir = tmp_path / "adapted"
    lr = 1e-5
    result = pretrain(_config(run_dir, *SINC, f"model.init={start_run}", "loop.max_steps=1", f"optim.lr={lr}",
                              "data.frames=32", "adapt.batchnorm=frozen"))
    assert result.steps == 1
    after = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert after["network"]["stack"]["output"] == "backbone"
    assert after["network"]["backbone_kwargs"]["frames"] == 32  # rebuilt for this run's clips
    assert (after["input"]["frames"], after["input"]["signal"]) == (32, "pulse")  # the adapted run's input spec
    moved = 0
    for key, value in start.items():
        step = (after["online"][key].double() - value.double()).abs().max()
        # one Adam step moves a parameter by at most about lr: the run started from these weights
        assert step <= lr * 1.01, key
        moved += bool(step > 0)
    assert moved > 0


def test_model_init_of_a_toolbox_checkpoint_needs_its_input_size_view_and_integrated_signal(tmp_path):
    path = _toolbox_file(tmp_path / "PURE_PhysNet_DiffNormalized.pth")
    with pytest.raises(ValueError, match="set model.input_size=72"):
        pretrain(_config(tmp_path / "a", *SINC, f"model.init={path}"))
    with pytest.raises(ValueError, match="set views.scale=std"):
        pretrain(_config(tmp_path / "b", *SINC, f"model.init={path}", "model.input_size=72", "data.box_size=72"))
    with pytest.raises(ValueError, match="set objective.sinc.signal=diff"):
        pretrain(_config(tmp_path / "c", *SINC, f"model.init={path}", "model.input_size=72", "data.box_size=72",
                         "views.scale=std"))
    network, spec = initial_network(ModelConfig(init=str(path), input_size=72), frames=32, view=TOOLBOX_VIEW)
    reference, _ = load_pretrained(path)
    for key, value in reference.backbone.state_dict().items():  # the file's weights (its TS stack is new)
        assert torch.equal(network.backbone.state_dict()[key], value), key
    assert spec["backbone_kwargs"]["frames"] == 32 and network.signal == "diff"


def _trainer(network, objective="sinc", **views):
    view_options = ViewOptions(difference="normalized", **views)
    return build_trainer(network, optim=OptimConfig(lr=1e-2), ema=EMAConfig(),
                         objective=build_objective(objective), views=view_options, seed=0)


def _batch(frames=32, size=20, seed=0):
    from sspd.engine.data import DataConfig

    dataset = build_train_dataset(DataConfig(frames=frames, box_size=size, clips=4), seed=seed)
    items = [dataset[i] for i in range(4)]
    return {"video": torch.stack([torch.as_tensor(it["video"]).float() for it in items]), "fps": 30.0}


@pytest.mark.parametrize("layers", ["norm", "head"])
def test_adapt_layers_freeze_what_they_say(layers):
    torch.manual_seed(0)
    network, _ = initial_network(ModelConfig(backbone="physnet", input_size=16, output="backbone"), frames=32,
                                 view=ViewOptions(difference="normalized").inference_view())
    counts = apply_adaptation(network, AdaptConfig(layers=layers))
    chosen = {id(p) for p in (norm_parameters(network) if layers == "norm" else network.output_parameters())}
    assert counts["trainable"] == sum(p.numel() for p in network.parameters() if id(p) in chosen)
    before = {name: p.detach().clone() for name, p in network.named_parameters()}
    trainer = _trainer(network)
    OptimiserStep(trainer, total_steps=2).step([_batch()], 0)
    for name, parameter in network.named_parameters():
        if id(parameter) in chosen and not name.startswith("ts_stack."):  # SiNC does not run the TS stack
            assert parameter.grad is not None and not torch.equal(parameter, before[name]), name
        else:
            assert parameter.grad is None and torch.equal(parameter, before[name]), name
    if layers == "head":
        assert {n for n, p in network.named_parameters() if id(p) in chosen} == {"backbone.head.weight",
                                                                                "backbone.head.bias"}


@pytest.mark.parametrize("batchnorm", ["train", "frozen"])
def test_batchnorm_statistics_behave_as_configured(batchnorm):
    torch.manual_seed(0)
    network, _ = initial_network(ModelConfig(backbone="physnet", input_size=16, output="backbone"), frames=32,
                                 view=ViewOptions(difference="normalized").inference_view())
    stats = {k: v.clone() for k, v in network.state_dict().items() if "running" in k or "num_batches" in k}
    trainer = _trainer(network)
    trainer.frozen_batchnorm = batchnorm == "frozen"
    OptimiserStep(trainer, total_steps=2).step([_batch()], 0)
    after = network.state_dict()
    changed = [k for k, v in stats.items() if not torch.equal(after[k], v)]
    if batchnorm == "frozen":
        assert changed == []
        assert all(not m.training for m in network.modules() if isinstance(m, torch.nn.BatchNorm3d))
    else:
        assert len(changed) == len(stats)  # every running mean, var and count was updated


def test_the_check_measures_sinc_priors_on_the_inference_signal(start_run):
    network, _ = load_pretrained(start_run)
    dataset = build_train_dataset(load_config(RunConfig, None, TINY).data, seed=0)
    from sspd.engine.facts import RunFacts
    from sspd.engine.observers import RunContext

    check = HeldPriorsCheck(AdaptConfig(check_every=1, check_clips=3),
                            RunContext(run_dir=start_run, facts=RunFacts(fps=30.0, frames=48, input_size=16, box_size=16),
                                       total_steps=4, seed=0, dataset=dataset))
    assert check.video.shape[0] == 3
    got = check.measure(network)
    with torch.no_grad():
        signal = network.predict(prepare_view(check.video, 16, network.view))
    terms = sinc_terms(signal, 30.0, SiNCConfig(variance_weight=0.0))
    assert got["adapt/held_priors"] == pytest.approx(float(terms["bandwidth"] + terms["sparsity"]), rel=1e-6)
    assert 0 < got["adapt/held_bandwidth"] < 1 and 0 <= got["adapt/held_sparsity"] < 1


def test_label_free_stop_keeps_the_best_check(start_run, tmp_path):
    run_dir = tmp_path / "stopped"
    # min_delta 10 is more than L_b + L_s can fall: no check after the first improves, patience 1 stops
    result = pretrain(_config(run_dir, *SINC, f"model.init={start_run}", "loop.max_steps=6", "adapt.check_every=1",
                              "adapt.patience=1", "adapt.min_delta=10", "adapt.keep=best", "adapt.check_clips=4"))
    assert (result.stop_reason, result.steps) == ("early-stop", 2)
    assert "has not improved for 1 checks (best" in result.message
    step1, final = _online(run_dir, "step_0000001.pt"), load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert final["step"] == 2
    for key, value in step1.items():
        assert torch.equal(final["online"][key], value), key
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "adapt/held_priors" in r] == [1, 2]
    assert json.loads((run_dir / "summary.json").read_text())["stop_reason"] == "early-stop"


def test_adapt_config_is_checked():
    with pytest.raises(ValueError, match="adapt.layers must be one of all, norm, head"):
        AdaptConfig(layers="bn")
    with pytest.raises(ValueError, match="adapt.patience needs adapt.check_every"):
        AdaptConfig(patience=3)
    with pytest.raises(ValueError, match="adapt.keep=best needs"):
        AdaptConfig(keep="best")


@pytest.mark.slow
def test_finetune_and_evaluate_from_a_toolbox_checkpoint(tmp_path, capsys):
    path = _toolbox_file(tmp_path / "UBFC_PhysNet_DiffNormalized.pth")
    out = tmp_path / "tuned"
    data = ["--train-videos", "2", "--test-videos", "1", "--seconds", "6", "--size", "72"]
    assert main(["finetune", str(path), "--steps", "2", "--batch-size", "2", "--out", str(out), *data]) == 0
    tuned = load_checkpoint(out / "checkpoints" / "last.pt")
    assert tuned["network"]["signal"] == "diff" and tuned["finetune"]["source"] == str(path)
    assert tuned["network"]["view"]["scale"] == "std"
    # its input spec: the toolbox's clip and view, the fine-tuning videos' crop side and rate, the target
    assert {k: tuned["input"][k] for k in ("frames", "box_size", "signal", "fps")} == \
        {"frames": 128, "box_size": 72, "signal": "diff", "fps": 30.0}
    assert tuned["input"]["view"]["scale"] == "std"
    before = torch.load(path)
    assert not torch.equal(tuned["online"]["backbone.head.weight"], before["ConvBlock10.weight"])
    capsys.readouterr()
    assert main(["evaluate", str(path), "--out", str(tmp_path / "ev"), "--window-s", "4", *data]) == 0
    assert "model: MAE" in capsys.readouterr().out
    report = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert report["source"]["target"] == "diff" and np.isfinite(report["results"]["model"]["metrics"]["mae"])


def test_layers_none_only_re_estimates_the_batchnorm_statistics():
    torch.manual_seed(0)
    network, _ = initial_network(ModelConfig(backbone="physnet", input_size=16, output="backbone"), frames=32,
                                 view=ViewOptions(difference="normalized").inference_view())
    assert apply_adaptation(network, AdaptConfig(layers="none"))["trainable"] == 0
    before = {k: v.clone() for k, v in network.state_dict().items()}
    scalars, _ = OptimiserStep(_trainer(network), total_steps=2).step([_batch()], 0)
    assert np.isfinite(scalars["total"]) and scalars["stepped"] == 1.0
    for key, value in network.state_dict().items():
        stat = "running" in key or "num_batches" in key
        assert torch.equal(value, before[key]) != stat, key   # statistics moved, nothing else did
    with pytest.raises(ValueError, match="changes nothing"):
        AdaptConfig(layers="none", batchnorm="frozen")
