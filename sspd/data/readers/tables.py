"""Tolerant parsing of the text label files of rPPG datasets.

Real label files carry byte-order marks, Windows line endings, trailing newlines, runs of spaces or tabs
and scientific notation; all of these parse. What makes a file wrong (a field that is not a number, rows
of unequal length, no data) raises ``ValueError`` naming the file, the line and the problem. Empty fields
and ``nan`` parse to NaN, so that label validation (:func:`sspd.data.records.resample_label`) can reject
a NaN in the column actually used, naming the file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Table", "read_text", "read_number_lines", "read_table"]

_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_SPACE_OR_COMMA = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Table:
    """A parsed CSV: ``columns`` are the header names (``None`` when the file has no header) and
    ``values`` is (N, K) float64, one row per data line, NaN for empty fields."""

    path: Path
    columns: tuple[str, ...] | None
    values: np.ndarray

    def column(self, name: str | int) -> np.ndarray:
        """Return column ``name`` (header name, matched without case, or 0-based index) as (N,) float64."""
        return self.values[:, self.column_index(name)]

    def column_index(self, name: str | int) -> int:
        n_cols = self.values.shape[1]
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            if not -n_cols <= int(name) < n_cols:
                raise ValueError(f"{self.path}: column index {name} is out of range; the file has "
                                 f"{n_cols} columns")
            return int(name) % n_cols
        if self.columns is None:
            raise ValueError(f"{self.path}: the file has no header line, so column {name!r} cannot be "
                             f"found by name; give a 0-based column index (0..{n_cols - 1}) instead")
        wanted = str(name).strip().casefold()
        for i, col in enumerate(self.columns):
            if col.strip().casefold() == wanted:
                return i
        raise ValueError(f"{self.path}: no column named {name!r}; the header has {list(self.columns)}")


def read_text(path: str | Path) -> str:
    """Read a text file whatever its byte-order mark and line endings; lines end in ``\\n``.

    Raises:
        FileNotFoundError: no such file. ValueError: the file cannot be decoded as text.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such label file")
    raw = path.read_bytes()
    encoding = "utf-8"
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            raw, encoding = raw[len(bom):], enc
            break
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # old tools write Windows-1252; the numbers are ASCII either way
    if "\x00" in text:
        raise ValueError(f"{path}: binary content where a text label file was expected")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse_fields(fields: list[str], *, path: Path, line_no: int) -> list[float]:
    values = []
    for field in fields:
        field = field.strip().strip('"').strip("'")
        if field == "":
            values.append(float("nan"))
            continue
        try:
            values.append(float(field))
        except ValueError:
            raise ValueError(f"{path}: line {line_no}: {field!r} is not a number") from None
    return values


def read_number_lines(path: str | Path) -> list[np.ndarray]:
    """Parse every non-empty line of ``path`` as numbers separated by whitespace, commas or semicolons.

    Returns:
        one (N_i,) float64 array per non-empty line, in file order.
    """
    path = Path(path)
    rows = []
    for line_no, line in enumerate(read_text(path).split("\n"), start=1):
        fields = [f for f in _SPACE_OR_COMMA.split(line.strip()) if f]
        if fields:
            rows.append(np.asarray(_parse_fields(fields, path=path, line_no=line_no), dtype=np.float64))
    if not rows:
        raise ValueError(f"{path}: the file is empty")
    return rows


def _split_row(line: str, delimiter: str | None) -> list[str]:
    return line.split(delimiter) if delimiter else line.split()


def _sniff_delimiter(line: str) -> str | None:
    for delimiter in (",", ";", "\t"):
        if delimiter in line:
            return delimiter
    return None  # runs of spaces


def _is_header(fields: list[str]) -> bool:
    for field in fields:
        try:
            float(field.strip().strip('"'))
        except ValueError:
            if field.strip():
                return True
    return False


def read_table(path: str | Path, *, header: bool | None = None) -> Table:
    """Parse a CSV (comma, semicolon, tab or space separated) into a :class:`Table`.

    Args:
        path: the CSV file.
        header: whether the first non-empty line names the columns; ``None`` detects it (a line with
            any field that is not a number is a header).

    Raises:
        FileNotFoundError: no such file. ValueError: no data rows, a non-numeric field, or a row whose
            field count differs from the first row's (the message names the line).
    """
    path = Path(path)
    lines = [(i, ln.strip()) for i, ln in enumerate(read_text(path).split("\n"), start=1) if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: the file is empty")
    delimiter = _sniff_delimiter(lines[0][1] if len(lines) == 1 else lines[1][1])
    first = _split_row(lines[0][1], delimiter)
    has_header = _is_header(first) if header is None else header
    columns = tuple(f.strip().strip('"') for f in first) if has_header else None
    data_lines = lines[1:] if has_header else lines
    if not data_lines:
        raise ValueError(f"{path}: the file has a header but no data rows")
    width = len(first)
    rows = []
    for line_no, line in data_lines:
        fields = _split_row(line, delimiter)
        if len(fields) != width:
            raise ValueError(f"{path}: line {line_no} has {len(fields)} fields but the first line has "
                             f"{width}; the file is truncated or mixes delimiters")
        rows.append(_parse_fields(fields, path=path, line_no=line_no))
    values = np.asarray(rows, dtype=np.float64).reshape(len(rows), width)  # (N, K)
    return Table(path=path, columns=columns, values=values)
