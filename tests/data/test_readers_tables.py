"""Tolerant label-file parsing: BOMs, CRLF, scientific notation, delimiters; strict on broken rows."""
import numpy as np
import pytest

from sspd.data.readers.tables import read_number_lines, read_table, read_text


def test_read_text_strips_bom_and_normalises_line_endings(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbf1 2\r\n3 4\r\n\r\n")
    assert read_text(path) == "1 2\n3 4\n\n"
    path.write_bytes(b"\xff\xfe" + "1 2\r\n".encode("utf-16-le"))
    assert read_text(path) == "1 2\n"


def test_number_lines_accept_real_world_noise(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_bytes(b"\xef\xbb\xbf  1.5e+02\t -2E-3   7 \r\n\r\n3,4,5\r\n\n\n")
    rows = read_number_lines(path)
    assert len(rows) == 2
    np.testing.assert_array_equal(rows[0], [150.0, -0.002, 7.0])
    np.testing.assert_array_equal(rows[1], [3.0, 4.0, 5.0])


def test_number_lines_name_file_and_line_of_a_bad_field(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1 2 3\n4 five 6\n")
    with pytest.raises(ValueError, match=r"gt.txt: line 2: 'five' is not a number"):
        read_number_lines(path)
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(ValueError, match="empty.txt: the file is empty"):
        read_number_lines(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="nothere.txt"):
        read_number_lines(tmp_path / "nothere.txt")


@pytest.mark.parametrize("sep", [",", ";", "\t", "  "])
def test_table_delimiters_header_and_columns(tmp_path, sep):
    path = tmp_path / "labels.csv"
    rows = [(0, 1), (0.5, -1), (1, 2)]
    lines = [sep.join(["Time", "PPG"])] + [sep.join([f"{t:.3e}", f"{v}"]) for t, v in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    table = read_table(path)
    assert table.columns == ("Time", "PPG")
    np.testing.assert_array_equal(table.column("time"), [0.0, 0.5, 1.0])  # names match without case
    np.testing.assert_array_equal(table.column(1), [1.0, -1.0, 2.0])


def test_table_without_header_empty_fields_and_errors(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("0,1\n1,\n2,3\n")
    table = read_table(path)
    assert table.columns is None
    assert np.isnan(table.values[1, 1]) and table.values[2, 1] == 3.0  # empty field -> NaN, found later
    with pytest.raises(ValueError, match="x.csv: the file has no header line"):
        table.column("ppg")
    with pytest.raises(ValueError, match="index 5 is out of range"):
        table.column(5)
    path.write_text("t,ppg\n0,1\n1,2,3\n")
    with pytest.raises(ValueError, match="x.csv: line 3 has 3 fields but the first line has 2"):
        read_table(path)
    path.write_text("t,ppg\n0,1\n")
    with pytest.raises(ValueError, match=r"no column named 'wave'; the header has \['t', 'ppg'\]"):
        read_table(path).column("wave")
    path.write_text("t,ppg\n")
    with pytest.raises(ValueError, match="x.csv: the file has a header but no data rows"):
        read_table(path)
