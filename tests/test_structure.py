"""The package's structure: no import cycle between its modules, no module importing another's private name."""

from __future__ import annotations

import ast
from pathlib import Path

import audiolib

ROOT = Path(audiolib.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(imported module, names)`` for every import in ``path`` (module level and inside functions)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
            found.append((target, names))
            if not node.module:  # from . import x: x may be a module
                found += [(f"{target}.{n}", []) for n in names]
    return [(t, n) for t, n in found if t == "audiolib" or t.startswith("audiolib.")]


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for target, _ in _imports(path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != mod and not mod.startswith(target + "."):
                graph[mod].add(target)
    return graph


def test_no_module_imports_a_private_name_of_another():
    """A private name stays inside its package: ``audiolib.data.esc50`` may use ``audiolib.data._recipes``."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        package = _module_name(path).rpartition(".")[0]
        for target, names in _imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target != package:
                offenders.append(f"{_module_name(path)} imports {private} from {target}")
    assert not offenders, "\n".join(offenders)


def test_no_import_cycles():
    graph = _graph()
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
