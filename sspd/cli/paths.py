"""Checks of the CLI's output folders, made before any work starts."""
from __future__ import annotations

from pathlib import Path

__all__ = ["check_out_folder"]


def check_out_folder(out: str | Path, flag: str = "--out") -> Path:
    """``out`` as a Path after checking it can be a folder to write into (it is one, or does not exist yet).

    Raises:
        ValueError: ``out``, or a folder above it, is an existing file (naming the flag).
    """
    path = Path(out).expanduser()
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise ValueError(f"{flag} {out}: {part} is an existing file, not a folder; pass a folder (it is "
                             "created when missing)")
        if part.exists():
            break
    return path
