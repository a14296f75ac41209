import json
import logging
import math

import matplotlib
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sspd.engine.runfiles.sinks import (JSONLSink, MultiSink, Sink, TensorBoardSink, render_map_image,
                                        render_wave_image, scalars_to_floats)


def _read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _events(log_dir) -> EventAccumulator:
    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "histograms": 0})
    accumulator.Reload()
    return accumulator


def test_scalars_to_floats_keeps_order_and_values():
    scalars = {"loss": torch.tensor(0.25), "lr": 1e-3, "momentum": torch.tensor([0.99], dtype=torch.float64),
               "count": np.int64(3), "probe": torch.tensor(7, dtype=torch.int32)}
    floats = scalars_to_floats(scalars)
    assert list(floats) == list(scalars)
    assert floats == {"loss": 0.25, "lr": 1e-3, "momentum": pytest.approx(0.99, rel=1e-7), "count": 3.0,
                      "probe": 7.0}
    assert all(type(v) is float for v in floats.values())


@pytest.mark.parametrize("value,match", [
    (torch.ones(2), r"'x' has shape \(2,\); log one value per name"),
    ("0.5", "'x' must be a tensor or a number, got str"),
    (True, "'x' must be a tensor or a number, got bool"),
])
def test_scalars_to_floats_errors(value, match):
    with pytest.raises(ValueError, match=match):
        scalars_to_floats({"x": value})


def test_jsonl_writes_one_object_per_step(tmp_path):
    path = tmp_path / "logs" / "scalars.jsonl"
    with JSONLSink(path, rank=0) as sink:
        for step in range(3):
            sink.log_scalars(step, {"loss": torch.tensor(1.0 / (step + 1)), "lr": 0.1 * step})
        sink.log_scalars(3, {"loss": torch.tensor(float("nan")), "lr": math.inf})
    lines = _read_jsonl(path)
    assert [line["step"] for line in lines] == [0, 1, 2, 3]
    assert [list(line) for line in lines] == [["step", "time", "loss", "lr"]] * 4
    assert [line["loss"] for line in lines[:3]] == pytest.approx([1.0, 0.5, 1 / 3], rel=1e-7)
    assert [line["lr"] for line in lines[:3]] == [0.0, 0.1, 0.2]
    assert math.isnan(lines[3]["loss"]) and lines[3]["lr"] == math.inf
    assert all(b["time"] >= a["time"] for a, b in zip(lines, lines[1:]))


def test_jsonl_resume_drops_lines_after_the_resumed_step_and_a_torn_line(tmp_path, caplog):
    path = tmp_path / "scalars.jsonl"
    with JSONLSink(path, rank=0) as sink:
        for step in range(1, 6):
            sink.log_scalars(step, {"loss": float(step)})
    with open(path, "a") as fh:
        fh.write('{"step": 6, "ti')  # the write a crash cut short
    with caplog.at_level(logging.WARNING, logger="sspd.engine.runfiles.sinks"):
        with JSONLSink(path, resume_step=3, rank=0) as sink:
            sink.log_scalars(4, {"loss": 40.0})
    assert "scalars.jsonl:6 is not a complete log line" in caplog.text
    assert [(line["step"], line["loss"]) for line in _read_jsonl(path)] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0)]


def test_jsonl_new_run_overwrites_and_resume_without_a_file_starts_one(tmp_path):
    path = tmp_path / "scalars.jsonl"
    path.write_text('{"step": 9, "time": 0, "loss": 1.0}\n')
    with JSONLSink(path, rank=0) as sink:
        sink.log_scalars(0, {"loss": 2.0})
    assert [line["step"] for line in _read_jsonl(path)] == [0]
    fresh = tmp_path / "fresh.jsonl"
    with JSONLSink(fresh, resume_step=5, rank=0) as sink:
        sink.log_scalars(6, {"loss": 2.0})
    assert [line["step"] for line in _read_jsonl(fresh)] == [6]


def test_jsonl_errors(tmp_path):
    with JSONLSink(tmp_path / "s.jsonl", rank=0) as sink:
        with pytest.raises(ValueError, match=r"\['step'\] are the line's own fields"):
            sink.log_scalars(0, {"step": 1.0})
    with pytest.raises(ValueError, match="resume_step must be an int >= 0 or None"):
        JSONLSink(tmp_path / "s.jsonl", resume_step=-1, rank=0)


def test_sinks_on_other_ranks_write_nothing(tmp_path):
    sink = MultiSink([JSONLSink(tmp_path / "s.jsonl", rank=1), TensorBoardSink(tmp_path / "tb", rank=1)])
    sink.log_scalars(0, {"loss": 1.0})
    sink.log_images(0, {"ssm": torch.zeros(3, 4, 4)})
    sink.log_histograms(0, {"w": torch.ones(5)})
    sink.close()
    assert list(tmp_path.iterdir()) == []


def test_default_rank_without_a_process_group_is_zero(tmp_path):
    with JSONLSink(tmp_path / "s.jsonl") as sink:
        sink.log_scalars(0, {"loss": 1.0})
    assert (tmp_path / "s.jsonl").exists()


def test_tensorboard_event_file_holds_scalars_images_and_thinned_histograms(tmp_path):
    torch.manual_seed(0)
    ssm = torch.rand(2, 12, 12)  # (B, T', T')
    with TensorBoardSink(tmp_path / "tb", histogram_every_n_steps=2, rank=0) as sink:
        for step in range(5):
            sink.log_scalars(step, {"loss/ssm": torch.tensor(0.5 + step), "lr": 1e-3 * (step + 1)})
            sink.log_histograms(step, {"weights": torch.randn(100)})
        sink.log_images(4, {"ssm/online": render_map_image(ssm), "ssw/online": render_wave_image(ssm[:, 0]),
                            "array": np.zeros((3, 5, 7), dtype=np.float32)})
    events = _events(tmp_path / "tb")
    tags = events.Tags()
    assert set(tags["scalars"]) == {"loss/ssm", "lr"}
    assert [e.step for e in events.Scalars("loss/ssm")] == [0, 1, 2, 3, 4]
    assert [e.value for e in events.Scalars("loss/ssm")] == pytest.approx([0.5, 1.5, 2.5, 3.5, 4.5], rel=1e-6)
    assert [e.value for e in events.Scalars("lr")] == pytest.approx([1e-3 * (s + 1) for s in range(5)], rel=1e-6)
    assert set(tags["images"]) == {"ssm/online", "ssw/online", "array"}
    assert (events.Images("array")[0].width, events.Images("array")[0].height) == (7, 5)
    image = events.Images("ssm/online")[0]
    assert (image.step, image.width, image.height) == (4, 12, 12)
    assert (events.Images("ssw/online")[0].width, events.Images("ssw/online")[0].height) == (480, 240)
    assert [e.step for e in events.Histograms("weights")] == [0, 2, 4]
    assert events.Histograms("weights")[0].histogram_value.num == 100


def test_tensorboard_resume_hides_events_after_the_resumed_step(tmp_path):
    with TensorBoardSink(tmp_path, rank=0) as sink:
        for step in range(1, 6):
            sink.log_scalars(step, {"loss": float(step)})
    with TensorBoardSink(tmp_path, resume_step=3, rank=0) as sink:
        for step in (4, 5):
            sink.log_scalars(step, {"loss": 10.0 * step})
    loss = _events(tmp_path).Scalars("loss")
    assert [(e.step, e.value) for e in loss] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0), (5, 50.0)]


def test_tensorboard_errors(tmp_path):
    with pytest.raises(ValueError, match="histogram_every_n_steps must be an int >= 1"):
        TensorBoardSink(tmp_path, histogram_every_n_steps=0, rank=0)
    with TensorBoardSink(tmp_path, rank=0) as sink:
        with pytest.raises(ValueError, match=r"image 'ssm' must be \(3, H, W\), got \(4, 4\)"):
            sink.log_images(0, {"ssm": torch.zeros(4, 4)})


def test_multisink_fans_out_to_every_sink(tmp_path):
    class Recorder(Sink):
        def __init__(self):
            self.calls = []

        def log_scalars(self, step, scalars):
            self.calls.append(("scalars", step, dict(scalars)))

        def log_images(self, step, images):
            self.calls.append(("images", step, sorted(images)))

        def close(self):
            self.calls.append(("close",))

    recorder = Recorder()
    sink = MultiSink([JSONLSink(tmp_path / "s.jsonl", rank=0), recorder])
    sink.log_scalars(2, {"loss": torch.tensor(0.5)})
    sink.log_images(2, {"ssm": torch.zeros(3, 2, 2)})
    sink.close()
    assert recorder.calls == [("scalars", 2, {"loss": 0.5}), ("images", 2, ["ssm"]), ("close",)]
    assert _read_jsonl(tmp_path / "s.jsonl")[0]["loss"] == 0.5


def test_render_map_image_applies_the_colormap_to_the_min_max_scaled_map():
    ssm = torch.tensor([[[1.0, 0.5], [0.0, 0.25]], [[2.0, 2.0], [2.0, 2.0]]])  # (B=2, 2, 2)
    image = render_map_image(ssm, cmap="magma")
    assert image.shape == (3, 2, 2) and image.dtype == torch.float32
    colormap = matplotlib.colormaps["magma"]
    for (i, j), scaled in {(0, 0): 1.0, (0, 1): 0.5, (1, 0): 0.0, (1, 1): 0.25}.items():
        assert image[:, i, j].tolist() == pytest.approx(colormap(scaled)[:3], abs=1e-6)
    constant = render_map_image(ssm, index=1, cmap="magma")
    assert torch.allclose(constant, torch.tensor(colormap(0.0)[:3], dtype=torch.float32)[:, None, None].expand(3, 2, 2))


def test_render_wave_image_draws_the_curve():
    lags = torch.arange(60.0)
    flat = render_wave_image(torch.zeros(60), width_px=200, height_px=100)
    cosine = render_wave_image(torch.stack([torch.cos(2 * math.pi * lags / 20), lags]), fs=30.0, index=0,
                               width_px=200, height_px=100)
    assert cosine.shape == (3, 100, 200) and 0.0 <= float(cosine.min()) and float(cosine.max()) <= 1.0
    assert float(cosine.std()) > 0.05  # not a blank canvas
    assert not torch.equal(flat, cosine)


@pytest.mark.parametrize("call,match", [
    (lambda: render_map_image(torch.zeros(5)), r"expected 2 dims \(or a batch of them\), got \(5,\)"),
    (lambda: render_map_image(torch.zeros(2, 3, 3), index=2), "index 2 is outside the batch of 2"),
    (lambda: render_map_image(torch.full((3, 3), float("nan"))), "NaN or inf"),
    (lambda: render_wave_image(torch.zeros(2, 2, 2)), r"expected 1 dims \(or a batch of them\)"),
    (lambda: render_wave_image(torch.zeros(9), fs=0.0), "render_wave_image: fs must be a finite sample rate > 0 Hz"),
])
def test_render_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
