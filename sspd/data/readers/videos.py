"""Unlabeled layout: any folder of videos or image folders, no labels (what self-supervision needs).

``ROOT`` is searched recursively (``recursive=False``: only its own entries). Every file whose suffix is a
video suffix of the generic reader (.avi, .mp4, .mkv, .mov, .m4v, .mpg, .mpeg, .wmv, .webm; any case) is one
video; every folder that holds image files (.png, .jpg, .jpeg, .bmp, .tif, .tiff) and no video file is one
video of its images in natural order (``frame2`` before ``frame10``). Images that sit beside video files are
not a video (thumbnails, posters). Hidden files and folders (a leading ``.``) are skipped. ``ROOT`` may also
be a single video file or a single image folder. A folder with none of these is an error naming it.

- Subject ids: the path relative to ``ROOT`` without the video suffix, e.g. ``day1/clip2`` (its cache name
  is ``day1-clip2``); when two videos of one folder share a stem (``a.mp4``, ``a.avi``) both keep their
  suffix (``a.mp4``). ``session`` is ``""``. Records come in natural order of their relative paths.
- Frames: videos give ``n_frames`` from the container and frames at i/fps (``fps=`` overrides every
  container's rate); image folders need a rate: ``image_fps=`` (or ``fps=``), else they fail naming it.
- Labels: none (``ppg`` is ``None``); the preprocessing cache marks these videos unlabeled.
- ``metadata``: ``path`` (relative to ``ROOT``), ``width``, ``height``.
"""
from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np

from sspd.data.readers.frames import (IMAGE_SUFFIXES, list_image_files, make_image_source, make_video_source,
                                      natural_key, probe_first_image, probe_video_times)
from sspd.data.readers.generic import VIDEO_SUFFIXES
from sspd.data.readers.loading import PendingRecord
from sspd.data.records import VideoRecord
from sspd.signal import check_fs

__all__ = ["scan_videos", "load_unlabeled_video", "find_videos"]


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def _is_image(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith(".")


def _path_key(path: Path, root: Path) -> tuple:
    """Natural order of a path relative to ``root``, folder by folder."""
    return tuple(natural_key(part) for part in path.relative_to(root).parts)


def find_videos(root: Path, *, recursive: bool = True) -> list[Path]:
    """The video files and image folders under ``root`` (see the module docstring), in natural order.

    Raises:
        FileNotFoundError: no such path. ValueError: nothing that is a video under it.
    """
    if root.is_file():
        if not _is_video(root):
            raise ValueError(f"{root}: not a video file ({', '.join(VIDEO_SUFFIXES)}); pass a video or a folder")
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such video folder")
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")] if recursive else []
        videos = [Path(folder) / f for f in files if _is_video(Path(f))]
        found.extend(p for p in videos if p.is_file())
        if not videos and any(_is_image(f) for f in files):
            found.append(Path(folder))
    if not found:
        where = "under this folder (searched recursively)" if recursive else "in this folder"
        raise ValueError(f"{root}: no video files ({', '.join(s.lstrip('.') for s in VIDEO_SUFFIXES)}) and no "
                         f"image folders {where}; point --videos/root at the folder that holds your recordings")
    return sorted(found, key=lambda p: _path_key(p, root) if p != root else ())


def _subject_ids(paths: list[Path], root: Path) -> list[str]:
    """Relative path without the suffix; with the suffix where two videos of a folder share a stem."""
    def stem_of(path: Path) -> str:
        rel = Path(path.name) if path == root else path.relative_to(root)
        return rel.as_posix() if path.is_dir() else rel.with_suffix("").as_posix()

    stems = [stem_of(p) for p in paths]
    counts = {s: stems.count(s) for s in stems}
    return [stem if counts[stem] == 1 else path.relative_to(root).as_posix() for stem, path in zip(stems, paths)]


def load_unlabeled_video(path: Path, *, subject: str, relative: str, fps: float | None = None,
                         image_fps: float | None = None) -> VideoRecord:
    """Probe one video file or image folder into an unlabeled record (see the module docstring)."""
    if path.is_dir():
        files = list_image_files(path)
        rate = fps if fps is not None else image_fps
        if rate is None:
            raise ValueError(f"{path}: an image folder carries no frame rate; pass image_fps= (Hz), e.g. "
                             "--option image_fps=30")
        height, width = probe_first_image(files[0])
        times = np.arange(len(files), dtype=np.float64) / rate  # (T,)
        frames, size = make_image_source(files), {"width": width, "height": height}
    else:
        info, rate, times = probe_video_times(path, fps=fps)
        frames, size = make_video_source(info.path), {"width": info.width, "height": info.height}
    return VideoRecord(subject=subject, session="", fps=float(rate), frame_times=times, ppg=None, source=path,
                       frames=frames, metadata={"path": relative, **size})


def scan_videos(root: Path, *, recursive: bool = True, fps: float | None = None,
                image_fps: float | None = None) -> list[PendingRecord]:
    """Find the unlabeled videos under ``root`` (see the module docstring).

    Args:
        root: a folder of videos and/or image folders (searched recursively), a video file or an image folder.
        recursive: search sub-folders too (default).
        fps: frame rate that overrides every video container's (and sets the image folders').
        image_fps: frame rate of image folders (they carry none); not needed when there are none.
    """
    for name, value in (("fps", fps), ("image_fps", image_fps)):
        if value is not None:
            check_fs(value, name=name)
    paths = find_videos(root, recursive=recursive)
    pending = []
    for path, subject in zip(paths, _subject_ids(paths, root)):
        relative = path.name if path == root else path.relative_to(root).as_posix()
        load = partial(load_unlabeled_video, path, subject=subject, relative=relative, fps=fps, image_fps=image_fps)
        pending.append(PendingRecord(subject=subject, session="", source=path, load=load,
                                     metadata={"path": relative}))
    return pending
