"""TrainStep and its OptimiserStep end to end on tiny SSPD-Net, PhysNet and PhysFormer: parameters move, the
target follows the EMA formula exactly and gets no gradient, gradients are routed as docs/method.md §4 says,
resume is exact, and bad batches raise (or, in the optimiser step, are skipped)."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from sspd.engine import (OptimiserStep, SSPDLossWeights, SSPDObjectiveConfig, TrainStep, check_batch,
                         create_sspd_network)

FRAMES = 32  # TS levels of 24, 18, 14 tokens: every level has a bin in 0.5-3 Hz at 30 fps

# name → (backbone options, face-box side)
TINY = {
    "sspdnet": ({"width": 0.125, "input_size": 66}, 68),
    "physnet": ({"width": 0.25, "input_size": 16}, 20),
    "physformer": ({"width": 0.25, "input_size": 32, "depth": 1}, 36),
}



def _batch(box: int, seed: int = 0, batch: int = 2) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {"video": 255 * torch.rand(batch, 3, FRAMES + 1, box, box, generator=gen), "fps": 30.0,
            "label": torch.zeros(batch, FRAMES + 1)}


def _trainer(name: str, seed: int = 0, **options) -> TrainStep:
    torch.manual_seed(seed)
    kwargs, _ = TINY[name]
    network = create_sspd_network(name, frames=FRAMES, **kwargs)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    return TrainStep(network, optimizer, seed=seed, **options)


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


@pytest.mark.parametrize("name", sorted(TINY))
def test_two_steps_move_online_and_target_follows_ema_exactly(name):
    trainer = _trainer(name)
    box = TINY[name][1]
    online_start = _params(trainer.online_network)
    stepper = OptimiserStep(trainer, total_steps=4)
    stepper.step([_batch(box, 0)], 0)
    target_before = _params(trainer.target_network)
    scalars, seen = stepper.step([_batch(box, 1)], 1)

    m = 1 - 0.05 * (1 + torch.cos(torch.tensor(torch.pi / 4, dtype=torch.float64))).item()
    assert float(scalars["momentum"]) == pytest.approx(m, abs=1e-12)
    online_now = _params(trainer.online_network)
    # the backbone's own supervised head (PhysNet, PhysFormer) takes no part in SSPD
    trained = [n for n in online_now if not n.startswith("backbone.head.")]
    unchanged = [n for n in trained if torch.equal(online_now[n], online_start[n])]
    assert not unchanged, f"unchanged online parameters: {unchanged}"
    assert all(torch.equal(online_now[n], online_start[n]) for n in set(online_now) - set(trained))
    for n, target in _params(trainer.target_network).items():
        expected = target_before[n] * m + online_now[n] * (1 - m)
        torch.testing.assert_close(target, expected, rtol=1e-6, atol=1e-7, msg=n)
    for p in trainer.target_network.parameters():
        assert p.grad is None and not p.requires_grad
    assert all(math.isfinite(v) for v in scalars.values())
    assert scalars["stepped"] == 1.0 and scalars["lr"] == pytest.approx(1e-3)
    assert {"total", "rpd", "pyr/l0", "pyr/l2", "sd/l1", "snr/l2"} <= scalars.keys()
    assert seen.online.rppg.shape == (2, FRAMES) and seen.target is not None  # what the step's forward saw


def _gradients(trainer: TrainStep, batch: dict, weights: SSPDLossWeights) -> dict[str, torch.Tensor | None]:
    trainer.objective = SSPDObjectiveConfig(weights=weights)
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.forward(batch)[0].backward()
    return {n: (None if p.grad is None else p.grad.clone()) for n, p in trainer.online_network.named_parameters()}


def _is_zero(grad: torch.Tensor | None) -> bool:
    return grad is None or not bool(grad.any())


@pytest.mark.parametrize("name", sorted(TINY))
def test_gradient_routing_by_zeroing_terms(name):
    trainer = _trainer(name)
    batch = _batch(TINY[name][1])
    state = trainer.generator.get_state()
    only_rpd = _gradients(trainer, batch, SSPDLossWeights(rpd=1.0, pyr=0.0, sd=0.0, snr=0.0))
    for n, grad in only_rpd.items():
        if n.startswith("predictor."):
            continue
        assert _is_zero(grad), f"{n} got a gradient from L_rpd alone"
    assert any(not _is_zero(g) for n, g in only_rpd.items() if n.startswith("predictor."))
    for weights in (SSPDLossWeights(rpd=0.0), SSPDLossWeights(rpd=0.0, pyr=1.0, sd=0.0, snr=0.0),
                    SSPDLossWeights(rpd=0.0, pyr=0.0, sd=1.0, snr=0.0),
                    SSPDLossWeights(rpd=0.0, pyr=0.0, sd=0.0, snr=1.0)):
        trainer.generator.set_state(state)
        grads = _gradients(trainer, batch, weights)
        assert all(_is_zero(g) for n, g in grads.items() if n.startswith("predictor.")), weights
        first_backbone = "backbone." + next(iter(dict(trainer.online_network.backbone.named_parameters())))
        assert not _is_zero(grads[first_backbone]), weights
        assert any(not _is_zero(g) for n, g in grads.items() if n.startswith("ts_stack.")), weights
    assert all(p.grad is None for p in trainer.target_network.parameters())


def test_full_objective_gradients_split_into_predictor_and_ssm_parts():
    # The backbone's gradient under all terms equals its gradient with L_rpd removed, and the
    # predictor's equals its gradient under L_rpd alone: nothing crosses the detach.
    trainer = _trainer("physnet")
    batch = _batch(TINY["physnet"][1])
    state = trainer.generator.get_state()
    full = _gradients(trainer, batch, SSPDLossWeights())
    trainer.generator.set_state(state)
    ssm_only = _gradients(trainer, batch, SSPDLossWeights(rpd=0.0))
    trainer.generator.set_state(state)
    rpd_only = _gradients(trainer, batch, SSPDLossWeights(rpd=0.5, pyr=0.0, sd=0.0, snr=0.0))
    for n, grad in full.items():
        reference = rpd_only[n] if n.startswith("predictor.") else ssm_only[n]
        torch.testing.assert_close(grad, reference, rtol=1e-5, atol=1e-7, msg=n)


def test_resume_from_state_dict_is_exact():
    box = TINY["physnet"][1]
    first = _trainer("physnet", seed=3)
    stepper = OptimiserStep(first, total_steps=3)
    stepper.step([_batch(box, 0)], 0)
    state, stepper_state = copy.deepcopy(first.state_dict()), copy.deepcopy(stepper.state_dict())
    expected, _ = stepper.step([_batch(box, 1)], 1)

    resumed = _trainer("physnet", seed=11)  # other weights and view seed, then overwritten
    resumed.load_state_dict(state)
    resumed_stepper = OptimiserStep(resumed, total_steps=3)
    resumed_stepper.load_state_dict(stepper_state)
    got, _ = resumed_stepper.step([_batch(box, 1)], 1)
    assert got == expected
    with pytest.raises(ValueError, match="lacks"):
        resumed.load_state_dict({"pair": state["pair"]})


def test_view_generator_is_seeded_and_views_differ_between_networks():
    a, b = _trainer("physnet", seed=5), _trainer("physnet", seed=5)
    video = _batch(TINY["physnet"][1])["video"]
    online_a, target_a = a.make_views(video)
    online_b, target_b = b.make_views(video)
    assert torch.equal(online_a, online_b) and torch.equal(target_a, target_b)
    assert online_a.shape == (2, 3, FRAMES, 16, 16)
    assert float((online_a == 0).float().mean()) == pytest.approx(0.3, abs=0.05)  # pixel mask


def test_speed_resampling_before_views():
    trainer = _trainer("physnet", speed_range=(1.0, 1.0), speed_frames=FRAMES + 1)
    plain = _trainer("physnet")
    video = _batch(TINY["physnet"][1])["video"]
    # speed 1 keeps the clip, so both draw the same views after the speed draw
    trainer.generator.set_state(plain.generator.get_state())
    resampled, _, speeds = trainer._speed(video, None)
    torch.rand(2, generator=plain.generator)
    assert torch.equal(speeds, torch.ones(2))
    torch.testing.assert_close(trainer.make_views(resampled), plain.make_views(video))


def test_the_optimiser_step_sets_train_mode_and_accepts_per_clip_fps():
    trainer = _trainer("physnet")
    trainer.pair.eval()
    batch = dict(_batch(TINY["physnet"][1]), fps=torch.tensor([30.0, 24.0]))
    scalars, _ = OptimiserStep(trainer, total_steps=2).step([batch], 0)
    assert trainer.online_network.training and trainer.target_network.training
    assert math.isfinite(scalars["total"])


def test_bad_batches_and_construction_raise():
    trainer = _trainer("physnet")
    good = _batch(TINY["physnet"][1])
    nan = dict(good, video=good["video"].clone())
    nan["video"][0, 1, 2, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        trainer.forward(nan)
    online = _params(trainer.online_network)
    scalars, seen = OptimiserStep(trainer, total_steps=2).step([nan], 0)  # the step skips it, no forward
    assert seen is None and scalars["skipped"] == 1.0 and scalars["stepped"] == 0.0
    assert all(torch.equal(p, online[n]) for n, p in _params(trainer.online_network).items())
    with pytest.raises(ValueError, match="lacks"):
        check_batch({"video": good["video"]})
    with pytest.raises(ValueError, match=r"\(B, 3, T\+1, S, S\)"):
        check_batch({"video": good["video"][:, :, 0], "fps": 30.0})
    with pytest.raises(ValueError, match="floating point"):
        check_batch({"video": good["video"].to(torch.uint8), "fps": 30.0})
    with pytest.raises(ValueError, match="fs must be"):
        check_batch({"video": good["video"], "fps": -30.0})
    with pytest.raises(ValueError, match="at least 19 frames"):
        trainer.online_network(torch.zeros(1, 3, 16, 16, 16))
    network = create_sspd_network("physnet", frames=FRAMES, width=0.25, input_size=16)
    stranger = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="none of the online"):
        TrainStep(network, stranger)
    with pytest.raises(ValueError, match="SSPDNetwork"):
        TrainStep(network.backbone, stranger)
    with pytest.raises(ValueError, match="start"):
        TrainStep(network, torch.optim.SGD(network.parameters(), lr=0.1), momentum_start=1.5)
    with pytest.raises(ValueError, match="buffers"):
        TrainStep(network, torch.optim.SGD(network.parameters(), lr=0.1), buffers="all")


def test_a_non_finite_loss_skips_the_update_and_the_ema_on_the_one_optimiser_step():
    from sspd.objectives import Objective, ObjectiveSpec

    def nan_after_first(online, target, fs, batch, config):
        total = online.rppg.mean() + (float("nan") if config["calls"] else 0.0)
        config["calls"] += 1
        return total, {"total": total.detach()}

    spec = ObjectiveSpec(name="nan-after-first", fn=nan_after_first, config_type=dict, needs_target=True)
    trainer = _trainer("physnet", objective=Objective(spec, {"calls": 0}))
    box = TINY["physnet"][1]
    stepper = OptimiserStep(trainer, total_steps=4)
    first, _ = stepper.step([_batch(box, 0)], 0)
    assert first["stepped"] == 1.0 and first["skipped"] == 0.0
    online, target = _params(trainer.online_network), _params(trainer.target_network)
    skipped, _ = stepper.step([_batch(box, 1)], 1)
    assert skipped["stepped"] == 0.0 and skipped["skipped"] == 1.0
    assert not math.isfinite(skipped["total"])
    # no NaN reaches either network: no optimiser step, no EMA, no gradient left behind
    assert all(torch.equal(p, online[n]) for n, p in _params(trainer.online_network).items())
    assert all(torch.equal(p, target[n]) for n, p in _params(trainer.target_network).items())
    assert all(p.grad is None for p in trainer.online_network.parameters())


def test_the_optimiser_step_owns_its_ddp_wrapper_and_leaves_the_trainer_bare(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        trainer = _trainer("physnet")
        stepper = OptimiserStep(trainer, total_steps=2, distributed=True)
        assert isinstance(stepper.online_forward, torch.nn.parallel.DistributedDataParallel)
        assert stepper.online_forward.module is trainer.online_network
        assert not hasattr(trainer, "online_forward")   # the trainer is not rewired from outside
        calls = []
        stepper.online_forward.register_forward_pre_hook(lambda module, args: calls.append(module))
        scalars, _ = stepper.step([_batch(TINY["physnet"][1])], 0)
        assert calls == [stepper.online_forward] and scalars["stepped"] == 1.0
        single = OptimiserStep(_trainer("physnet"), total_steps=2, distributed=False)
        assert single.ddp is None and single.online_forward is single.trainer.online_network
    finally:
        dist.destroy_process_group()
