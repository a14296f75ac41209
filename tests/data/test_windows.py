import logging
import pickle
from functools import partial

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sspd.data.cache import open_cache
from sspd.data.preprocess import preprocess_video
from sspd.data.preprocess_config import PreprocessConfig
from sspd.data.records import VideoRecord
from sspd.data.windows import RandomWindows, SlidingWindows

LENGTHS = {"a": 40, "b": 25, "c": 12, "tiny": 5}  # "tiny" is shorter than one clip of 8 + 1
OFFSET = {"a": 0, "b": 60, "c": 120, "tiny": 180}
WINDOW, EXTRA = 8, 1


def record(name, n):
    """Frame t of video ``name`` is the constant OFFSET + t, and so is its label: alignment is visible."""
    frames = [np.full((24, 32, 3), OFFSET[name] + t, np.uint8) for t in range(n)]
    return VideoRecord(subject=name, session="", fps=25.0, frame_times=np.arange(n) / 25.0,
                       ppg=OFFSET[name] + np.arange(n, dtype=float), source=f"{name}.avi",
                       frames=partial(iter, frames))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    out = tmp_path_factory.mktemp("cache")
    config = PreprocessConfig(size=8, no_face="centre", detect_width=32)
    for name, n in LENGTHS.items():
        preprocess_video(record(name, n), out, config)
    return open_cache(out)


def assert_aligned(item):
    video, label, name, start = item["video"], item["label"], item["name"], item["start"]
    expected = OFFSET[name] + start + np.arange(WINDOW + EXTRA)
    assert video.shape == (3, WINDOW + EXTRA, 8, 8)
    np.testing.assert_array_equal(video[:, :, 3, 4].numpy(), np.tile(expected, (3, 1)))  # (C, T) every channel
    np.testing.assert_array_equal(label.numpy(), expected.astype(np.float32))
    assert item["fps"] == 25.0
    assert item["video_id"] == ("a", "b", "c").index(name)  # the eligible videos' order ("tiny" is skipped)


def reference_starts(n, clip, stride, tail):
    starts, s = [], 0
    while s + clip <= n:
        starts.append(s)
        s += stride
    if tail == "last" and starts[-1] + clip < n:
        starts.append(n - clip)
    return starts


@pytest.mark.parametrize("tail", ["last", "drop"])
def test_sliding_windows_cover_the_videos_in_order_with_aligned_labels(videos, tail, caplog):
    with caplog.at_level(logging.WARNING, logger="sspd.data.windows"):
        data = SlidingWindows(videos, window=WINDOW, extra_frames=EXTRA, stride=6, tail=tail)
    assert data.skipped == [("tiny", "5 frames, shorter than one window of 9")] and "tiny" in caplog.text
    expected = [(name, s) for name in ("a", "b", "c") for s in reference_starts(LENGTHS[name], 9, 6, tail)]
    items = [data[i] for i in range(len(data))]
    assert [(it["name"], it["start"]) for it in items] == expected
    for item in items:
        assert_aligned(item)
    if tail == "last":  # every frame of every video is in some window
        assert all(max(s for n, s in expected if n == name) + 9 == LENGTHS[name] for name in ("a", "b", "c"))


def test_random_windows_are_valid_aligned_and_fixed_per_video(videos):
    data = RandomWindows(videos, window=WINDOW, extra_frames=EXTRA, windows_per_video=50, seed=3)
    assert len(data) == 150
    owners, starts = data.windows[:, 0], data.windows[:, 1]
    assert np.bincount(owners).tolist() == [50, 50, 50]
    room = np.array([LENGTHS[v.name] - 9 + 1 for v in data.videos])
    assert (starts >= 0).all() and (starts < room[owners]).all()
    assert all(len(np.unique(starts[owners == i])) > 1 for i in range(3))  # random, not one fixed start
    assert starts[owners == 2].max() == room[2] - 1  # the last valid start is reachable (12-frame video)
    for i in range(0, 150, 17):
        assert_aligned(data[i])


def test_random_windows_are_deterministic_per_seed_and_epoch(videos):
    first = RandomWindows(videos, window=WINDOW, windows_per_video=4, seed=7).windows.copy()
    again = RandomWindows(videos, window=WINDOW, windows_per_video=4, seed=7)
    np.testing.assert_array_equal(again.windows, first)
    again.set_epoch(1)
    assert not np.array_equal(again.windows, first)
    again.set_epoch(0)
    np.testing.assert_array_equal(again.windows, first)
    assert not np.array_equal(RandomWindows(videos, window=WINDOW, windows_per_video=4, seed=8).windows, first)


def interleave(shards):
    """Undo the rank::world_size split: shard r holds plan entries r, r + w, r + 2w, ..."""
    total = sum(len(s) for s in shards)
    plan = np.zeros((total, 2), dtype=np.int64)
    for rank, shard in enumerate(shards):
        plan[rank::len(shards)] = shard
    return plan


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_shards_partition_the_windows(videos, world_size):
    single = SlidingWindows(videos, window=WINDOW, extra_frames=EXTRA, stride=3).windows
    shards = [SlidingWindows(videos, window=WINDOW, extra_frames=EXTRA, stride=3, rank=r,
                             world_size=world_size).windows for r in range(world_size)]
    np.testing.assert_array_equal(interleave(shards), single)  # disjoint, and together all of them
    assert max(map(len, shards)) - min(map(len, shards)) <= 1

    plan = RandomWindows(videos, window=WINDOW, windows_per_video=5, seed=1, epoch=2).windows  # 15 windows
    shards = [RandomWindows(videos, window=WINDOW, windows_per_video=5, seed=1, epoch=2, rank=r,
                            world_size=world_size).windows for r in range(world_size)]
    assert len({len(s) for s in shards}) == 1  # equal length: no rank waits for another under DDP
    full = interleave(shards)
    np.testing.assert_array_equal(full[:15], plan)  # the same windows as one process, plus padding
    assert len(full) == 15 + (-15 % world_size)


def test_float32_clips_batches_and_pickling(videos):
    data = SlidingWindows(videos, window=WINDOW, extra_frames=EXTRA, dtype="float32")
    item = data[0]
    assert item["video"].dtype == torch.float32 and float(item["video"][0, 2, 0, 0]) == 2.0
    batch = next(iter(DataLoader(data, batch_size=3)))
    assert batch["video"].shape == (3, 3, 9, 8, 8) and batch["label"].shape == (3, 9)
    assert list(batch["name"]) == [data[i]["name"] for i in range(3)]
    data[len(data) - 1]  # opens the memory maps
    clone = pickle.loads(pickle.dumps(data))  # what a spawned DataLoader worker receives
    assert len(pickle.dumps(data)) < 20_000  # the cached frames are not copied into the pickle
    np.testing.assert_array_equal(clone[5]["video"].numpy(), data[5]["video"].numpy())


def test_window_errors(videos):
    with pytest.raises(ValueError, match="no cached video has 41 frames"):
        SlidingWindows(videos, window=40, extra_frames=1)
    with pytest.raises(ValueError, match="window must be an integer >= 1"):
        SlidingWindows(videos, window=0)
    with pytest.raises(ValueError, match=r"rank must be in \[0, world_size=2\)"):
        RandomWindows(videos, window=4, rank=2, world_size=2)
    with pytest.raises(ValueError, match="unknown tail policy 'pad'"):
        SlidingWindows(videos, window=4, tail="pad")
    with pytest.raises(ValueError, match="unknown dtype 'float16'"):
        SlidingWindows(videos, window=4, dtype="float16")
    with pytest.raises(ValueError, match="no cached videos given"):
        RandomWindows([], window=4)


def test_mixed_crop_sizes_are_rejected(videos, tmp_path):
    preprocess_video(record("a", 10), tmp_path, PreprocessConfig(size=16, no_face="centre", detect_width=32))
    with pytest.raises(ValueError, match=r"different crop sizes \[8, 16\]"):
        SlidingWindows(list(videos) + open_cache(tmp_path), window=4)
