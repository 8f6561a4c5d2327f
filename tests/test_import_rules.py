"""The package rules, read from the code with ast (nothing is imported): everything is imported
under the one installed name `slimtune`; spaces and trackers import nothing of ours; search and
deploy never import each other; no module outside tests imports another package's private (_name)
module or name; benchmarks import only the tests' server launchers (tests/support); and no two
modules import each other, directly or round a longer circle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONCEPTS = {"spaces", "search", "trackers", "deploy"}
LEAVES = {"spaces", "trackers"}
# What benchmarks may take from the tests: the launchers of real servers and clusters.
SHARED_HARNESS = {"support.services", "support.processes"}
SKIPPED = {"tests", ".venv", "build", "docs"}


def module_files(root: Path) -> dict[str, Path]:
    """Installed module name -> file, for the product folders (spaces/x.py -> slimtune.spaces.x)."""
    found = {}
    for folder in [*sorted(CONCEPTS), "slimtune"]:
        for path in (root / folder).rglob("*.py") if (root / folder).is_dir() else []:
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(["slimtune", *parts] if parts[0] != "slimtune" else parts)
            found[name] = path
    return found


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement except those under `if TYPE_CHECKING:` (never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped
    ]


def _concept(module: str) -> str | None:
    """The package of ours `module` belongs to ('search', ..., 'slimtune' for the CLI)."""
    parts = module.split(".")
    if parts[0] != "slimtune":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in CONCEPTS else "slimtune"


def violations(root: Path) -> tuple[list[str], set[tuple[str, str]]]:
    bad, edges = [], set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if SKIPPED & set(rel.parts):
            continue
        top = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for node in _runtime_imports(ast.parse(path.read_text(), str(rel))):
            if isinstance(node, ast.Import):
                imports = [(alias.name, []) for alias in node.names]
            elif node.level == 0 and node.module:
                imports = [(node.module, [alias.name for alias in node.names])]
            else:
                continue
            for module, names in imports:
                head = module.split(".")[0]
                if head in CONCEPTS:
                    bad.append(f"{rel}:{node.lineno} imports {module}: use slimtune.{module}")
                if head in ("tests", "conftest", "support") and not (
                    top == "benchmarks" and module in SHARED_HARNESS
                ):
                    bad.append(f"{rel}:{node.lineno} imports from the tests ({module})")
                concept = _concept(module)
                if concept is None or concept == top:
                    continue
                edges.add((top, concept))
                inner = module.split(".")[1 if concept == "slimtune" else 2 :]
                if any(part.startswith("_") for part in inner):
                    bad.append(f"{rel}:{node.lineno} imports private module {module}")
                bad += [
                    f"{rel}:{node.lineno} imports private name {module}.{n}"
                    for n in names
                    if n.startswith("_")
                ]
    bad += [f"package {a} imports {b}" for a, b in sorted(edges) if a in LEAVES]
    if {("search", "deploy"), ("deploy", "search")} & edges:
        bad.append("search and deploy import each other")
    return bad, edges


def _face(path: Path) -> dict[str, str]:
    """Name -> module it comes from, for a package `__init__.py`'s imports (its face)."""
    face = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                face[alias.asname or alias.name] = node.module
    return face


def module_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports when it runs (at any depth in the file). A name
    taken from a package's face counts as an import of the module that defines it."""
    files = module_files(root)
    faces = {name: _face(path) for name, path in files.items() if path.name == "__init__.py"}

    def target(module: str, name: str | None) -> str | None:
        for _ in range(10):  # follow re-exports (a face that re-exports another face)
            if name is not None and f"{module}.{name}" in files:
                return f"{module}.{name}"
            if name is None or module not in faces or name not in faces[module]:
                return module if module in files else None
            module = faces[module][name]
        return module

    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in _runtime_imports(ast.parse(path.read_text())):
            pairs = (
                [(a.name, None) for a in node.names]
                if isinstance(node, ast.Import)
                else [(node.module, a.name) for a in node.names]
                if node.module and not node.level
                else []
            )
            for module, imported in pairs:
                found = target(module, imported)
                if found and found != name and path.name != "__init__.py":
                    graph[name].add(found)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_rules_hold():
    bad, edges = violations(ROOT)
    assert bad == []
    assert ("slimtune", "search") in edges and ("slimtune", "deploy") in edges  # the rule can see


def test_no_module_imports_itself_round_a_circle():
    graph = module_graph(ROOT)
    assert "slimtune.search.training._trainer" in graph["slimtune.search.execution._task"] or any(
        "training" in m for m in graph["slimtune.search.execution._task"]
    )  # the graph sees
    assert circles(graph) == []


def test_the_checker_finds_a_private_import_a_bare_name_and_a_circle(tmp_path):
    for folder in ("deploy", "search", "spaces"):
        (tmp_path / folder).mkdir()
    (tmp_path / "deploy" / "a.py").write_text("from slimtune.search._data import resolve\n")
    (tmp_path / "search" / "b.py").write_text("import slimtune.deploy\nfrom spaces import x\n")
    (tmp_path / "spaces" / "c.py").write_text("from slimtune.trackers import x\n")
    (tmp_path / "search" / "d.py").write_text("def f():\n    from slimtune.search import e\n")
    (tmp_path / "search" / "e.py").write_text("from slimtune.search.d import f\n")
    bad, _ = violations(tmp_path)
    assert "deploy/a.py:1 imports private module slimtune.search._data" in bad
    assert "search/b.py:2 imports spaces: use slimtune.spaces" in bad
    assert "search and deploy import each other" in bad
    assert "package spaces imports trackers" in bad
    assert circles(module_graph(tmp_path)) == [["slimtune.search.d", "slimtune.search.e"]]
