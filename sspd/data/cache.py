"""The preprocessing cache on disk, and reading it back.

Layout of a cache folder (written by :func:`sspd.data.preprocess.preprocess_dataset`)::

    OUT/
      summary.json              what the last run did: every video done / skipped / failed, and why
      <name>/                   one folder per video (``VideoRecord.name``)
        frames.npy              (T, S, S, 3) uint8 RGB face crops, memory-mapped when read
        label.npy               (T,) float32 PPG at the frame times (absent for an unlabeled video)
        frame_times.npy         (T,) float64 seconds
        boxes.npy               (T, 4) int32 crop box per frame, (x0, y0, x1, y1) in source pixels
        meta_<key>.npy          (T,) float32 per-frame metadata of the reader (e.g. oximeter HR)
        manifest.json           written last: the commit marker (see below)
      .<name>.partial-<id>/     a video being written (renamed to <name>/ when complete)

A video counts as cached only when its ``manifest.json`` exists: it is written, atomically, after the
arrays are complete and renamed into place, so an interrupted run leaves either a partial folder (redone
on the next run) or a complete video. The manifest records what made the arrays: the source (path, size,
mtime, a hash of the label), the crop configuration and its hash, the face-detection statistics, the
frame count, fps and the sspd version, and ``labelled``: false for a video cached without a label (the
``videos`` reader), which self-supervised pretraining reads like any other and commands that score against
labels refuse (:func:`require_labels`). Manifests written before the key existed count as labelled when
they list a ``label`` file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sspd.data.records import VideoRecord
from sspd.files import atomic_write_json

__all__ = ["CACHE_FORMAT", "MANIFEST", "SUMMARY", "ARRAY_FILES", "OWNER_MARK", "CachedVideo", "open_cache",
           "fingerprint_source", "read_manifest", "write_json_atomic", "hash_json", "jsonable", "child_path",
           "remove_video_folder", "arrays_complete", "require_labels", "RUN_CACHE"]

log = logging.getLogger(__name__)

#: Bumped whenever the cache layout or the crop computation changes: older caches are then redone.
CACHE_FORMAT = 1
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
PARTIAL_MARK = ".partial-"
#: Written first into every video folder preprocessing creates: only folders that carry it (or a manifest
#: with a cache format) are ever deleted or replaced.
OWNER_MARK = ".sspd-video"
#: name in the manifest's ``files`` → file name in the video folder
#: The cache folder inside a pretraining run directory (``sspd pretrain --videos DIR`` writes it).
RUN_CACHE = "cache"
ARRAY_FILES = {"frames": "frames.npy", "label": "label.npy", "frame_times": "frame_times.npy",
               "boxes": "boxes.npy"}


def hash_json(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys), as hex."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _file_stats(path: Path) -> dict[str, Any]:
    if path.is_file():
        stat = path.stat()
        return {"kind": "file", "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if path.is_dir():  # an image folder: every file counts
        stats = [p.stat() for p in sorted(path.rglob("*")) if p.is_file()]
        return {"kind": "folder", "files": len(stats), "size": sum(s.st_size for s in stats),
                "mtime_ns": max((s.st_mtime_ns for s in stats), default=0)}
    return {"kind": "virtual"}  # rendered on the fly (synthetic): the label and metadata hashes identify it


def fingerprint_source(record: VideoRecord) -> dict[str, Any]:
    """What identifies a record's input: its source's path, size and mtime, a hash of the aligned label, the
    frame times and the per-frame metadata arrays (which covers the label file), and a hash of the rest of
    the metadata. ``fingerprint`` is the hash of all that; a cached video whose fingerprint differs is
    redone."""
    digest = hashlib.sha256()
    arrays = {"ppg": np.zeros(0) if record.ppg is None else record.ppg, "frame_times": record.frame_times,
              **{k: v for k, v in sorted(record.metadata.items()) if isinstance(v, np.ndarray)}}
    for key, arr in arrays.items():
        digest.update(key.encode() + np.ascontiguousarray(arr).tobytes())
    source = Path(record.source)
    out = {"path": str(source.resolve() if source.exists() else source), **_file_stats(source),
           "label_sha256": digest.hexdigest(), "metadata_sha256": hash_json(jsonable(record.metadata))}
    out["fingerprint"] = hash_json(out)
    return out


def jsonable(value: Any) -> Any:
    """A JSON-safe copy: numpy scalars → numbers, small arrays → lists, paths → str, others → repr.
    Arrays over 64 elements become a short description (the cache stores per-frame ones as .npy)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"<array {value.dtype} {tuple(value.shape)}>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value) if isinstance(value, os.PathLike) else repr(value)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write a cache's JSON (manifest, summary) atomically and fsynced, in the cache's layout (indent 1,
    sorted keys)."""
    atomic_write_json(path, obj, fsync=True, indent=1, sort_keys=True)


def child_path(parent: Path, name: str) -> Path:
    """``parent / name`` after checking that it is a direct child of ``parent``: not ``parent`` itself, not
    above it, not through a symbolic link. Every delete or rename of the cache goes through this.

    Raises:
        ValueError: the name would leave ``parent`` (``..``, a separator, a link elsewhere).
    """
    target = Path(parent) / name
    if (name in ("", ".", "..") or Path(name).name != name or target.is_symlink()
            or target.resolve().parent != Path(parent).resolve()):
        raise ValueError(f"{target}: not a folder directly inside {parent}; sspd refuses to write or delete it")
    return target


def _written_by_sspd(folder: Path) -> bool:
    """Whether ``folder`` is a video folder preprocessing made: it carries :data:`OWNER_MARK`, or a
    manifest with a cache format (caches made before the mark existed)."""
    if (folder / OWNER_MARK).is_file():
        return True
    try:
        manifest = read_manifest(folder)
    except ValueError:
        return False
    return isinstance(manifest, dict) and "format" in manifest and "config_hash" in manifest


def remove_video_folder(parent: Path, name: str) -> None:
    """Delete the video folder ``parent/name`` if it exists, only if preprocessing wrote it; an empty
    folder (a run stopped right after creating it) is removed too.

    Raises:
        ValueError: the folder is outside ``parent`` or was not written by sspd (nothing is deleted; the
            message says to move it away).
    """
    folder = child_path(parent, name)
    if not folder.exists():
        return
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        return
    if not (folder.is_dir() and _written_by_sspd(folder)):
        raise ValueError(f"{folder} exists but was not written by sspd preprocess (no {OWNER_MARK} and no "
                         f"{MANIFEST} with a cache format), so it is left alone: move it out of {parent} "
                         "or choose another --out")
    shutil.rmtree(folder)


def arrays_complete(folder: Path, manifest: dict[str, Any]) -> bool:
    """Whether every array the manifest lists opens and has ``manifest["n_frames"]`` rows (a truncated
    ``frames.npy`` does not)."""
    n_frames = manifest.get("n_frames")
    for name in manifest.get("files", {}).values():
        try:
            arr = np.load(folder / name, mmap_mode="r")
        except (OSError, ValueError) as err:
            log.warning("%s: unreadable (%s); the video is redone", folder / name, err)
            return False
        if arr.ndim == 0 or len(arr) != n_frames:
            log.warning("%s: %s rows but the manifest says %s frames; the video is redone", folder / name,
                        arr.shape[0] if arr.ndim else "no", n_frames)
            return False
    return True


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a cached video folder, or None if it has none (partial or never written).

    Raises:
        ValueError: the manifest exists but is not valid JSON (naming the file).
    """
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: corrupt manifest ({err}); delete the folder and run sspd preprocess "
                         "again") from err


@dataclass
class CachedVideo:
    """One cached video; arrays are opened lazily as read-only memory maps (and not pickled: a copy sent
    to a DataLoader worker reopens them there).

    Attributes:
        name: the folder name (``VideoRecord.name``).
        directory: the video's folder in the cache.
        manifest: the parsed ``manifest.json``.
    """

    name: str
    directory: Path
    manifest: dict[str, Any]
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def fps(self) -> float:
        return float(self.manifest["fps"])

    @property
    def n_frames(self) -> int:
        return int(self.manifest["n_frames"])

    @property
    def subject(self) -> str:
        return str(self.manifest["subject"])

    @property
    def session(self) -> str:
        return str(self.manifest.get("session", ""))

    @property
    def size(self) -> int:
        """S, the side of the square crops."""
        return int(self.manifest["config"]["size"])

    @property
    def enlarge(self) -> str | None:
        """How the face box was enlarged into the crop (:data:`sspd.data.face.ENLARGEMENTS`), None when the
        manifest does not say."""
        value = self.manifest["config"].get("enlarge")
        return value if isinstance(value, str) else None

    @property
    def frames(self) -> np.ndarray:
        """(T, S, S, 3) uint8 RGB face crops (memory-mapped)."""
        return self.array("frames")

    @property
    def labelled(self) -> bool:
        """Whether the video was cached with a label (manifest ``labelled``; older manifests: a label file)."""
        return bool(self.manifest.get("labelled", "label" in self.manifest.get("files", {})))

    @property
    def label(self) -> np.ndarray:
        """(T,) float32 PPG aligned with the frames.

        Raises:
            ValueError: the video was cached without a label."""
        if not self.labelled:
            raise ValueError(f"{self.directory}: this cached video has no label (it was preprocessed from an "
                             "unlabeled video); use a labelled dataset for anything scored against labels")
        return self.array("label")

    @property
    def frame_times(self) -> np.ndarray:
        """(T,) float64 seconds."""
        return self.array("frame_times")

    @property
    def boxes(self) -> np.ndarray:
        """(T, 4) int32 crop boxes (x0, y0, x1, y1) in source-frame pixels."""
        return self.array("boxes")

    def array(self, key: str) -> np.ndarray:
        """A cached array by its key in the manifest's ``files`` (``frames``, ``label``, ``meta_hr``, ...),
        memory-mapped read-only, its length checked against ``n_frames``."""
        if key not in self._arrays:
            files = self.manifest.get("files", {})
            if key not in files:
                raise KeyError(f"{self.directory}: no array {key!r} in this cached video; it has "
                               f"{sorted(files)}")
            path = self.directory / files[key]
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing from the cache; run sspd preprocess again")
            try:
                arr = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as err:
                raise ValueError(f"{path}: cannot be read ({err}); the cache is corrupt or truncated: run "
                                 "sspd preprocess again, which redoes this video") from err
            if len(arr) != self.n_frames:
                raise ValueError(f"{path}: {len(arr)} rows but the manifest says {self.n_frames} frames; "
                                 "the cache is corrupt: delete this folder and run sspd preprocess again")
            self._arrays[key] = arr
        return self._arrays[key]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": {}}


def open_cache(out_dir: str | Path, *, names: list[str] | None = None,
               allow_mixed: bool = False) -> list[CachedVideo]:
    """The complete videos of a cache folder, sorted by name; arrays stay on disk until used.

    Args:
        out_dir: the folder ``sspd preprocess`` wrote.
        names: only these videos (each must exist).
        allow_mixed: accept videos made with different settings (normally the sign of a re-run with new
            settings that was interrupted).

    Raises:
        FileNotFoundError: no such folder, or a requested name is not cached.
        ValueError: no complete video in the folder, a manifest of another cache format, corrupt JSON, or
            videos made with different settings (unless ``allow_mixed``).
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"{out_dir}: no such cache folder; run sspd preprocess --out {out_dir}")
    videos, partial = [], []
    for folder in sorted(p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        manifest = read_manifest(folder)
        if manifest is None:
            partial.append(folder.name)
            continue
        if manifest.get("format") != CACHE_FORMAT:
            raise ValueError(f"{folder / MANIFEST}: cache format {manifest.get('format')}, this sspd reads "
                             f"{CACHE_FORMAT}; run sspd preprocess again to rebuild it")
        videos.append(CachedVideo(name=folder.name, directory=folder, manifest=manifest))
    if partial:
        log.warning("%s: %d incomplete video folders ignored (no manifest; rerun preprocess to finish "
                    "them): %s", out_dir, len(partial), ", ".join(partial))
    videos = _select(videos, names, out_dir)
    if not allow_mixed:
        _check_one_config(videos, out_dir)
    return videos


def _check_one_config(videos: list[CachedVideo], out_dir: Path) -> None:
    groups: dict[str, list[str]] = {}
    for video in videos:
        groups.setdefault(str(video.manifest.get("config_hash")), []).append(video.name)
    if len(groups) > 1:
        listing = "; ".join(f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
                            for names in groups.values())
        raise ValueError(f"{out_dir}: the cached videos were made with {len(groups)} different settings "
                         f"({listing}); finish the interrupted run with sspd preprocess, or pass "
                         "allow_mixed=True")


def _select(videos: list[CachedVideo], names: list[str] | None, out_dir: Path) -> list[CachedVideo]:
    if names is not None:
        by_name = {v.name: v for v in videos}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise FileNotFoundError(f"{out_dir}: not cached: {', '.join(missing)}; cached: "
                                    f"{', '.join(sorted(by_name)) or 'none'}")
        videos = [by_name[n] for n in names]
    if not videos:
        inner = out_dir / RUN_CACHE
        hint = f" (a run directory? its videos are cached in {inner})" if (inner / SUMMARY).is_file() else ""
        raise ValueError(f"{out_dir}: no complete cached video; run sspd preprocess --out {out_dir}{hint}")
    return videos


def require_labels(videos: list[CachedVideo], cache_dir: str | Path, *, command: str) -> None:
    """Refuse, in one line, a cache with unlabeled videos where ``command`` scores against labels.

    Raises:
        ValueError: naming the cache, how many videos are unlabeled and what to add.
    """
    unlabeled = [v.name for v in videos if not v.labelled]
    if unlabeled:
        listed = ", ".join(unlabeled[:3]) + (" ..." if len(unlabeled) > 3 else "")
        raise ValueError(f"{command} needs labels, but {len(unlabeled)} of the {len(videos)} videos of the cache "
                         f"{cache_dir} are unlabeled ({listed}); preprocess a labelled dataset (a reader with "
                         "labels, e.g. --dataset generic with a <stem>.csv of time and PPG per video) and pass "
                         "that cache with --cache")
