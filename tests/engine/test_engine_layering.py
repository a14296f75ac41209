"""The engine imports nothing from the layers built on it (eval, infer, cli): ARCHITECTURE.md's direction."""
from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "sspd" / "engine"
ABOVE = ("sspd.eval", "sspd.cli", "sspd.infer")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def test_no_engine_module_imports_eval_cli_or_infer():
    upward = {f"{p.name}: {name}" for p in ENGINE.glob("*.py") for name in _imports(p) if name.startswith(ABOVE)}
    assert not upward, sorted(upward)


def test_the_online_probe_lives_in_the_engine_and_eval_reexports_it():
    from sspd.engine.online_probe import OnlineProbe
    from sspd.eval.probe import OnlineProbe as reexported

    assert reexported is OnlineProbe
