import pytest
import torch

from sspd.diagnostics import ProbeBuffer


def _batch(step, b=2, d=3, t=5):
    """Values that encode the step and the clip, so the kept rows can be identified."""
    clip_ids = torch.arange(b, dtype=torch.float32) + 10 * step
    pooled = clip_ids[:, None, None].expand(b, d, t).clone()
    preds = clip_ids[:, None].expand(b, t).clone()
    return pooled, preds, 60.0 + clip_ids


def test_buffer_keeps_the_last_capacity_clips_in_order():
    buf = ProbeBuffer(capacity=5)
    for step in range(4):
        pooled, preds, labels = _batch(step)
        buf.add(pooled=pooled, predictions=preds, labels_hr=labels)
    expected = torch.tensor([11.0, 20.0, 21.0, 30.0, 31.0])        # clip 1 of step 1, then steps 2, 3
    assert buf.features.shape == (5, 3) and torch.equal(buf.features[:, 0], expected)
    assert torch.equal(buf.predictions[:, 0], expected)
    assert torch.equal(buf.labels_hr, 60.0 + expected)


def test_buffer_stores_time_mean_features_detached_on_cpu():
    pooled = torch.randn(2, 4, 6, requires_grad=True)
    buf = ProbeBuffer(capacity=4)
    buf.add(pooled=pooled)
    assert not buf.features.requires_grad and buf.predictions is None
    torch.testing.assert_close(buf.features, pooled.detach().mean(dim=2))


def test_buffer_labels_missing_for_some_clips_means_no_labels():
    buf = ProbeBuffer(capacity=4)
    pooled, preds, labels = _batch(0)
    buf.add(predictions=preds, labels_hr=labels)
    assert buf.labels_hr is not None
    buf.add(predictions=preds)
    assert buf.labels_hr is None
    buf.add(predictions=preds, labels_hr=labels)
    assert buf.labels_hr is None                                 # unlabelled clips still kept
    buf.add(predictions=preds, labels_hr=labels)                 # now they rolled out
    assert torch.equal(buf.labels_hr, torch.cat([labels, labels]))


def test_buffer_state_dict_round_trip_and_clear():
    buf = ProbeBuffer(capacity=3)
    for step in range(3):
        pooled, preds, labels = _batch(step)
        buf.add(pooled=pooled, predictions=preds, labels_hr=labels)
    other = ProbeBuffer(capacity=3)
    other.load_state_dict(buf.state_dict())
    assert torch.equal(other.features, buf.features) and torch.equal(other.labels_hr, buf.labels_hr)
    smaller = ProbeBuffer(capacity=2)
    smaller.load_state_dict(buf.state_dict())
    assert torch.equal(smaller.predictions, buf.predictions[-2:])
    buf.clear()
    assert buf.features is None and buf.predictions is None and buf.labels_hr is None


def test_buffer_errors():
    with pytest.raises(ValueError, match="capacity"):
        ProbeBuffer(capacity=1)
    buf = ProbeBuffer(capacity=4)
    pooled, preds, labels = _batch(0)
    buf.add(pooled=pooled, predictions=preds)
    with pytest.raises(ValueError, match="clip length fixed"):
        buf.add(predictions=preds[:, :4])
    with pytest.raises(ValueError, match="feature width"):
        buf.add(pooled=pooled[:, :2])
    with pytest.raises(ValueError, match="without predictions"):
        buf.add(labels_hr=labels)
    with pytest.raises(ValueError, match="one reference HR"):
        buf.add(predictions=preds, labels_hr=labels[:1])
    with pytest.raises(ValueError, match="missing keys"):
        buf.load_state_dict({"features": None})
