"""The on-the-fly torch dataset of synthetic clips (the embedded default)."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sspd.data.synthetic import SyntheticClipDataset, SyntheticConfig


def test_items_have_the_documented_shapes_types_and_ranges():
    ds = SyntheticClipDataset(4, frames=10, size=(40, 32), fps=25.0, seed=1)
    item = ds[2]
    assert len(ds) == 4
    assert item["video"].shape == (3, 10, 32, 40) and item["video"].dtype == torch.float32
    assert 0.0 <= float(item["video"].min()) and float(item["video"].max()) <= 255.0
    assert item["ppg"].shape == (10,) and item["ppg"].dtype == torch.float32
    assert item["fps"] == 25.0 and item["index"] == 2 and item["has_pulse"] is True
    assert item["video_id"] == 2  # each clip is its own video (Contrast-Phys pairs clips by it)
    assert 40.0 < item["hr"] < 165.0
    as_bytes = SyntheticClipDataset(4, frames=10, size=(40, 32), fps=25.0, seed=1, dtype="uint8")[2]
    assert as_bytes["video"].dtype == torch.uint8
    assert torch.equal(as_bytes["video"].float(), item["video"])


def test_a_clip_depends_only_on_seed_and_index_whoever_renders_it():
    ds = SyntheticClipDataset(4, frames=6, size=32, seed=3)
    direct = [ds[i]["video"] for i in range(4)]
    assert torch.equal(SyntheticClipDataset(4, frames=6, size=32, seed=3)[1]["video"], direct[1])
    assert not torch.equal(direct[1], direct[2])
    assert not torch.equal(SyntheticClipDataset(4, frames=6, size=32, seed=4)[1]["video"], direct[1])
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    batched = torch.cat([batch["video"] for batch in loader])  # (4, 3, 6, 32, 32)
    assert torch.equal(batched, torch.stack(direct))
    assert torch.equal(ds[-1]["video"], direct[3])


def test_crop_framing_fills_the_frame_with_face_and_scene_framing_does_not():
    crop = SyntheticClipDataset(2, frames=2, size=64).video(0).skin_masks(0, 1)[0]
    scene = SyntheticClipDataset(2, frames=2, size=64, config=SyntheticConfig()).video(0).skin_masks(0, 1)[0]
    # crop: the face (hairline to chin) is 0.8 of the frame height, about a 1.5x face-box crop
    assert (crop > 0.5).mean() > 0.3
    assert (scene > 0.5).mean() < 0.6 * (crop > 0.5).mean()


def test_the_label_is_the_pulse_in_the_clip():
    cfg = SyntheticConfig.still(framing="crop", pulse_amplitude=(0.01, 0.01), pulse_delay_s=0.0)
    ds = SyntheticClipDataset(1, frames=96, size=64, seed=8, config=cfg)
    item = ds[0]
    masks = torch.from_numpy(ds.video(0).skin_masks() > 0.5)  # (T, H, W)
    green = (item["video"][1] * masks).sum(dim=(1, 2)) / masks.sum(dim=(1, 2))  # (T,)
    r = np.corrcoef(green.numpy(), item["ppg"].numpy())[0, 1]
    assert r > 0.8


def test_no_pulse_clips_have_zero_labels():
    ds = SyntheticClipDataset(2, frames=8, size=32, config=SyntheticConfig(framing="crop", no_pulse=True))
    item = ds[0]
    assert item["has_pulse"] is False and item["hr"] == 0.0 and not item["ppg"].any()


def test_clip_dataset_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="n_clips"):
        SyntheticClipDataset(0)
    with pytest.raises(ValueError, match="dtype"):
        SyntheticClipDataset(2, dtype="float16")
    with pytest.raises(ValueError, match="fps"):
        SyntheticClipDataset(2, fps=0.0)
    with pytest.raises(IndexError, match="out of range"):
        SyntheticClipDataset(2, frames=4, size=32)[2]
