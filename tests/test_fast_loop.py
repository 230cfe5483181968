"""The fast loop guards itself: every package keeps at least one fast test.

`make test-fast` runs pytest -m "not slow". A package none of whose modules a fast test
imports would silently drop out of that loop — say when its last fast test is marked slow, or
a new subpackage arrives with slow tests only. So: for every package folder under lstm_edge/,
converters/ and runtime/ (installed as lstm_edge.converters and lstm_edge.runtime), some test
that is not marked slow imports one of its modules, in its own body or at the top of its file.

Which tests are fast is pytest's own answer (markers, fixtures that train, slow parameters),
read from this session's items when it collected the whole suite, otherwise from a
`--collect-only -m "not slow"` run; what a test imports is read from its source with `ast`.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
FOLDERS = {"lstm_edge": ROOT / "lstm_edge", "lstm_edge.converters": ROOT / "converters",
           "lstm_edge.runtime": ROOT / "runtime"}


def packages() -> set[str]:
    """Every package folder (one with __init__.py), by its installed name."""
    found = set()
    for name, folder in FOLDERS.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            if "__pycache__" not in rel:
                found.add(".".join((name, *rel)))
    return found


def package_of(module: str, known: set[str]) -> str | None:
    """The innermost package holding `module` (lstm_edge.verify.report → lstm_edge.verify)."""
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in known:
            return ".".join(parts[:k])
    return None


def imported(nodes) -> set[str]:
    """Dotted names imported by these statements (`from a.b import c` gives a.b.c: c may be a module)."""
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


@lru_cache(maxsize=None)
def file_imports(path: Path) -> tuple[frozenset, dict]:
    """(imports at the top of the file, {test function name: imports in its body})."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    top_nodes = [n for stmt in top for n in ast.walk(stmt)]
    bodies = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            bodies[node.name] = frozenset(imported(ast.walk(node)))
    return frozenset(imported(top_nodes)), bodies


def whole_suite_collected(config) -> bool:
    """Whether this session collected every test file (so its items tell fast from slow)."""
    bases = (Path(config.invocation_params.dir), Path(config.rootpath))   # testpaths are relative to the rootdir
    whole = {TESTS, ROOT}
    args = [a.split("::")[0] for a in config.args]
    return (bool(args) and all(any((b / a).resolve() in whole for b in bases) for a in args) and not config.option.keyword
            and config.option.markexpr in ("", "not slow") and not config.getoption("deselect", None))


def fast_tests(request) -> list[tuple[Path, str]]:
    """(file, test function name) of every test not marked slow."""
    if whole_suite_collected(request.config):
        return [(Path(item.path), item.originalname) for item in request.session.items
                if item.get_closest_marker("slow") is None and getattr(item, "originalname", None)]
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow",
                        "-p", "no:cacheprovider", str(TESTS)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    tests = []
    for line in r.stdout.splitlines():
        if "::" in line:
            file, _, rest = line.partition("::")
            tests.append((ROOT / file, rest.split("::")[-1].split("[")[0]))
    return tests


def test_every_package_has_a_fast_test(request):
    known = packages()
    assert {"lstm_edge", "lstm_edge.cli", "lstm_edge.verify", "lstm_edge.converters", "lstm_edge.runtime"} <= known
    touched: dict[str, set[str]] = {p: set() for p in known}
    tests = fast_tests(request)
    assert len(tests) > 50, f"only {len(tests)} fast tests collected"
    for path, name in tests:
        top, bodies = file_imports(path)
        for module in top | bodies.get(name, frozenset()):
            package = package_of(module, known)
            if package:
                touched[package].add(f"{path.name}::{name}")
    untouched = sorted(p for p, t in touched.items() if not t)
    assert not untouched, (f"no fast test imports a module of {untouched}: add one (tests/test_<stage>.py), "
                           "or the package drops out of `make test-fast`")


def test_the_guard_sees_imports_and_packages():
    """The pieces the guard relies on, on known inputs: a guard that cannot see would always pass."""
    known = packages()
    assert package_of("lstm_edge.verify.report", known) == "lstm_edge.verify"
    assert package_of("lstm_edge.runtime.Stream", known) == "lstm_edge.runtime"
    assert package_of("lstm_edge.errors", known) == "lstm_edge"
    assert package_of("numpy.testing", known) is None
    top, _ = file_imports(Path(__file__).resolve())
    assert {"ast", "subprocess", "functools.lru_cache"} <= top
    _, units = file_imports(TESTS / "test_byo.py")
    assert "lstm_edge.byo.inspect.inspect" in units["test_inspect_reads_a_users_architecture_without_converting"]
    # nested packages are found, by their installed names; a data folder without __init__.py is none
    assert {"lstm_edge.model", "lstm_edge.bundle", "lstm_edge.bench", "lstm_edge.converters", "lstm_edge.runtime"} <= known
    assert "lstm_edge.data.corpus" not in known and "lstm_edge.tests" not in known
