"""No import cycles in the installed package (lstm_edge with its converters and runtime).

Every import statement counts, those deferred into functions too: a cycle hidden by a deferred
import is still a cycle, and it is what made `import lstm_edge.x` order-dependent before. Only
`if TYPE_CHECKING:` blocks are exempt. The walk reads the source folders as pyproject.toml maps
them: lstm_edge/ → lstm_edge, converters/ → lstm_edge.converters, runtime/ → lstm_edge.runtime.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"lstm_edge": "lstm_edge", "converters": "lstm_edge.converters", "runtime": "lstm_edge.runtime"}


def modules() -> dict[str, Path]:
    found = {}
    for folder, name in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [name, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_nodes(body: list[ast.stmt]):
    """Every Import/ImportFrom at any depth (functions, classes, try, with …) except TYPE_CHECKING blocks."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from import_nodes(node.orelse)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    yield from import_nodes([child])
                elif isinstance(child, ast.excepthandler):
                    yield from import_nodes(child.body)


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges = {m: set() for m in mods}
    for m, path in mods.items():
        package = m if path.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in import_nodes(ast.parse(path.read_text()).body):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in mods:            # `from pkg.mod import name` → pkg.mod
                    t = t.rsplit(".", 1)[0] if "." in t else ""
                if t and t != m:
                    edges[m].add(t)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(root: str) -> None:
        def enter(v: str) -> None:
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on_stack.add(v)
            work.append((v, iter(sorted(edges[v]))))

        work: list = []
        enter(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    enter(w)
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_the_whole_package():
    mods = modules()
    assert {"lstm_edge", "lstm_edge.converters.to_onnx", "lstm_edge.runtime.runner", "lstm_edge.cli.export"} <= set(mods)
    edges = graph()
    assert "lstm_edge.runtime.contract" in edges["lstm_edge.runtime.onnxruntime_runner"]
    # deferred imports count: open_runner imports the ORT runner inside the function
    assert "lstm_edge.runtime.onnxruntime_runner" in edges["lstm_edge.runtime.runner"]


def test_the_detector_finds_a_cycle_hidden_in_a_function():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    source = "def f():\n    from lstm_edge.model import spec\nif TYPE_CHECKING:\n    import lstm_edge.files\n"
    found = {n.module or n.names[0].name for n in import_nodes(ast.parse(source).body)}
    assert found == {"lstm_edge.model"}


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)
