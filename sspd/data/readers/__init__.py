"""Readers of the public rPPG dataset layouts (UBFC-rPPG, PURE, MMPD, VIPL-HR, generic, synthetic).

``open_dataset(name, root, **options)`` returns a :class:`RecordList` of
:class:`~sspd.data.records.VideoRecord` (lazy frames, label aligned to the frame times by timestamps)
whose ``failures`` name the videos that could not be loaded; ``split_subjects`` splits records by
subject. Each format's module docstring documents its layout, subject ids, frame times and metadata.
"""
from sspd.data.readers.loading import LoadFailure, PendingRecord, RecordList
from sspd.data.readers.registry import DatasetFormat, get_format, list_datasets, open_dataset
from sspd.data.readers.splits import NAMED_SPLITS, SubjectSplit, filter_records, split_subjects

__all__ = ["open_dataset", "list_datasets", "get_format", "DatasetFormat", "RecordList", "LoadFailure",
           "PendingRecord", "split_subjects", "SubjectSplit", "NAMED_SPLITS", "filter_records"]
