"""Issue 12 §7: runner's packages form no import cycle, and each imports on its own.

The imports are read from the source with ``ast`` (at any depth: an import inside a function is a
dependency too, only a later one), grouped by runner's top-level package or module. A cycle between two
packages means neither can be understood, tested or changed without the other; the few edges that still
close one are listed in ``ALLOWED`` with the reason, and the test fails when one of them is gone, so the
list only shrinks.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[1] / "runner"

#: (importer, imported) package edges that close a cycle, with why they are still there.
ALLOWED: dict[tuple[str, str], str] = {}

#: the stage packages and the entry points their ``__init__`` exports
ENTRY_POINTS = {
    "campaign": "read_campaign",
    "check": "load_campaign",
    "commands": "validate_paths",
    "message": "compile_template",
    "plan": "build_plan",
    "send": "send_plan",
    "sources": "open_source",
}


def _package(module: str) -> str | None:
    """``runner.sources.csvfile`` -> ``sources``; None outside runner."""
    parts = module.split(".")
    if parts[0] != "runner" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    parts = path.relative_to(RUNNER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_edges() -> dict[tuple[str, str], list[str]]:
    """(importer package, imported package) -> where (``file:line``)."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(RUNNER.rglob("*.py")):
        module = _module_name(path)
        source = _package(module)
        if source is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against the importing module's package
                    base = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                    targets = [".".join([*base, node.module or ""]).rstrip(".")]
                elif node.module:
                    targets = [node.module]
                if targets == ["runner"]:  # from runner import sources
                    targets = [f"runner.{alias.name}" for alias in node.names]
            for target in targets:
                imported = _package(target)
                if imported is not None and imported != source:
                    edges[(source, imported)].append(f"{path.relative_to(RUNNER.parent)}:{node.lineno}")
    return edges


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_runner_packages_form_no_import_cycle() -> None:
    edges = import_edges()
    graph: dict[str, set[str]] = defaultdict(set)
    for (source, imported) in edges:
        if (source, imported) not in ALLOWED:
            graph[source].add(imported)
    cycles = _cycles(graph)
    detail = [f"{a} -> {b}: {', '.join(where[:3])}" for cycle in cycles for (a, b), where in sorted(edges.items())
              if a in cycle and b in cycle and (a, b) not in ALLOWED]
    assert not cycles, "import cycles between runner's packages:\n" + "\n".join(detail)


def test_the_allowed_cycle_edges_are_still_needed() -> None:
    edges = import_edges()
    gone = [edge for edge in ALLOWED if edge not in edges]
    assert not gone, f"no longer imported, remove from ALLOWED: {gone}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _top_level_names() -> list[str]:
    names = [p.name for p in RUNNER.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    names += [p.stem for p in RUNNER.glob("*.py") if p.stem not in ("__init__", "__main__")]
    return sorted(names)


def test_every_package_folder_is_a_package() -> None:
    missing = [str(p.relative_to(RUNNER.parent)) for p in RUNNER.rglob("*") if p.is_dir()
               and p.name != "__pycache__" and any(p.glob("*.py")) and not (p / "__init__.py").exists()]
    assert not missing, f"folders of modules without __init__.py (namespace packages by accident): {missing}"


@pytest.mark.parametrize("package", sorted(ENTRY_POINTS))
def test_each_stage_package_exports_its_entry_point(package: str) -> None:
    tree = ast.parse((RUNNER / package / "__init__.py").read_text(encoding="utf-8"))
    exported = next((ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                      and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)), [])
    assert ENTRY_POINTS[package] in exported


@pytest.mark.parametrize("name", _top_level_names())
def test_each_package_imports_alone(name: str) -> None:
    """A fresh interpreter imports ``runner.<name>`` first: an import cycle hidden by import order fails."""
    result = subprocess.run([sys.executable, "-c", f"import runner.{name}"], capture_output=True, text=True,
                            cwd=RUNNER.parent, check=False)
    assert result.returncode == 0, result.stderr


#: the most lines a module may have (issue 12 §5: small modules, one job each)
MAX_MODULE_LINES = 400


def test_no_module_exceeds_the_line_limit() -> None:
    """Issue 12 §5: no module in runner/ over MAX_MODULE_LINES lines (each holds one job; split by job)."""
    modules = sorted(RUNNER.rglob("*.py"))
    assert len(modules) > 100
    sizes = {str(p.relative_to(RUNNER.parent)): len(p.read_text(encoding="utf-8").splitlines()) for p in modules}
    over = {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them by job): {over}"
