"""Contrast-Phys's loss against a numpy reference written here from the paper's description, the clips its
positive and negative terms pair, its refusals, and the ST-rPPG network it trains."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sspd.objectives import ContrastPhysConfig, NetworkOutputs, ObjectiveConfig, build_objective, list_objectives

FS = 30.0
BAND = (40.0 / 60.0, 250.0 / 60.0)


def _reference(signals: np.ndarray, starts: np.ndarray, ids: list, fs: float, length: int,
               n_fft: int | None = None, eps: float = 1e-8) -> tuple[float, float]:
    """(positive, negative) by plain loops: every window's normalised in-band PSD, then every ordered pair."""
    n = max(length, n_fft or length)
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    psds, owners = [], []
    for b in range(signals.shape[0]):
        for s in range(signals.shape[1]):
            for k in range(starts.shape[2]):
                window = signals[b, s, starts[b, s, k]:starts[b, s, k] + length]
                spectrum = np.fft.rfft(window - window.mean(), n) / n   # norm="forward"
                power = [abs(c) ** 2 for c, f in zip(spectrum, freqs) if BAND[0] <= f <= BAND[1]]
                total = sum(power)
                psds.append([p / (total + eps) for p in power])
                owners.append(ids[b])
    positive, negative = [], []
    for i in range(len(psds)):
        for j in range(len(psds)):
            if i == j:
                continue
            d = np.mean((np.array(psds[i]) - np.array(psds[j])) ** 2)
            (positive if owners[i] == owners[j] else negative).append(d)
    return float(np.mean(positive)), float(np.mean(negative))


def _outputs(spatial: torch.Tensor) -> NetworkOutputs:
    return NetworkOutputs(hs=[], rppg=spatial.mean(dim=1), pooled=None, spatial=spatial)


def test_registered_with_its_typed_section():
    assert "contrast-phys" in list_objectives()
    section = ObjectiveConfig(name="contrast-phys", contrast_phys=ContrastPhysConfig(windows=3))
    objective = section.build()
    assert objective.name == "contrast-phys" and objective.config.windows == 3
    assert not objective.spec.needs_target and not objective.spec.uses_ts


@pytest.mark.parametrize("n_fft", [None, 100])
def test_loss_equals_the_numpy_reference(n_fft):
    gen = np.random.default_rng(4)
    signals = gen.standard_normal((4, 4, 60)).astype(np.float32)     # (B, N, T)
    ids = [5, 5, 8, 11]                                                # two clips of one video
    config = ContrastPhysConfig(n_fft=n_fft)
    starts = gen.integers(0, 60 - 30 + 1, size=(4, 4, config.windows))
    objective = build_objective("contrast-phys", config)
    total, scalars = objective(_outputs(torch.from_numpy(signals)), None, torch.full((4,), FS),
                               {"video_id": torch.tensor(ids), "window_starts": torch.from_numpy(starts)})
    positive, negative = _reference(signals.astype(np.float64), starts, ids, FS, 30, n_fft)
    assert float(scalars["positive"]) == pytest.approx(positive, rel=1e-4)
    assert float(scalars["negative"]) == pytest.approx(negative, rel=1e-4)
    assert float(total) == pytest.approx(positive - negative, rel=1e-4, abs=1e-7)
    assert 0.0 <= float(scalars["ipr"]) <= 1.0


def _tones(rates_hz: list[float], fs: float = 32.0, frames: int = 64) -> torch.Tensor:
    """(B, 4, T) four equal spatial signals per clip, a sinusoid of an integer number of cycles per window."""
    t = torch.arange(frames, dtype=torch.float64) / fs
    clips = [torch.sin(2 * torch.pi * rate * t + phase) for phase, rate in enumerate(rates_hz)]
    return torch.stack(clips)[:, None, :].expand(-1, 4, -1).float().contiguous()


def test_positives_pair_clips_of_one_video_and_negatives_clips_of_different_videos():
    # fs 32 Hz, windows of 32 samples: bins every 1 Hz, 4 of them in 40-250 bpm (1, 2, 3, 4 Hz). A tone at
    # 2 or 3 Hz fills exactly one bin in every window, so each PSD is one-hot and d(one-hot a, b) = 2 / 4.
    spatial = _tones([2.0, 2.0, 3.0])
    objective = build_objective("contrast-phys")
    fs = torch.full((3,), 32.0)
    gen = torch.Generator().manual_seed(0)
    _, same = objective(_outputs(spatial), None, fs, {"video_id": torch.tensor([7, 7, 9]), "generator": gen})
    assert float(same["positive"]) == pytest.approx(0.0, abs=1e-9)   # one video, one rate
    assert float(same["negative"]) == pytest.approx(0.5, rel=1e-5)   # every cross-video pair differs
    # the 3 Hz clip now belongs to the first clip's video, the second 2 Hz clip is a video of its own:
    # video 7 holds 16 PSDs at 2 Hz and 16 at 3 Hz (512 of its 992 ordered pairs differ), video 9 16 at
    # 2 Hz (240 equal pairs); across videos 512 of the 1,024 ordered pairs differ.
    _, swapped = objective(_outputs(spatial), None, fs, {"video_id": torch.tensor([7, 9, 7]), "generator": gen})
    assert float(swapped["positive"]) == pytest.approx(512 / 1232 * 0.5, rel=1e-5)
    assert float(swapped["negative"]) == pytest.approx(512 / 1024 * 0.5, rel=1e-5)
    # names serve as ids too (the cache's video names)
    _, named = objective(_outputs(spatial), None, fs, {"video_id": ["a", "a", "b"], "generator": gen})
    assert float(named["positive"]) == pytest.approx(0.0, abs=1e-9)


def test_the_ipr_measures_the_power_outside_the_band():
    t = torch.arange(64, dtype=torch.float64) / 32.0
    inside, outside = torch.sin(2 * torch.pi * 2.0 * t), torch.sin(2 * torch.pi * 8.0 * t)
    spatial = torch.stack([inside, outside, inside + outside])[:, None, :].expand(-1, 4, -1).float().contiguous()
    objective = build_objective("contrast-phys")
    _, scalars = objective(_outputs(spatial), None, torch.full((3,), 32.0),
                           {"video_id": torch.tensor([0, 1, 2]), "generator": torch.Generator().manual_seed(1)})
    assert float(scalars["ipr"]) == pytest.approx((0.0 + 1.0 + 0.5) / 3, abs=1e-5)


def test_refuses_a_batch_without_two_videos_or_without_ids():
    objective = build_objective("contrast-phys")
    outputs, fs = _outputs(_tones([2.0, 3.0])), torch.full((2,), 32.0)
    with pytest.raises(ValueError, match="at least 2 different videos.*loop.batch_size"):
        objective(outputs, None, fs, {"video_id": torch.tensor([4, 4])})
    with pytest.raises(ValueError, match="no 'video_id'"):
        objective(outputs, None, fs, {})
    with pytest.raises(ValueError, match="one frame rate"):
        objective(outputs, None, torch.tensor([30.0, 25.0]), {"video_id": torch.tensor([0, 1])})
    with pytest.raises(ValueError, match="no two PSDs of one video"):
        single = NetworkOutputs(hs=[], rppg=outputs.rppg)          # one signal per clip, one window
        build_objective("contrast-phys", ContrastPhysConfig(windows=1))(single, None, fs,
                                                                         {"video_id": torch.tensor([0, 1])})
    with pytest.raises(ValueError, match="window_fraction"):
        ContrastPhysConfig(window_fraction=0.0)


def test_a_constant_prediction_gives_a_finite_loss_and_gradient():
    spatial = torch.zeros(2, 4, 40, requires_grad=True)
    total, _ = build_objective("contrast-phys")(_outputs(spatial), None, torch.full((2,), FS),
                                                {"video_id": torch.tensor([0, 1])})
    total.backward()
    assert torch.isfinite(total) and bool(torch.isfinite(spatial.grad).all())


def test_the_engine_step_trains_the_st_rppg_head_and_the_backbone(tmp_path):
    from sspd.cli.config import RunConfig
    from sspd.configuration import load_config
    from sspd.data.synthetic import SyntheticClipDataset
    from sspd.engine import build_network

    config = load_config(RunConfig, None, ["objective.name=contrast-phys", "model.head=st_rppg",
                                           "model.backbone=physnet", "model.input_size=16", "data.box_size=20",
                                           "data.frames=32", "loop.channels_last=false", f"run_dir={tmp_path}"])
    torch.manual_seed(0)
    trainer = config.build_trainer(build_network(config.network_spec()))
    clips = SyntheticClipDataset(3, frames=33, size=20, seed=2)
    batch = {"video": torch.stack([clips[i]["video"] for i in range(3)]), "fps": 30.0,
             "video_id": torch.tensor([clips[i]["video_id"] for i in range(3)])}
    trainer.optimizer.zero_grad()
    total, scalars = trainer.forward(batch)
    total.backward()
    assert set(scalars) == {"total", "positive", "negative", "ipr"} and torch.isfinite(total)
    grads = {n: p.grad for n, p in trainer.online_network.named_parameters()}
    assert float(grads["predictor.out.weight"].abs().sum()) > 0
    first = next(n for n in grads if n.startswith("backbone."))
    assert grads[first] is not None and float(grads[first].abs().sum()) > 0
    with pytest.raises(ValueError, match="at least 2 different videos"):
        trainer.forward({**batch, "video_id": torch.tensor([1, 1, 1])})


def test_the_loops_config_record_reads_back_into_the_underscored_section():
    from sspd.cli.config import RunConfig
    from sspd.configuration import load_config
    from sspd.engine.loop import _record

    objective = build_objective("contrast-phys", ContrastPhysConfig(windows=2, n_fft=128))
    record = _record("runs/x", 0, {"objective": objective})
    assert record["objective"]["name"] == "contrast-phys" and "contrast_phys" in record["objective"]
    back = load_config(RunConfig, {"objective": record["objective"]}).objective.build()
    assert back.config == objective.config
