"""Every document the code, tests, experiments and docs name is in the repository.

A document reference is a token ending in ``.md`` that has a folder in it (``docs/method.md``) or is
written in capitals (``README.md``). Lower-case bare names such as ``report.md`` are files that commands
write, not documents, and are not checked.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_REFERENCE = re.compile(r"(?<![\w./-])((?:[\w.-]+/)+[\w.-]+\.md|[A-Z][A-Z0-9_-]*\.md)\b")
_SCANNED = ("sspd", "tests", "experiments", "benchmarks", "tools", "docs")
_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".sh", ".cfg", ".toml"}


def _scanned_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "setup.cfg"]
    for folder in _SCANNED:
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in _SUFFIXES and p.is_file()]
    this = Path(__file__).resolve()
    return [p for p in files if p.is_file() and p.resolve() != this]   # this file's examples are not references


def document_references(text: str) -> set[str]:
    """The document paths a text names (see the module docstring)."""
    return {m.group(1) for m in _REFERENCE.finditer(text)}


def _resolves(reference: str, source: Path) -> bool:
    if reference.startswith(("runs/", "RUN_DIR/", "OUT/")):   # outputs a command writes
        return True
    return (ROOT / reference).is_file() or (source.parent / reference).is_file()


def test_the_reference_pattern_finds_paths_and_capitals_only():
    text = "see docs/method.md §4 and README.md; writes report.md, reads ../x/ARCH.md, not notes.txt"
    assert document_references(text) == {"docs/method.md", "README.md", "../x/ARCH.md"}


def test_every_named_document_exists_in_the_repository():
    missing = []
    for path in _scanned_files():
        for reference in document_references(path.read_text(encoding="utf-8", errors="replace")):
            if not _resolves(reference, path):
                missing.append(f"{path.relative_to(ROOT)} names {reference}")
    assert not missing, "documents named but not in the repository:\n" + "\n".join(sorted(missing))


@pytest.mark.parametrize("page", ["method.md", "architecture.md", "data_formats.md", "extending.md"])
def test_the_docs_index_links_every_page(page):
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    assert f"]({page})" in index and (ROOT / "docs" / page).is_file()
