"""Fine-tuning: parameter groups and the backbone multiplier, what trains and what does not, the window
sampler, the from-scratch baseline, and the saved run directory."""
import numpy as np
import pytest
import torch

from sspd.engine import set_lr
from sspd.eval.finetune import (FinetuneConfig, build_from_scratch, finetune, finetune_parameter_groups,
                                sample_windows, save_finetuned)
from sspd.eval.model_eval import EvalVideo, load_network, synthetic_videos

SPEC = {"backbone": "physnet", "backbone_kwargs": {"frames": 32, "input_size": 32, "width": 0.25}, "stack": {}}


@pytest.fixture(scope="module")
def videos():
    return synthetic_videos(2, seconds=3.0, size=32, seed=21)


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items() if v.is_floating_point()}


def _changed(before, module):
    after = module.state_dict()
    return {k for k, v in before.items() if not torch.equal(v, after[k])}


def test_parameter_groups_scale_the_backbone_rate():
    net = build_from_scratch(SPEC, seed=0)
    optimizer = torch.optim.Adam(finetune_parameter_groups(net, 0.1), lr=1.0)
    assert set_lr(optimizer, 2e-3) == pytest.approx([2e-4, 2e-3])
    grouped = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert grouped == {id(p) for p in [*net.backbone.parameters(), *net.predictor.parameters()]}
    assert not grouped & {id(p) for p in net.ts_stack.parameters()}


def test_finetune_trains_backbone_and_predictor_not_the_ts_stack(videos):
    net = build_from_scratch(SPEC, seed=0)
    backbone, predictor, stack = _snapshot(net.backbone), _snapshot(net.predictor), _snapshot(net.ts_stack)
    result = finetune(net, videos, config=FinetuneConfig(steps=2, batch_size=2, window=32, seed=1))
    assert _changed(backbone, net.backbone) and _changed(predictor, net.predictor)
    assert not _changed(stack, net.ts_stack) and not net.training
    assert [r["step"] for r in result.history] == [0.0, 1.0]
    assert result.history[0]["lr_backbone"] == pytest.approx(0.1 * result.history[0]["lr"])


def test_zero_backbone_multiplier_freezes_the_backbone_weights(videos):
    net = build_from_scratch(SPEC, seed=0)
    weights = {k: v for k, v in _snapshot(net.backbone).items() if "running" not in k and "num_batches" not in k}
    finetune(net, videos, config=FinetuneConfig(steps=2, batch_size=2, window=32, backbone_lr_scale=0.0))
    assert not _changed(weights, net.backbone)  # BatchNorm running statistics may move; weights may not


def test_from_scratch_is_seeded_and_differs_from_another_seed():
    a, b, c = (build_from_scratch(SPEC, seed=s) for s in (3, 3, 4))
    x = torch.randn(1, 3, 32, 32, 32)
    torch.testing.assert_close(a.eval().predict(x), b.eval().predict(x))
    assert not torch.allclose(a.predict(x), c.eval().predict(x))


def test_sample_windows_keep_frames_and_labels_aligned():
    n = 50
    frames = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, 4, 3)).copy()
    video = EvalVideo("v", "v", 30.0, frames, np.arange(n, dtype=np.float64) * 10)
    clip, label = sample_windows([video], 9, 5, np.random.default_rng(0))
    assert clip.shape == (5, 3, 9, 4, 4) and label.shape == (5, 9)
    starts = clip[:, 0, 0, 0, 0].long()
    torch.testing.assert_close(label, (starts[:, None] + torch.arange(9)).float() * 10)
    with pytest.raises(ValueError, match="no training video has 60 frames"):
        sample_windows([video], 60, 1, np.random.default_rng(0))


def test_saved_run_directory_loads_back(videos, tmp_path):
    config = FinetuneConfig(steps=1, batch_size=1, window=32)
    result = finetune(build_from_scratch(SPEC, seed=0), videos, config=config)
    save_finetuned(result, tmp_path / "ft", spec=SPEC, config=config, source=None)
    loaded, checkpoint = load_network(tmp_path / "ft")
    x = torch.randn(1, 3, 32, 32, 32)
    torch.testing.assert_close(loaded.predict(x), result.network.predict(x))
    assert checkpoint["finetune"]["from_scratch"] and checkpoint["finetune"]["target"] == "diff"


@pytest.mark.parametrize("kwargs", [{"steps": 0}, {"lr": 0.0}, {"backbone_lr_scale": -1.0}, {"target": "x"},
                                    {"window": 1}])
def test_finetune_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match="FinetuneConfig"):
        FinetuneConfig(**kwargs)
