"""Readers of the public rPPG dataset layouts (UBFC-rPPG, PURE, MMPD, VIPL-HR, generic), of unlabeled video
folders (``videos``) and the registry of every dataset format, ``synthetic`` included.

One module per layout (``ubfc``, ``pure``, ``mmpd``, ``vipl``, ``generic``, ``videos``) holds its ``scan_*``;
``registry`` lists each format as a :class:`DatasetFormat`. The synthetic format's reader lives beside
its generator (:mod:`sspd.data.synthetic.reader`: it reads generated folders with the UBFC reader and
renders on the fly) and is registered the same way; nothing in the readers calls back into the registry.

``open_dataset(name, root, **options)`` returns a :class:`RecordList` of
:class:`~sspd.data.records.VideoRecord` (lazy frames, label aligned to the frame times, ``None`` when
unlabeled) whose ``failures`` name the videos that could not be loaded; ``split_subjects`` splits records by
subject. Each format's module docstring documents its layout, subject ids, frame times and metadata.
"""
from sspd.data.readers.loading import LoadFailure, PendingRecord, RecordList
from sspd.data.readers.registry import DatasetFormat, get_format, list_datasets, open_dataset
from sspd.data.readers.splits import NAMED_SPLITS, SubjectSplit, filter_records, split_subjects

__all__ = ["open_dataset", "list_datasets", "get_format", "DatasetFormat", "RecordList", "LoadFailure",
           "PendingRecord", "split_subjects", "SubjectSplit", "NAMED_SPLITS", "filter_records"]
