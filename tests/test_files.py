"""sspd.files: every write is all or nothing, and leaves no temporary file behind."""
import ast
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from sspd import files
from sspd.files import atomic_path, atomic_write, atomic_write_bytes, atomic_write_json, atomic_write_text


class Boom(RuntimeError):
    pass


def _fail_midway(fh):
    fh.write(b"half of the new conten")
    raise Boom("killed mid-write")


def test_the_new_content_replaces_the_old_and_no_temporary_is_left(tmp_path):
    path = tmp_path / "state.bin"
    path.write_bytes(b"old")
    assert atomic_write_bytes(path, b"new content") == path
    assert path.read_bytes() == b"new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.bin"]


def test_the_old_file_survives_an_exception_in_the_write_function(tmp_path):
    path = tmp_path / "state.bin"
    path.write_bytes(b"old")
    with pytest.raises(Boom):
        atomic_write(path, _fail_midway)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.bin"]


def test_a_failed_first_write_creates_no_file(tmp_path):
    with pytest.raises(Boom):
        atomic_write(tmp_path / "new.bin", _fail_midway)
    assert list(tmp_path.iterdir()) == []


def test_an_object_json_cannot_encode_leaves_the_old_file(tmp_path):
    path = tmp_path / "summary.json"
    atomic_write_json(path, {"step": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"step": object()})
    assert json.loads(path.read_text()) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_json_options_reach_json_dumps(tmp_path):
    path = atomic_write_json(tmp_path / "a.json", {"b": np.float32(0.5), "a": 1}, indent=1, sort_keys=True,
                             default=float)
    assert path.read_text() == '{\n "a": 1,\n "b": 0.5\n}'


def test_text_is_written_in_the_given_encoding(tmp_path):
    path = atomic_write_text(tmp_path / "note.md", "≥ 3.10\n")
    assert path.read_bytes() == "≥ 3.10\n".encode("utf-8")


def test_atomic_path_serves_writers_that_take_a_path(tmp_path):
    path = tmp_path / "weights.pt"
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".weights.pt.") and tmp.name.endswith(".tmp")
        torch.save({"w": torch.arange(3)}, tmp)
        assert not path.exists()  # nothing is visible before the block ends
    assert torch.equal(torch.load(path)["w"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["weights.pt"]


def test_atomic_path_keeps_a_suffix_the_writer_needs_and_cleans_up_on_error(tmp_path):
    path = tmp_path / "video.avi"
    path.write_bytes(b"old video")
    with pytest.raises(Boom):
        with atomic_path(path, suffix=".tmp.avi") as tmp:
            assert tmp.name.endswith(".tmp.avi")
            tmp.write_bytes(b"partial")
            raise Boom
    assert path.read_bytes() == b"old video"
    assert [p.name for p in tmp_path.iterdir()] == ["video.avi"]


@pytest.mark.parametrize("fsync, sync_dir, expected", [(True, False, 1), (False, False, 0), (True, True, 2)])
def test_fsync_runs_exactly_where_asked(tmp_path, monkeypatch, fsync, sync_dir, expected):
    calls = []
    real = os.fsync
    monkeypatch.setattr(files.os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    atomic_write_bytes(tmp_path / "x.bin", b"x", fsync=fsync, sync_dir=sync_dir)
    assert len(calls) == expected


def test_the_module_imports_nothing_from_sspd():
    tree = ast.parse(Path(files.__file__).read_text())
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in modules if m and m.split(".")[0] == "sspd"]


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it after."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_a_plain_open_gives_under_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    with open(tmp_path / "plain.txt", "w") as fh:
        fh.write("x")
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == expected
    written = [atomic_write_text(tmp_path / "a.txt", "x"), atomic_write_bytes(tmp_path / "b.bin", b"x"),
               atomic_write_json(tmp_path / "c.json", {"a": 1})]
    with atomic_path(tmp_path / "d.npy", suffix=".tmp.npy") as tmp:
        np.save(tmp, np.zeros(3))
    written.append(tmp_path / "d.npy")
    assert {p.name: p.stat().st_mode & 0o777 for p in written} == {p.name: expected for p in written}


def test_replacing_a_file_keeps_no_stricter_mode_than_the_umask(tmp_path, umask):
    path = tmp_path / "config.yaml"
    path.write_text("old")
    atomic_write_text(path, "new")
    assert path.stat().st_mode & 0o777 == 0o644
