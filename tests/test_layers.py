"""The package layout is the architecture: check it from the source (no imports executed).

Layers, lowest first: `errors`; `data`, `models`, `store`; `grads`; `train`; `book`;
`papers/*`; `cli`. A module may import its own layer or lower ones, never higher;
the lower layers do not import each other sideways; the book layer reaches the
papers only through `book.registry.discover` (by package name, at run time).
No import cycles, counting imports inside functions too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "cgh_lib"
RANK = {"errors": 0, "data": 1, "models": 1, "store": 1, "grads": 2, "train": 3, "book": 4,
        "papers": 5, "cli": 6, "__main__": 7, "__init__": 0}


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def resolve(name: str) -> str | None:
    """The cgh_lib module an import name refers to (a module, or the module defining a name)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(mod: str) -> set[str]:
    tree = ast.parse(MODULES[mod].read_text())
    is_pkg = MODULES[mod].name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = mod.split(".") if is_pkg else mod.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for n in names:
            if n.startswith("cgh_lib"):
                r = resolve(n)
                if r and r != mod and r != "cgh_lib":
                    out.add(r)
    return out


def layer(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer():
    assert {layer(m) for m in MODULES} <= set(RANK), sorted({layer(m) for m in MODULES} - set(RANK))


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_no_upward_or_sideways_import(mod):
    src = layer(mod)
    for dep in GRAPH[mod]:
        dst = layer(dep)
        assert RANK[dst] <= RANK[src], f"{mod} imports {dep}: layer {src!r} may not import layer {dst!r}"
        if RANK[dst] == RANK[src] and dst != src and src != "papers":
            pytest.fail(f"{mod} imports {dep}: sideways import between layers {src!r} and {dst!r}")


def test_no_import_cycles():
    # cycles between modules; a package's __init__ re-exporting its own submodules is not an edge back
    graph = {m: {d for d in deps if not (MODULES[d].name == "__init__.py" and m.startswith(d + "."))}
             for m, deps in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_registry_names_no_paper():
    """Papers register themselves; the registry finds them by walking `cgh_lib.papers`."""
    src = (PKG / "book" / "registry.py").read_text()
    papers = [p.name for p in (PKG / "papers").iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    assert papers, "no paper packages found"
    for name in papers:
        assert not re.search(rf"\b{name}\b", src), f"book/registry.py names the paper package {name!r}"


def test_checker_catches_an_upward_import(tmp_path, monkeypatch):
    """The checker itself can fail: a data module importing the book layer is flagged."""
    fake = PKG / "data" / "tensors.py"
    monkeypatch.setitem(MODULES, "cgh_lib.data._probe", fake)
    monkeypatch.setitem(GRAPH, "cgh_lib.data._probe", {"cgh_lib.book.registry"})
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        test_no_upward_or_sideways_import("cgh_lib.data._probe")
