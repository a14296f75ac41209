import math

import pytest
import torch

from sspd.diagnostics import input_sensitivity, output_change

FS = 30.0


def _clips(hz, n_frames=150, seed=0):
    """(B, 3, T, 4, 4) clips whose green channel carries a pulse at each clip's rate."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n_frames) / FS
    hz = torch.tensor(hz)
    phase = 2 * math.pi * torch.rand(len(hz), generator=g)
    pulse = torch.sin(2 * math.pi * hz[:, None] * t[None] + phase[:, None])        # (B, T)
    clips = 0.5 + 0.01 * torch.randn(len(hz), 3, n_frames, 4, 4, generator=g)
    clips[:, 1] += 0.05 * pulse[:, :, None, None]
    return clips


def _green(clips):
    return clips[:, 1].mean(dim=(-1, -2))                                          # (B, T)


def test_output_change_formula():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 5, 60, generator=g, dtype=torch.float64)
    r = torch.stack([torch.corrcoef(torch.stack([a[i], b[i]]))[0, 1] for i in range(5)])
    assert output_change(a, b) == pytest.approx(float((1 - r).mean()), rel=1e-10)
    assert output_change(a, 4 * a + 2) == pytest.approx(0.0, abs=1e-12)
    assert output_change(a, -a) == pytest.approx(2.0, abs=1e-12)
    flat = torch.ones(5, 60, dtype=torch.float64)
    assert output_change(flat, 2 * flat) == 0.0 and output_change(flat, a) == pytest.approx(0.5)


def test_input_sensitivity_zero_for_a_model_that_ignores_its_input():
    wave = torch.sin(torch.arange(150.0) / 3)

    def fixed(clips):
        return wave.expand(clips.shape[0], -1) * 1.0

    out = input_sensitivity(fixed, _clips([1.0, 1.5, 2.0]), torch.Generator().manual_seed(0))
    assert out == {"shuffle": 0.0, "swap": 0.0}


def test_input_sensitivity_near_one_for_a_model_that_reads_the_pulse():
    out = input_sensitivity(_green, _clips([1.0, 1.3, 1.7, 2.2]), torch.Generator().manual_seed(0))
    assert out["shuffle"] == pytest.approx(1.0, abs=0.2)
    assert out["swap"] == pytest.approx(1.0, abs=0.3)


def test_input_sensitivity_of_a_fixed_wave_plus_a_third_input():
    clips = _clips([1.0, 1.3, 1.7, 2.2] * 4, n_frames=300)
    wave = torch.sin(2 * math.pi * 0.9 * torch.arange(300) / FS + 0.3)

    def mostly_fixed(c):
        green = _green(c)
        green = (green - green.mean(1, keepdim=True)) / green.std(1, keepdim=True)
        return wave * math.sqrt(2) + green / 3.0                                   # unit std + std 1/3

    out = input_sensitivity(mostly_fixed, clips, torch.Generator().manual_seed(0))
    # 1 - r = a^2 / (1 + a^2) = 0.1 for uncorrelated parts of relative size a = 1/3
    assert out["shuffle"] == pytest.approx(0.1, abs=0.03)
    assert out["swap"] == pytest.approx(0.1, abs=0.03)


def test_input_sensitivity_single_clip_has_no_swap_and_time_dim_is_used():
    clips = _clips([1.2])
    out = input_sensitivity(_green, clips, torch.Generator().manual_seed(0))
    assert set(out) == {"shuffle"} and out["shuffle"] > 0.5
    moved = clips.movedim(2, 1)                                                    # (B, T, C, H, W)
    same = input_sensitivity(lambda c: _green(c.movedim(1, 2)), moved, torch.Generator().manual_seed(0),
                             time_dim=1)
    assert same["shuffle"] == pytest.approx(out["shuffle"], rel=1e-9)


def test_input_sensitivity_errors():
    clips = _clips([1.0, 2.0])
    with pytest.raises(ValueError, match="one \\(B, T\\) signal per clip"):
        input_sensitivity(lambda c: _green(c)[:1], clips)
    with pytest.raises(ValueError, match="time_dim"):
        input_sensitivity(_green, clips, time_dim=0)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        input_sensitivity(lambda c: c, clips)
