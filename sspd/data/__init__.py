"""Datasets: readers of the public rPPG layouts, face cropping, the preprocessing cache, window datasets
and the synthetic video generator. Every reader yields :class:`~sspd.data.records.VideoRecord` objects."""
from sspd.data.records import VideoRecord, resample_label
from sspd.data.video import VideoInfo, probe_video, read_video_frames, write_video
from sspd.data.readers import list_datasets, open_dataset, split_subjects

__all__ = ["VideoRecord", "resample_label", "VideoInfo", "probe_video", "read_video_frames", "write_video",
           "open_dataset", "list_datasets", "split_subjects"]
