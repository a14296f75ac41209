"""Datasets: readers of the public rPPG layouts, face cropping, the preprocessing cache, window datasets
and the synthetic video generator. Every reader yields :class:`~sspd.data.records.VideoRecord` objects.

Importing this package does not import torch; the window datasets (torch Datasets) load on first use.
"""
from sspd.data.cache import CachedVideo, open_cache
from sspd.data.face import FaceCropper, HaarFaceDetector
from sspd.data.preprocess import preprocess_dataset, preprocess_video
from sspd.data.preprocess_config import PreprocessConfig
from sspd.data.readers import list_datasets, open_dataset, split_subjects
from sspd.data.records import VideoRecord, resample_label
from sspd.data.video import VideoInfo, probe_video, read_video_frames, write_video

__all__ = ["VideoRecord", "resample_label", "VideoInfo", "probe_video", "read_video_frames", "write_video",
           "open_dataset", "list_datasets", "split_subjects", "FaceCropper", "HaarFaceDetector",
           "PreprocessConfig", "preprocess_dataset", "preprocess_video", "CachedVideo", "open_cache",
           "RandomWindows", "SlidingWindows"]

_LAZY = {"RandomWindows": "sspd.data.windows", "SlidingWindows": "sspd.data.windows"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sspd.data' has no attribute {name!r}")
