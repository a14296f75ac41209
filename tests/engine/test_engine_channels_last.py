"""The channels-last fast path: SpatialAvgPool equals AvgPool3d (1, 2, 2), and a channels-last training
step computes what the contiguous one does."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sspd.backbones.layers import SpatialAvgPool
from sspd.engine import OptimiserStep, TrainStep, create_sspd_network



@pytest.mark.parametrize("shape", [(2, 5, 3, 9, 7), (1, 4, 2, 8, 8), (3, 6, 1, 2, 3)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_spatial_avg_pool_matches_avg_pool3d_forward_and_backward(shape, channels_last):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen)
    grad = torch.randn(*shape[:3], shape[3] // 2, shape[4] // 2, generator=gen)
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    ours_in = x.clone(memory_format=fmt).requires_grad_(True)
    ref_in = x.clone().requires_grad_(True)
    ours, ref = SpatialAvgPool()(ours_in), F.avg_pool3d(ref_in, (1, 2, 2), stride=(1, 2, 2))
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)
    assert ours.is_contiguous(memory_format=fmt)
    ours.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(ours_in.grad, ref_in.grad, rtol=1e-6, atol=1e-6)


def test_channels_last_step_matches_contiguous_step():
    frames, box = 32, 68
    batch = {"video": 255 * torch.rand(2, 3, frames + 1, box, box, generator=torch.Generator().manual_seed(1)),
             "fps": 30.0}
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        network = create_sspd_network("sspdnet", frames=frames, input_size=66, width=0.125)
        trainer = TrainStep(network, torch.optim.Adam(network.parameters(), lr=1e-3), seed=0,
                            channels_last=channels_last)
        stepper = OptimiserStep(trainer, total_steps=4)
        scalars = [stepper.step([batch], i)[0] for i in range(2)]
        conv = trainer.target_network.backbone.layers[1][0].weight
        assert conv.is_contiguous(memory_format=torch.channels_last_3d) == channels_last
        results.append((scalars, dict(trainer.target_network.named_parameters())))
    (plain, plain_target), (fast, fast_target) = results
    # the first step sees identical weights: only the summation order differs; after one Adam step
    # (which divides by sqrt of tiny second moments) the rounding differences grow a little
    for step_plain, step_fast, rtol in zip(plain, fast, (1e-4, 2e-3)):
        for name, value in step_plain.items():
            torch.testing.assert_close(step_fast[name], value, rtol=rtol, atol=1e-5,
                                       msg=lambda m: f"{name}: {m}")
    for name, value in plain_target.items():
        # an Adam step moves a parameter by at most about lr, whatever its gradient's rounding: two
        # steps, and the target follows with weight 1 - m ≈ 0.1, bound the difference by ~4e-4
        torch.testing.assert_close(fast_target[name], value, rtol=0, atol=5e-4, msg=name)
