"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half of one.

Every write goes to a temporary file in the destination's own directory (so the rename never crosses a
file system), is flushed and, by default, fsynced, then renamed over the destination with
``os.replace``; on any error the temporary file is removed and the destination is left as it was.
Temporary names are ``.{name}.<random>{suffix}``: hidden, and recognisable by their suffix (``.tmp``
unless told otherwise), so a tool can clean up what a SIGKILL mid-write left behind. The file gets the
mode a plain ``open(path, "w")`` would give it (0644 under the usual umask 022), not the private 0600 of a
temporary file.

This is the bottom layer of sspd: it imports nothing from the package.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator

__all__ = ["TMP_SUFFIX", "atomic_path", "atomic_write", "atomic_write_bytes", "atomic_write_text",
           "atomic_write_json", "fsync_directory"]

#: Suffix of every temporary file written here unless the caller needs another (e.g. ``.avi`` for cv2).
TMP_SUFFIX = ".tmp"


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename inside ``directory`` durable (POSIX); directories cannot be synced on Windows."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _current_umask() -> int:
    """The process umask, read without changing it where the system says it (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = TMP_SUFFIX, fsync: bool = True,
                sync_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for any writer (``torch.save``, numpy, cv2) to fill.

    On a clean exit the temporary file is fsynced (``fsync=True``) and renamed over ``path``; with
    ``sync_dir=True`` the directory is fsynced too, so the rename itself survives a power cut. On an
    exception the temporary file is removed and ``path`` keeps its old content.

    Args:
        path: the destination; its directory must exist.
        suffix: the temporary file's suffix, e.g. ``".tmp.avi"`` for a writer that picks the format
            from the extension.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)  # the writer opens the path itself
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes it 0600: give it a plain open()'s mode
        yield tmp
        if fsync:
            _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_directory(path.parent)


def atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], *, mode: str = "wb",
                 encoding: str | None = None, fsync: bool = True, sync_dir: bool = False) -> Path:
    """Call ``write(fh)`` on a temporary file opened with ``mode`` and rename it over ``path``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path, fsync=False, sync_dir=sync_dir) as tmp:
        with open(tmp, mode, encoding=encoding) as fh:
            write(fh)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True,
                       sync_dir: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(data), fsync=fsync, sync_dir=sync_dir)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8",
                      fsync: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text), mode="w", encoding=encoding, fsync=fsync)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, fsync: bool = True, **dump_options: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically; ``dump_options`` go to :func:`json.dumps` (indent,
    sort_keys, default). The object is serialised before the temporary file is created, so an object
    that cannot be serialised leaves no file at all."""
    return atomic_write_text(path, json.dumps(obj, **dump_options), fsync=fsync)
