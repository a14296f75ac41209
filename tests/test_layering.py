"""The dependency direction of docs/architecture.md, checked on the source with ``ast`` (nothing is imported).

    signal <- losses <- {backbones, ssm, ema, augment} <- models <- objectives <- engine <- {infer, eval, diagnostics}
    <- cli; data depends on signal only. Nothing imports upward.

Every import counts: module level and inside functions, ``from x import y`` (an edge to the module
``x.y`` when it is one, else to ``x``), relative imports resolved against the importing file's package,
and lazy-import tables (a string constant naming an ``sspd.`` module, e.g. ``sspd.data``'s ``_LAZY``).

Three checks:

a. No import cycle between files of different top-level units: in the file-level graph (where importing
   ``sspd.a.b`` also runs ``sspd/a/__init__.py``, so that edge is in the graph too) no strongly connected
   component holds files of two units. Cycles inside one unit (a package's ``__init__`` re-exporting its
   submodules) are that unit's own business.
b. Direction: each unit has a rank (``RANKS``); a module imports only its own unit or units of lower rank.
   Of the units of equal rank, only the pairs in ``SIBLING_IMPORTS`` may import one another, one way.
c. No import cycle inside one unit (e.g. between sspd/engine/'s files, its sub-packages' included), in the
   graph of the imports that can run: module level and lazy ones inside functions, not those under
   ``if TYPE_CHECKING:``, and not the implied package ``__init__`` runs (a package re-exporting its
   submodules).
"""
from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sspd"

#: The rank of each top-level unit of sspd (a subpackage, or a module at the package root). A module may
#: import its own unit and units of lower rank only.
RANKS: dict[str, float] = {
    # bottom utilities, importable from anywhere (they import nothing of sspd)
    "sspd": -1,  # sspd/__init__.py: the version and the shape symbols
    "configuration": -1,  # the YAML/dataclass config loader
    "files": -2,  # file helpers (atomic writes): below everything, imports nothing of sspd
    "signal": 0,
    "losses": 1,
    "data": 1,  # readers, cache, windows, generator: signal only
    "baselines": 1,  # training-free methods: signal only
    "backbones": 2,
    "ssm": 2,
    "ema": 2,
    "augment": 2,
    "models": 2.5,  # the network, its heads and input spec, checkpoint reading: backbones, ssm, ema, augment
    "objectives": 3,
    "engine": 4,
    "infer": 5,
    "eval": 5,
    "diagnostics": 5,
    "cli": 6,
    "__main__": 7,  # python -m sspd
}

#: (importer, imported) pairs allowed between units of equal rank. Running a model over a video (infer)
#: is what evaluation and the run-health check build on, never the reverse; eval and diagnostics stay
#: apart.
SIBLING_IMPORTS = {("eval", "infer"), ("diagnostics", "infer")}


@dataclass(frozen=True)
class Import:
    """One edge: ``source`` (a module) imports ``target`` (a module) at ``path:line`` with ``text``."""

    source: str
    target: str
    path: Path
    line: int
    text: str
    implicit: bool = False  # the package __init__ that importing a submodule runs first

    def where(self) -> str:
        note = " (runs the package __init__ first)" if self.implicit else ""
        return f"{self.path.relative_to(PACKAGE.parent)}:{self.line}: {self.text}{note}"


def _module_files() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package __init__)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


MODULES = _module_files()


def unit(module: str) -> str:
    """``sspd.eval.metrics`` -> ``eval``; ``sspd.models.heads`` -> ``models``; ``sspd`` -> ``sspd``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _known(name: str) -> str | None:
    """The longest prefix of ``name`` that is an sspd module."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in MODULES:
            return ".".join(parts)
        parts.pop()
    return None


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = (module if is_package else module.rpartition(".")[0]).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The sspd modules an AST node imports."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = _absolute(node, module, is_package)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("sspd."):
        names = [node.value] if node.value in MODULES else []  # a lazy-import table
    else:
        return []
    return sorted({t for t in map(_known, names) if t is not None and t.startswith("sspd")})


def _parents(module: str) -> list[str]:
    """The packages whose __init__ runs before ``module``: ``sspd.a.b`` -> ``sspd``, ``sspd.a``."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def collect_imports() -> list[Import]:
    """Every import edge between sspd modules (explicit ones, then the implied package __init__ runs)."""
    edges = []
    for module, (path, is_package) in MODULES.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _targets(node, module, is_package):
                text = lines[node.lineno - 1].strip()
                edges.append(Import(module, target, path, node.lineno, text))
                edges += [Import(module, parent, path, node.lineno, text, implicit=True)
                          for parent in _parents(target) if parent != module]
    return [e for e in edges if e.source != e.target]


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(root: str) -> None:
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def _cycle_through(edge: Import, members: set[str], by_source: dict[str, list[Import]]) -> list[Import]:
    """A shortest cycle inside ``members`` that uses ``edge``: edge, then a path from its target back."""
    previous: dict[str, Import | None] = {edge.target: None}
    queue = [edge.target]
    while queue:
        node = queue.pop(0)
        if node == edge.source:
            break
        for nxt in by_source[node]:
            if nxt.target in members and nxt.target not in previous:
                previous[nxt.target] = nxt
                queue.append(nxt.target)
    path, node = [], edge.source
    while previous.get(node) is not None:
        path.append(previous[node])
        node = previous[node].source
    return [edge] + path[::-1]


def find_cross_unit_cycles(edges: list[Import]) -> list[str]:
    """One message per import cycle whose files belong to more than one unit, the cycle spelled out."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    by_source: dict[str, list[Import]] = defaultdict(list)
    for e in edges:
        graph[e.source].add(e.target)
        by_source[e.source].append(e)
    messages = []
    for component in _components(graph):
        units = sorted({unit(m) for m in component})
        if len(units) < 2:
            continue
        members = set(component)
        crossing = min((e for m in component for e in by_source[m]
                        if e.target in members and unit(e.source) != unit(e.target)),
                       key=lambda e: (RANKS.get(unit(e.source), 0) >= RANKS.get(unit(e.target), 0), e.implicit,
                                      e.source, e.line))  # an upward edge first: the one to remove
        steps = "\n".join(f"    {e.source} -> {e.target}   [{e.where()}]"
                          for e in _cycle_through(crossing, members, by_source))
        messages.append(f"import cycle across {', '.join(units)} ({len(component)} files), e.g.:\n{steps}")
    return messages


def find_upward_imports(edges: list[Import]) -> list[str]:
    """One message per explicit import of a unit that is not below the importer's (nor an allowed sibling)."""
    messages = []
    for e in edges:
        low, high = unit(e.target), unit(e.source)
        if e.implicit or low == high:
            continue
        if RANKS[low] < RANKS[high] or (high, low) in SIBLING_IMPORTS:
            continue
        relation = "a sibling of equal rank" if RANKS[low] == RANKS[high] else "above it"
        messages.append(f"{e.where()}\n    {high} (rank {RANKS[high]:g}) imports {low} (rank {RANKS[low]:g}), "
                        f"{relation}: {e.source} -> {e.target}")
    return sorted(set(messages))


def test_every_unit_has_a_rank():
    missing = sorted({unit(m) for m in MODULES} - set(RANKS))
    assert not missing, f"give these top-level units a rank in RANKS (tests/test_layering.py): {missing}"


def test_the_walker_sees_function_level_relative_and_lazy_imports():
    source = ("from .records import VideoRecord\n"
              "def f():\n    from sspd.signal import estimate_hr\n"
              "_LAZY = {'W': 'sspd.data.windows'}\n")
    tree = ast.parse(source)
    found = {t for node in ast.walk(tree) for t in _targets(node, "sspd.data.cache", False)}
    assert found == {"sspd.data.records", "sspd.signal", "sspd.data.windows"}
    assert _absolute(ast.parse("from .. import signal").body[0], "sspd.data.readers", True) == "sspd.data"
    assert _parents("sspd.data.readers.ubfc") == ["sspd", "sspd.data", "sspd.data.readers"]


def test_the_checks_name_upward_imports_sibling_reversals_and_cycles():
    def edge(source: str, target: str, line: int = 1) -> Import:
        return Import(source, target, MODULES[source][0], line, f"import {target}")

    down, up = edge("sspd.eval.metrics", "sspd.signal.hr"), edge("sspd.signal.hr", "sspd.eval.metrics", 7)
    allowed, reversed_ = edge("sspd.eval.plots", "sspd.infer.plots"), edge("sspd.infer.plots", "sspd.eval.plots")
    assert find_upward_imports([down, allowed]) == []
    (message,) = find_upward_imports([up])
    assert message.startswith("sspd/signal/hr.py:7: import sspd.eval.metrics") and "signal (rank 0)" in message
    (message,) = find_upward_imports([reversed_])
    assert "infer (rank 5) imports eval (rank 5), a sibling of equal rank" in message
    (cycle,) = find_cross_unit_cycles([down, up])
    assert "across eval, signal (2 files)" in cycle and "sspd.signal.hr -> sspd.eval.metrics" in cycle


def test_no_import_cycle_between_files_of_different_units():
    cycles = find_cross_unit_cycles(collect_imports())
    assert not cycles, "\n\n".join(cycles)


def test_every_import_points_down_the_layers():
    upward = find_upward_imports(collect_imports())
    assert not upward, f"{len(upward)} import(s) against docs/architecture.md's direction:\n" + "\n".join(upward)


def _run_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that can run: at module level and inside functions (a lazy import runs at
    the first call, and a cycle through it is a cycle still), but not under ``if TYPE_CHECKING:``
    (imports for annotations only, never run)."""
    found, work = [], [tree]
    while work:
        node = work.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            work += node.orelse
        else:
            work += ast.iter_child_nodes(node)
    return sorted(found, key=lambda n: n.lineno)


def collect_run_imports() -> list[Import]:
    """The explicit import edges that can run (:func:`_run_imports`), between modules. The package
    ``__init__`` runs that importing a submodule implies are left out: a package importing its own
    submodules from its ``__init__`` is how packages re-export (an explicit import of the package,
    ``from sspd.engine import X`` inside sspd/engine/, is an edge)."""
    edges = []
    for module, (path, is_package) in MODULES.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in _run_imports(ast.parse(source, str(path))):
            edges += [Import(module, target, path, node.lineno, lines[node.lineno - 1].strip())
                      for target in _targets(node, module, is_package) if target != module]
    return edges


def find_cycles_inside_units(edges: list[Import]) -> list[str]:
    """One message per import cycle among the modules of one unit (e.g. sspd.engine's files and its
    sub-packages'), in the graph of the imports that can run, the cycle spelled out."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    by_source: dict[str, list[Import]] = defaultdict(list)
    for e in edges:
        if unit(e.source) == unit(e.target):
            graph[e.source].add(e.target)
            by_source[e.source].append(e)
    messages = []
    for component in _components(graph):
        if len(component) < 2:
            continue
        members = set(component)
        first = min((e for m in component for e in by_source[m] if e.target in members),
                    key=lambda e: (e.source, e.line))
        steps = "\n".join(f"    {e.source} -> {e.target}   [{e.where()}]"
                          for e in _cycle_through(first, members, by_source))
        messages.append(f"import cycle inside {unit(first.source)} ({len(component)} files: "
                        f"{', '.join(component)}), e.g.:\n{steps}")
    return messages


def test_the_inside_check_names_a_cycle_and_skips_type_checking_imports_only():
    def edge(source: str, target: str, line: int = 1) -> Import:
        return Import(source, target, MODULES[source][0], line, f"import {target}")

    there, back = edge("sspd.engine.loop", "sspd.engine.step"), edge("sspd.engine.step", "sspd.engine.loop", 9)
    (cycle,) = find_cycles_inside_units([there, back])
    assert "inside engine (2 files: sspd.engine.loop, sspd.engine.step)" in cycle
    assert "sspd.engine.step -> sspd.engine.loop   [sspd/engine/step.py:9" in cycle
    assert find_cycles_inside_units([there]) == []
    assert find_cycles_inside_units([edge("sspd.eval.metrics", "sspd.signal.hr"),
                                     edge("sspd.signal.hr", "sspd.eval.metrics")]) == []  # across units: above
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sspd.engine.step import X\n"
                     "else:\n    import sspd.engine.seeding\n"
                     "try:\n    import sspd.engine.data\nexcept ImportError:\n    pass\n"
                     "def f():\n    from sspd.engine.loop import Y\n")
    assert [ast.unparse(node) for node in _run_imports(tree)] == [
        "from typing import TYPE_CHECKING", "import sspd.engine.seeding", "import sspd.engine.data",
        "from sspd.engine.loop import Y"]


def test_no_import_cycle_inside_a_unit():
    cycles = find_cycles_inside_units(collect_run_imports())
    assert not cycles, f"{len(cycles)} import cycle(s) inside one package:\n\n" + "\n\n".join(cycles)
